import { describe, expect, it } from 'vitest';
import type { BudgetCommand, PaymentRail, Reserve } from './commands.js';
import { decide } from './decide.js';
import type { BudgetEvent } from './events.js';
import { evolve } from './evolve.js';
import { initialOrgState, type OrgState } from './state.js';

// The rails' additions to the decider: the chosen option and the rejected ones recorded in
// Reserved, `upto` settling less than its signed maximum, the Permit2 allowance refusal,
// and per-payee charged against authorized in Settled.

const AT = '2026-11-25T10:00:00.000Z';
const base = { orgId: 'org-1', actor: 'system', at: AT };
const PAY_TO = '0x0000000000000000000000000000000000000002';

function run(commands: BudgetCommand[], state: OrgState = initialOrgState('org-1')): { state: OrgState; events: BudgetEvent[] } {
  const events: BudgetEvent[] = [];
  for (const command of commands) {
    for (const event of decide(command, state)) {
      evolve(state, event);
      events.push(event);
    }
  }
  return { state, events };
}

function world(sessionLimitMicros = 1_000_000n): OrgState {
  return run([
    { ...base, type: 'CreateOrg', name: 'Acme', limitMicros: 5_000_000n },
    { ...base, type: 'RegisterAgent', agentId: 'a-1', teamId: null, name: 'crawler', limitMicros: null },
    { ...base, type: 'OpenSession', sessionId: 's-1', agentId: 'a-1', limitMicros: sessionLimitMicros, expiresAt: '2026-11-25T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null },
  ]).state;
}

const uptoRail: PaymentRail = {
  rail: 'x402',
  scheme: 'upto',
  transfer: 'permit2',
  metered: true,
  chosen: { id: 'x402:0', rail: 'x402', scheme: 'upto', transfer: 'permit2', maxAmountAtomic: 100_000n, usdMicros: 100_000n },
  rejected: [{ id: 'mpp:0', rail: 'mpp', scheme: 'charge', method: 'evm', stage: 'ranked', reason: 'more_expensive', detail: 'x402:0 costs less' }],
};

function reserve(intentId: string, amountAtomic: bigint, overrides: Partial<Reserve> = {}): Reserve {
  return {
    ...base,
    type: 'Reserve',
    intentId,
    sessionId: 's-1',
    agentId: 'a-1',
    amountMicros: amountAtomic,
    amountAtomic,
    asset: '0x0000000000000000000000000000000000000001',
    network: 'eip155:31337',
    payTo: PAY_TO,
    resource: 'http://127.0.0.1/upto',
    validBefore: '2026-11-25T10:05:00.000Z',
    method: 'GET',
    idempotency: null,
    ...overrides,
  };
}

const sign = (intentId: string, transfer?: 'eip3009' | 'permit2'): BudgetCommand => ({
  ...base,
  type: 'RecordSignature',
  intentId,
  scheme: 'upto',
  payer: '0xpayer',
  nonce: '0x01',
  validAfter: '1970-01-01T00:00:00.000Z',
  validBefore: '2026-11-25T10:05:00.000Z',
  ...(transfer === undefined ? {} : { transfer }),
});
const settle = (intentId: string, amountAtomic: bigint): BudgetCommand => ({ ...base, type: 'Settle', intentId, amountAtomic, network: 'eip155:31337', transaction: '0xtx', payer: '0xpayer' });

describe('rails in the decider', () => {
  it('records the rail, the chosen option and every rejected one with its reason in Reserved', () => {
    const { events } = run([reserve('i-1', 100_000n, { rail: uptoRail })], world());
    expect(events[0]).toMatchObject({
      type: 'Reserved',
      data: { amountAtomic: 100_000n, rail: 'x402', scheme: 'upto', transfer: 'permit2', metered: true, options: { chosen: uptoRail.chosen, rejected: uptoRail.rejected } },
    });
  });

  it('leaves Reserved as it was for a caller without a rail', () => {
    const { events } = run([reserve('i-1', 100_000n)], world());
    expect(Object.keys(events[0]?.data ?? {})).not.toContain('rail');
    expect(Object.keys(events[0]?.data ?? {})).not.toContain('options');
  });

  it('upto: reserves the maximum 0.10, spends the 0.03 that moved and releases 0.07 in the same decision', () => {
    const state = world();
    run([reserve('i-1', 100_000n, { rail: uptoRail }), sign('i-1', 'permit2')], state);
    expect(state.sessions.get('s-1')?.budget).toMatchObject({ reservedMicros: 100_000n, spentMicros: 0n });
    const settled = decide(settle('i-1', 30_000n), state);
    expect(settled).toEqual([
      { type: 'Settled', data: expect.objectContaining({ amountAtomic: 30_000n, amountMicros: 30_000n, payTo: PAY_TO, authorizedAtomic: 100_000n }) as unknown },
      { type: 'Refunded', data: expect.objectContaining({ amountAtomic: 70_000n, amountMicros: 70_000n, reason: 'paid_less' }) as unknown },
    ]);
    for (const event of settled) evolve(state, event);
    expect(state.sessions.get('s-1')?.budget).toMatchObject({ reservedMicros: 0n, spentMicros: 30_000n });
    expect(state.budget).toMatchObject({ reservedMicros: 0n, spentMicros: 30_000n });
  });

  it('records a Permit2 signature as such, for reconciliation', () => {
    const state = world();
    const { events } = run([reserve('i-1', 100_000n, { rail: uptoRail }), sign('i-1', 'permit2')], state);
    expect(events[1]).toMatchObject({ type: 'PaymentSigned', data: { transfer: 'permit2' } });
    const plain = run([reserve('i-2', 1_000n), sign('i-2')], state).events[1];
    expect(Object.keys(plain?.data ?? {})).not.toContain('transfer');
  });

  it('refuses a Permit2 payment above the wallet allowance, recorded as LimitExceeded at the wallet level', () => {
    const state = world();
    const { events } = run([reserve('i-1', 100_000n, { rail: uptoRail, permit2AllowanceAtomic: 99_999n })], state);
    expect(events).toEqual([{ type: 'LimitExceeded', data: expect.objectContaining({ level: 'wallet', code: 'permit2_allowance_missing', requestedMicros: 100_000n, remainingMicros: 99_999n }) as unknown }]);
    expect(state.sessions.get('s-1')?.budget.reservedMicros).toBe(0n);
    // Enough allowance, or an unknown one, reserves; an EIP-3009 rail ignores the allowance.
    expect(run([reserve('i-2', 100_000n, { rail: uptoRail, permit2AllowanceAtomic: 100_000n })], state).events[0]?.type).toBe('Reserved');
    expect(run([reserve('i-3', 1_000n, { rail: uptoRail, permit2AllowanceAtomic: null })], state).events[0]?.type).toBe('Reserved');
    const mpp: PaymentRail = { ...uptoRail, rail: 'mpp', scheme: 'charge', transfer: 'eip3009', metered: false };
    expect(run([reserve('i-4', 1_000n, { rail: mpp, permit2AllowanceAtomic: 0n })], state).events[0]?.type).toBe('Reserved');
  });
});
