import { describe, expect, it } from 'vitest';
import { parsePaymentRequired } from '../../../libs/x402/offer.js';
import type { KnownAsset } from '../config.js';
import { payableRequirement } from './payable-requirement.js';

const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const USDC_BASE_SEPOLIA = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const ASSETS: KnownAsset[] = [
  { network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' },
  { network: 'eip155:84532', address: USDC_BASE_SEPOLIA, decimals: 6, symbol: 'USDC' },
];

function offer(...accepts: Record<string, unknown>[]) {
  const requirement = { scheme: 'exact', network: 'eip155:31337', amount: '10000', asset: TOKEN, payTo: PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' } };
  return parsePaymentRequired({ body: { x402Version: 2, resource: { url: 'http://127.0.0.1/data' }, accepts: accepts.map((a) => ({ ...requirement, ...a })) } });
}

/** A v1 body on base-sepolia, as the outside judge sent it. */
const V1_BASE_SEPOLIA = parsePaymentRequired({
  body: {
    x402Version: 1,
    accepts: [{ scheme: 'exact', network: 'base-sepolia', maxAmountRequired: '10000', asset: USDC_BASE_SEPOLIA, payTo: PAY_TO, resource: 'https://api.example.com/x', description: '', maxTimeoutSeconds: 60, extra: { name: 'USDC', version: '2' } }],
  },
});

describe('the requirement this deployment pays', () => {
  it('refuses an offer only on a network the worker has no RPC for, naming what was offered and what is payable', () => {
    const choice = payableRequirement(V1_BASE_SEPOLIA, ASSETS, new Set(['eip155:31337']));
    expect(choice).toEqual({ ok: false, detail: 'the offer has nothing this deployment can pay: no requirement is on a network this deployment pays on (offered: eip155:84532; payable: eip155:31337)' });
  });

  it('pays the payable requirement of an offer that also offers an unpayable one', () => {
    const choice = payableRequirement(offer({ network: 'eip155:84532', asset: USDC_BASE_SEPOLIA, amount: '1' }, { amount: '20000' }), ASSETS, new Set(['eip155:31337']));
    expect(choice.ok && { index: choice.chosen.requirement.index, symbol: choice.chosen.asset.symbol }).toEqual({ index: 1, symbol: 'TUSD' });
  });

  it.each([
    ['an unsigned scheme', offer({ scheme: 'upto' }), /scheme Paybound signs \(offered: upto; signed: exact\)/],
    ['an unknown asset', offer({ asset: PAY_TO }), /asset Paybound knows on its network/],
    ['an asset known only on another network', offer({ asset: USDC_BASE_SEPOLIA }), /asset Paybound knows on its network/],
    ['no EIP-712 domain', offer({ extra: {} }), /EIP-712 domain/],
  ])('refuses %s', (_case, offered, detail) => {
    const choice = payableRequirement(offered, ASSETS, new Set(['eip155:31337', 'eip155:84532']));
    expect(choice.ok).toBe(false);
    expect(!choice.ok && choice.detail).toMatch(detail);
  });

  it('takes the cheapest in USD across decimals, then the seller\'s order', () => {
    const assets: KnownAsset[] = [...ASSETS, { network: 'eip155:31337', address: USDC_BASE_SEPOLIA, decimals: 18, symbol: 'D18' }];
    // 0.01 with 6 decimals against 0.005 with 18 decimals: the second is cheaper though its number is larger.
    const choice = payableRequirement(offer({ amount: '10000' }, { asset: USDC_BASE_SEPOLIA, amount: '5000000000000000' }), assets, new Set(['eip155:31337']));
    expect(choice.ok && choice.chosen.requirement.index).toBe(1);
    const tie = payableRequirement(offer({ amount: '10000' }, { amount: '10000' }), ASSETS, new Set(['eip155:31337']));
    expect(tie.ok && tie.chosen.requirement.index).toBe(0);
  });
});
