import { describe, expect, it } from 'vitest';
import { privateKeyToAccount } from 'viem/accounts';
import type { Reserved } from '../domain/budget/events.js';
import { decodeBase64Json } from '../x402/encoding.js';
import { deriveNonce } from '../x402/eip3009.js';
import { paymentHeaderFor, planAuthorization, type StoredOffer } from './authorization.js';
import { localSigner } from './signer.js';

const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d' as const;
const wallet = privateKeyToAccount(KEY).address;
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const NOW_SEC = 1_800_000_000;

const requirementRaw = { scheme: 'exact', network: 'eip155:31337', amount: '10000', asset: TOKEN.toLowerCase(), payTo: PAY_TO, maxTimeoutSeconds: 300, extra: { name: 'Test USD', version: '1' } };
const stored: StoredOffer = { x402Version: 2, requirementRaw, resourceRaw: { url: 'http://127.0.0.1/data', mimeType: 'application/json' }, extensions: null };
const reservation = {
  intentId: 'pay_1',
  orgId: 'org',
  sessionId: 'ses',
  agentId: 'agent',
  teamId: null,
  amountMicros: 10_000n,
  amountAtomic: 10_000n,
  asset: TOKEN,
  network: 'eip155:31337',
  payTo: PAY_TO,
  resource: 'http://127.0.0.1/data',
  method: 'GET',
  reservedAt: new Date(NOW_SEC * 1000).toISOString(),
  validBefore: new Date(NOW_SEC * 1000 + 300_500).toISOString(),
  policyVersion: 0,
  idempotencyKey: null,
  requestHash: null,
} satisfies Reserved['data'];

describe('planAuthorization', () => {
  it('signs the reserved terms with the intent-derived nonce, validAfter 0 and the reserved validBefore, identically every time', async () => {
    const planned = planAuthorization(reservation, stored, wallet, NOW_SEC);
    if (!planned.ok) throw new Error(planned.reason);
    expect(planned.plan.nonce).toBe(deriveNonce(wallet, 'pay_1'));
    expect(planned.plan.typedData.message).toMatchObject({ from: wallet, to: PAY_TO, value: 10_000n, validAfter: 0n, validBefore: BigInt(NOW_SEC + 300) });
    const signer = localSigner(KEY);
    const first = paymentHeaderFor(planned.plan, await signer.signTransferAuthorization(planned.plan.typedData));
    const again = planAuthorization(reservation, stored, wallet, NOW_SEC + 5);
    if (!again.ok) throw new Error(again.reason);
    const second = paymentHeaderFor(again.plan, await signer.signTransferAuthorization(again.plan.typedData));
    expect(second).toEqual(first);
    // The seller matches `accepted` by deep equality: the stored requirement is echoed as received.
    const document = decodeBase64Json(first.value, 16_384) as { accepted: unknown; resource: unknown };
    expect(first.name).toBe('PAYMENT-SIGNATURE');
    expect(document.accepted).toEqual(requirementRaw);
    expect(document.resource).toEqual(stored.resourceRaw);
  });

  it.each([
    ['no stored offer', reservation, undefined, 'offer_unknown'],
    ['another payee than reserved', reservation, { ...stored, requirementRaw: { ...requirementRaw, payTo: TOKEN } }, 'offer_mismatch'],
    ['another amount than reserved', { ...reservation, amountAtomic: 9_999n }, stored, 'offer_mismatch'],
    ['no EIP-712 domain', reservation, { ...stored, requirementRaw: { ...requirementRaw, extra: {} } }, 'eip712_domain_missing'],
    ['another scheme', reservation, { ...stored, requirementRaw: { ...requirementRaw, scheme: 'upto' } }, 'scheme_not_supported'],
    ['an unreadable stored offer', reservation, { ...stored, requirementRaw: { ...requirementRaw, amount: '-1' } }, 'offer_invalid'],
    ['too little time left', { ...reservation, validBefore: new Date(NOW_SEC * 1000 + 5_000).toISOString() }, stored, 'expired_before_signing'],
  ] as const)('refuses %s', (_name, reserved, offer, reason) => {
    expect(planAuthorization(reserved, offer, wallet, NOW_SEC)).toEqual({ ok: false, reason });
  });

  it('never prints the key through the signer', () => {
    const signer = localSigner(KEY);
    expect(JSON.stringify({ signer })).not.toContain(KEY.slice(2));
  });
});
