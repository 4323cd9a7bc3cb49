import { describe, expect, it } from 'vitest';
import { decideReconciliation, nextCheckDelayMs, type ChainObservation } from './reconcile.js';

const payment = { amountAtomic: 10_000n, validBeforeSec: 1_000 };
const at = (blockTimeSec: number, authorizationUsed: boolean, transfer: ChainObservation['transfer'] = null): ChainObservation => ({
  blockNumber: 7n,
  blockTimeSec,
  authorizationUsed,
  transfer,
});
const TX = `0x${'ab'.repeat(32)}`;

describe('decideReconciliation', () => {
  it.each([
    ['used with its transfer found → settle', at(500, true, { transaction: TX, amountAtomic: 10_000n }), { kind: 'settle', transaction: TX, amountAtomic: 10_000n }],
    ['used, paid less → settle what moved', at(500, true, { transaction: TX, amountAtomic: 4_000n }), { kind: 'settle', transaction: TX, amountAtomic: 4_000n }],
    ['used after expiry time is still paid → settle', at(5_000, true, { transaction: TX, amountAtomic: 10_000n }), { kind: 'settle', transaction: TX, amountAtomic: 10_000n }],
    ['used, transfer not found → wait, never release', at(5_000, true), { kind: 'wait', reason: 'transaction_not_found' }],
    ['used, more than reserved → wait for a person', at(500, true, { transaction: TX, amountAtomic: 10_001n }), { kind: 'wait', reason: 'transfer_exceeds_reserved' }],
    ['unused before validBefore → wait', at(999, false), { kind: 'wait', reason: 'not_expired' }],
    ['unused at validBefore exactly → release (the token refuses timestamp >= validBefore)', at(1_000, false), { kind: 'release', chainTime: new Date(1_000_000).toISOString() }],
    ['unused after validBefore → release with the chain time', at(1_234, false), { kind: 'release', chainTime: new Date(1_234_000).toISOString() }],
  ] as const)('%s', (_name, observation, expected) => {
    expect(decideReconciliation(payment, observation)).toEqual(expected);
  });

  it('backs off by doubling, capped', () => {
    expect([0, 1, 2, 3, 10, 100].map((attempt) => nextCheckDelayMs(attempt, 250, 2_000))).toEqual([250, 500, 1_000, 2_000, 2_000, 2_000]);
  });
});
