import { encodePaymentRequiredHeader } from '@x402/core/http';
import type { PaymentRequired } from '@x402/core/types';
import { describe, expect, it } from 'vitest';

import { parsePaymentRequired, type PaymentOffer } from './offer.js';
import { selectRequirement, type SelectionConstraints } from './select.js';

const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const OTHER_TOKEN = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

type Requirement = PaymentRequired['accepts'][number];

function offerOf(...accepts: Array<Partial<Requirement>>): PaymentOffer {
  const base: Requirement = {
    scheme: 'exact',
    network: 'eip155:31337',
    amount: '10000',
    asset: TOKEN,
    payTo: PAY_TO,
    maxTimeoutSeconds: 300,
    extra: { name: 'Test USD', version: '1' },
  };
  const header = encodePaymentRequiredHeader({
    x402Version: 2,
    resource: { url: 'http://127.0.0.1/data' },
    accepts: accepts.map((overrides) => ({ ...base, ...overrides })),
  });
  return parsePaymentRequired({ header });
}

const constraints: SelectionConstraints = { supportedSchemes: ['exact'], supportedNetworks: ['eip155:31337'] };

describe('selectRequirement', () => {
  it('picks the cheapest acceptable requirement', () => {
    const selection = selectRequirement(offerOf({ amount: '30000' }, { amount: '20000' }, { scheme: 'upto', amount: '1' }), constraints);
    expect(selection.ok && selection.requirement.index).toBe(1);
  });

  it('keeps the seller order on a tie', () => {
    const selection = selectRequirement(offerOf({ payTo: PAY_TO }, { asset: OTHER_TOKEN }), constraints);
    expect(selection.ok && selection.requirement.index).toBe(0);
  });

  it.each([
    ['scheme_not_supported', offerOf({ scheme: 'upto' }), constraints],
    ['network_not_allowed', offerOf({ network: 'eip155:8453' }), constraints],
    ['eip712_domain_missing', offerOf({ extra: {} }), constraints],
    ['asset_not_allowed', offerOf({}), { ...constraints, allowedAssets: [OTHER_TOKEN] }],
    ['payee_not_allowed', offerOf({}), { ...constraints, allowedPayees: [OTHER_TOKEN] }],
    ['price_above_max', offerOf({ amount: '10001' }), { ...constraints, maxAmountAtomic: 10000n }],
  ] as const)('refuses with %s', (code, offer, refusalConstraints) => {
    const selection = selectRequirement(offer, refusalConstraints);
    expect(selection.ok).toBe(false);
    expect(!selection.ok && selection.code).toBe(code);
  });

  it('allows a price equal to the maximum and compares assets case-insensitively', () => {
    const selection = selectRequirement(offerOf({}), {
      ...constraints,
      maxAmountAtomic: 10000n,
      allowedAssets: [TOKEN.toLowerCase()],
    });
    expect(selection.ok).toBe(true);
  });
});
