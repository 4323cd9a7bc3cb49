import { describe, expect, it } from 'vitest';
import { ATOMIC_AMOUNT_MAX, USD_MICROS_MAX } from '../money.js';
import type { BudgetCommand, Reserve } from './commands.js';
import { decide } from './decide.js';
import { DomainError } from './errors.js';
import { evolve } from './evolve.js';
import { EMPTY_POLICY } from './policy.js';
import { initialOrgState, type OrgState } from './state.js';

// Every amount the domain accepts fits in every store: an event a read model cannot hold
// would stop that read model on it. Beyond the bounds a command is refused, not recorded.

const AT = '2026-11-25T10:00:00.000Z';
const base = { orgId: 'org-1', actor: 'system', at: AT };

function world(): OrgState {
  const state = initialOrgState('org-1');
  const commands: BudgetCommand[] = [
    { ...base, type: 'CreateOrg', name: 'Acme', limitMicros: null },
    { ...base, type: 'RegisterAgent', agentId: 'a-1', teamId: null, name: 'crawler', limitMicros: null },
    { ...base, type: 'OpenSession', sessionId: 's-1', agentId: 'a-1', limitMicros: USD_MICROS_MAX, expiresAt: '2026-11-25T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null },
  ];
  for (const command of commands) for (const event of decide(command, state)) evolve(state, event);
  return state;
}

function reserve(amountMicros: bigint, amountAtomic: bigint): Reserve {
  return {
    ...base,
    type: 'Reserve',
    intentId: 'i-1',
    sessionId: 's-1',
    agentId: 'a-1',
    amountMicros,
    amountAtomic,
    asset: '0x0000000000000000000000000000000000000001',
    network: 'eip155:31337',
    payTo: '0x0000000000000000000000000000000000000002',
    resource: 'http://127.0.0.1/data',
    validBefore: '2026-11-25T10:05:00.000Z',
    method: 'GET',
    idempotency: null,
  };
}

function codeOf(run: () => unknown): string {
  try {
    run();
    return 'accepted';
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
}

describe('amounts are bounded by what every store holds', () => {
  it('reserves up to USD_MICROS_MAX and ATOMIC_AMOUNT_MAX, and refuses one unit more, with no event', () => {
    const state = world();
    expect(decide(reserve(USD_MICROS_MAX, ATOMIC_AMOUNT_MAX), state).map((e) => e.type)).toEqual(['Reserved']);
    expect(codeOf(() => decide(reserve(USD_MICROS_MAX + 1n, 1n), state))).toBe('invalid_command');
    expect(codeOf(() => decide(reserve(1n, ATOMIC_AMOUNT_MAX + 1n), state))).toBe('invalid_command');
    // The 402 of issue 17: 10^30 atomic units of a 6-decimal dollar.
    expect(codeOf(() => decide(reserve(10n ** 30n, 10n ** 30n), state))).toBe('invalid_command');
  });

  it('refuses an amount beyond the bound even where a limit would refuse it, so that no refusal records it', () => {
    const state = world();
    const session = state.sessions.get('s-1');
    if (session === undefined) throw new Error('fixture has no session');
    session.budget.limitMicros = 1n;
    expect(decide(reserve(2n, 2n), state).map((e) => e.type)).toEqual(['LimitExceeded']);
    expect(codeOf(() => decide(reserve(USD_MICROS_MAX + 1n, 1n), state))).toBe('invalid_command');
  });

  it('bounds every limit: org, team, agent, budget changes and sessions', () => {
    const over = USD_MICROS_MAX + 1n;
    expect(codeOf(() => decide({ ...base, type: 'CreateOrg', name: 'x', limitMicros: over }, initialOrgState('org-1')))).toBe('invalid_command');
    expect(codeOf(() => decide({ ...base, type: 'CreateOrg', name: 'x', limitMicros: USD_MICROS_MAX }, initialOrgState('org-1')))).toBe('accepted');
    const state = world();
    expect(codeOf(() => decide({ ...base, type: 'CreateTeam', teamId: 't', name: 't', limitMicros: over }, state))).toBe('invalid_command');
    expect(codeOf(() => decide({ ...base, type: 'RegisterAgent', agentId: 'a-2', teamId: null, name: 'a', limitMicros: over }, state))).toBe('invalid_command');
    expect(codeOf(() => decide({ ...base, type: 'ChangeBudget', level: 'org', levelId: 'org-1', limitMicros: over, period: 'none' }, state))).toBe('invalid_command');
    expect(
      codeOf(() =>
        decide({ ...base, type: 'OpenSession', sessionId: 's-2', agentId: 'a-1', limitMicros: over, expiresAt: '2026-11-25T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null }, state),
      ),
    ).toBe('invalid_command');
  });

  it("bounds a policy's amounts", () => {
    const state = world();
    const change = (policy: typeof EMPTY_POLICY) => () => decide({ ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-1', policy, expectedVersion: null }, state);
    expect(codeOf(change({ ...EMPTY_POLICY, maxPerPaymentMicros: USD_MICROS_MAX + 1n }))).toBe('invalid_command');
    expect(codeOf(change({ ...EMPTY_POLICY, approvalAboveMicros: USD_MICROS_MAX + 1n }))).toBe('invalid_command');
    expect(codeOf(change({ ...EMPTY_POLICY, maxPerPaymentMicros: USD_MICROS_MAX, approvalAboveMicros: USD_MICROS_MAX }))).toBe('accepted');
  });
});
