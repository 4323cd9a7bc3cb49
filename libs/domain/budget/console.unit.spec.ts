import { describe, expect, it } from 'vitest';
import type { BudgetCommand, Reserve } from './commands.js';
import { decide } from './decide.js';
import { DomainError } from './errors.js';
import type { BudgetEvent } from './events.js';
import { evolve } from './evolve.js';
import { EMPTY_POLICY } from './policy.js';
import { initialOrgState, type OrgState } from './state.js';

// The kill switch (FreezeLevel / UnfreezeLevel) and shadow policies (ChangePolicy in shadow
// mode, PromoteShadowPolicy, ShadowRefusal).

const AT = '2026-11-25T10:00:00.000Z';
const base = { orgId: 'org-1', actor: 'admin:alice', at: AT };

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

function world(): OrgState {
  return run([
    { ...base, type: 'CreateOrg', name: 'Acme', limitMicros: null },
    { ...base, type: 'CreateTeam', teamId: 't-1', name: 'Research', limitMicros: null },
    { ...base, type: 'RegisterAgent', agentId: 'a-1', teamId: 't-1', name: 'crawler', limitMicros: null },
    { ...base, type: 'RegisterAgent', agentId: 'a-2', teamId: null, name: 'other', limitMicros: null },
    { ...base, type: 'OpenSession', sessionId: 's-1', agentId: 'a-1', limitMicros: 1_000_000n, expiresAt: '2026-11-25T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null },
    { ...base, type: 'OpenSession', sessionId: 's-2', agentId: 'a-2', limitMicros: 1_000_000n, expiresAt: '2026-11-25T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null },
  ]).state;
}

function reserve(intentId: string, overrides: Partial<Reserve> = {}): Reserve {
  return {
    ...base,
    actor: 'agent:a-1',
    type: 'Reserve',
    intentId,
    sessionId: 's-1',
    agentId: 'a-1',
    amountMicros: 10_000n,
    amountAtomic: 10_000n,
    asset: '0x0000000000000000000000000000000000000001',
    network: 'eip155:31337',
    payTo: '0x0000000000000000000000000000000000000002',
    resource: 'https://api.example.com/data',
    validBefore: '2026-11-25T10:05:00.000Z',
    method: 'GET',
    idempotency: null,
    ...overrides,
  };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('the kill switch', () => {
  it.each([
    ['org', 'org-1'],
    ['team', 't-1'],
    ['agent', 'a-1'],
  ] as const)('freezing the %s refuses the next payment agent_frozen at that level, and unfreezing lets it through', (level, levelId) => {
    const state = world();
    const frozen = run([{ ...base, type: 'FreezeLevel', level, levelId, reason: 'runaway loop' }], state).events;
    expect(frozen).toEqual([{ type: 'Frozen', data: { orgId: 'org-1', level, levelId, reason: 'runaway loop' } }]);
    const refused = run([reserve('p-1')], state).events;
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ type: 'LimitExceeded', data: { code: 'agent_frozen', level, intentId: 'p-1' } });
    const unfrozen = run([{ ...base, type: 'UnfreezeLevel', level, levelId, reason: 'fixed' }], state).events;
    expect(unfrozen).toEqual([{ type: 'Unfrozen', data: { orgId: 'org-1', level, levelId, reason: 'fixed' } }]);
    expect(run([reserve('p-2')], state).events[0]?.type).toBe('Reserved');
  });

  it('refuses a new session under a frozen level, and leaves other agents alone', () => {
    const state = world();
    run([{ ...base, type: 'FreezeLevel', level: 'team', levelId: 't-1', reason: 'audit' }], state);
    const open = { ...base, type: 'OpenSession' as const, sessionId: 's-3', agentId: 'a-1', limitMicros: 1_000n, expiresAt: '2026-11-25T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null };
    expect(codeOf(() => decide(open, state))).toBe('agent_frozen');
    expect(decide({ ...open, agentId: 'a-2' }, state)[0]?.type).toBe('SessionOpened');
    expect(run([reserve('p-9', { sessionId: 's-2', agentId: 'a-2' })], state).events[0]?.type).toBe('Reserved');
  });

  it('lets a payment in flight finish: signing and settlement are not refused', () => {
    const state = world();
    run([reserve('p-1')], state);
    run([{ ...base, type: 'FreezeLevel', level: 'agent', levelId: 'a-1', reason: 'stop' }], state);
    const finished = run(
      [
        { ...base, type: 'RecordSignature', intentId: 'p-1', scheme: 'exact', payer: '0x0000000000000000000000000000000000000003', nonce: '0x01', validAfter: AT, validBefore: '2026-11-25T10:05:00.000Z' },
        { ...base, type: 'Settle', intentId: 'p-1', amountAtomic: 10_000n, network: 'eip155:31337', transaction: '0xabc', payer: '0x0000000000000000000000000000000000000003' },
      ],
      state,
    ).events;
    expect(finished.map((e) => e.type)).toEqual(['PaymentSigned', 'Settled']);
  });

  it('is idempotent: freezing a frozen level or unfreezing a live one records nothing', () => {
    const state = world();
    expect(run([{ ...base, type: 'UnfreezeLevel', level: 'agent', levelId: 'a-1', reason: 'x' }], state).events).toEqual([]);
    run([{ ...base, type: 'FreezeLevel', level: 'agent', levelId: 'a-1', reason: 'x' }], state);
    expect(run([{ ...base, type: 'FreezeLevel', level: 'agent', levelId: 'a-1', reason: 'again' }], state).events).toEqual([]);
  });

  it('refuses to freeze a level that does not exist', () => {
    const state = world();
    expect(codeOf(() => decide({ ...base, type: 'FreezeLevel', level: 'agent', levelId: 'nobody', reason: 'x' }, state))).toBe('agent_not_found');
    expect(codeOf(() => decide({ ...base, type: 'FreezeLevel', level: 'team', levelId: 'nobody', reason: 'x' }, state))).toBe('team_not_found');
    expect(codeOf(() => decide({ ...base, type: 'FreezeLevel', level: 'org', levelId: 'org-2', reason: 'x' }, state))).toBe('org_not_found');
  });
});

describe('shadow policies', () => {
  const strict = { ...EMPTY_POLICY, maxPerPaymentMicros: 5_000n };

  it('decide nothing, and record what they would have refused in the same decision', () => {
    const state = world();
    const edit = run([{ ...base, type: 'ChangePolicy', level: 'agent', levelId: 'a-1', policy: strict, expectedVersion: 0, mode: 'shadow' }], state).events;
    expect(edit[0]).toMatchObject({ type: 'PolicyChanged', data: { mode: 'shadow', version: 1 } });
    expect(state.policies.size).toBe(0);
    const decided = run([reserve('p-1')], state).events;
    expect(decided.map((e) => e.type)).toEqual(['Reserved', 'ShadowRefusal']);
    expect(decided[1]).toEqual({
      type: 'ShadowRefusal',
      data: { intentId: 'p-1', orgId: 'org-1', agentId: 'a-1', sessionId: 's-1', level: 'agent', levelId: 'a-1', code: 'price_above_max', policyVersion: 1, limitMicros: 5_000n, requestedMicros: 10_000n, resource: 'https://api.example.com/data' },
    });
    // A payment the shadow allows records nothing more.
    expect(run([reserve('p-2', { amountMicros: 1_000n, amountAtomic: 1_000n })], state).events.map((e) => e.type)).toEqual(['Reserved']);
  });

  it('have their own version: an enforced ETag does not edit the shadow, nor the other way round', () => {
    const state = world();
    run([{ ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-1', policy: EMPTY_POLICY, expectedVersion: 0 }], state);
    run([{ ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-1', policy: EMPTY_POLICY, expectedVersion: 1 }], state);
    expect(codeOf(() => decide({ ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-1', policy: strict, expectedVersion: 2, mode: 'shadow' }, state))).toBe('policy_version_mismatch');
    expect(decide({ ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-1', policy: strict, expectedVersion: 0, mode: 'shadow' }, state)).toHaveLength(1);
  });

  it('are promoted into force with the shadow ETag, after which they refuse and the shadow is gone', () => {
    const state = world();
    run([{ ...base, type: 'ChangePolicy', level: 'agent', levelId: 'a-1', policy: strict, expectedVersion: null, mode: 'shadow' }], state);
    expect(codeOf(() => decide({ ...base, type: 'PromoteShadowPolicy', level: 'agent', levelId: 'a-1', expectedShadowVersion: 7 }, state))).toBe('policy_version_mismatch');
    const promoted = run([{ ...base, type: 'PromoteShadowPolicy', level: 'agent', levelId: 'a-1', expectedShadowVersion: 1 }], state).events;
    expect(promoted).toEqual([{ type: 'PolicyChanged', data: { orgId: 'org-1', level: 'agent', levelId: 'a-1', version: 1, before: EMPTY_POLICY, after: strict, promotedFromShadowVersion: 1 } }]);
    const decided = run([reserve('p-1')], state).events;
    expect(decided.map((e) => e.type)).toEqual(['LimitExceeded']);
    expect(decided[0]).toMatchObject({ data: { code: 'price_above_max' } });
    expect(codeOf(() => decide({ ...base, type: 'PromoteShadowPolicy', level: 'agent', levelId: 'a-1', expectedShadowVersion: null }, state))).toBe('shadow_policy_not_found');
    // The next shadow edit goes on from the promoted version, so its old ETag never matches again.
    expect(codeOf(() => decide({ ...base, type: 'ChangePolicy', level: 'agent', levelId: 'a-1', policy: strict, expectedVersion: 0, mode: 'shadow' }, state))).toBe('policy_version_mismatch');
    expect(decide({ ...base, type: 'ChangePolicy', level: 'agent', levelId: 'a-1', policy: strict, expectedVersion: 1, mode: 'shadow' }, state)[0]).toMatchObject({ data: { version: 2, mode: 'shadow' } });
  });
});

describe('approvals with a reason', () => {
  it("records the admin's note with the grant or the denial", () => {
    const state = world();
    run([{ ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-1', policy: { ...EMPTY_POLICY, approvalAboveMicros: 1_000n }, expectedVersion: null }], state);
    expect(run([reserve('p-1'), reserve('p-2')], state).events.map((e) => e.type)).toEqual(['ApprovalRequested', 'ApprovalRequested']);
    const granted = run([{ ...base, type: 'DecideApproval', intentId: 'p-1', approve: true, reason: 'approved', note: 'known vendor' }], state).events;
    expect(granted[0]).toEqual({ type: 'ApprovalGranted', data: { intentId: 'p-1', sessionId: 's-1', agentId: 'a-1', orgId: 'org-1', note: 'known vendor' } });
    const denied = run([{ ...base, type: 'DecideApproval', intentId: 'p-2', approve: false, reason: 'denied', note: 'too dear' }], state).events;
    expect(denied[0]).toMatchObject({ type: 'ApprovalDenied', data: { reason: 'denied', note: 'too dear' } });
  });
});
