import { describe, expect, it } from 'vitest';
import type { BudgetCommand, CloseSession, OpenSession, RecordSignature, Release, Reserve } from './commands.js';
import { decide } from './decide.js';
import { DomainError } from './errors.js';
import type { BudgetEvent } from './events.js';
import { evolve } from './evolve.js';
import { EMPTY_POLICY, HISTORY_PER_AGENT_MAX, HISTORY_WINDOW_MS_MAX, type Policy } from './policy.js';
import { CLOSED_PAYMENT_RETENTION_MS, initialOrgState, openSessionCount, remainingMicros, type OrgState } from './state.js';

const AT = '2026-11-25T10:00:00.000Z';
const base = { orgId: 'org-1', actor: 'system', at: AT };

/** Decides and applies each command in turn, as the command handler does. */
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

function openSession(overrides: Partial<OpenSession> = {}): OpenSession {
  return {
    ...base,
    type: 'OpenSession',
    sessionId: 's-1',
    agentId: 'a-1',
    limitMicros: 1_000_000n,
    expiresAt: '2026-11-25T11:00:00.000Z',
    maxPayments: null,
    metadata: {},
    idempotency: null,
    ...overrides,
  };
}

function reserve(intentId: string, amountMicros: bigint, overrides: Partial<Reserve> = {}): Reserve {
  return {
    ...base,
    type: 'Reserve',
    intentId,
    sessionId: 's-1',
    agentId: 'a-1',
    amountMicros,
    amountAtomic: amountMicros,
    asset: '0x0000000000000000000000000000000000000001',
    network: 'eip155:31337',
    payTo: '0x0000000000000000000000000000000000000002',
    resource: 'http://127.0.0.1/data',
    validBefore: '2026-11-25T10:05:00.000Z',
    method: 'GET',
    idempotency: null,
    ...overrides,
  };
}

/** An org with a $5 limit, a team with $3, an agent with $2, and a $1 session. */
function world(limits: { org?: bigint | null; team?: bigint | null; agent?: bigint | null; session?: bigint } = {}, closedRetainedMax?: number): OrgState {
  return run([
    { ...base, type: 'CreateOrg', name: 'Acme', limitMicros: limits.org === undefined ? 5_000_000n : limits.org },
    { ...base, type: 'CreateTeam', teamId: 't-1', name: 'Research', limitMicros: limits.team === undefined ? 3_000_000n : limits.team },
    { ...base, type: 'RegisterAgent', agentId: 'a-1', teamId: 't-1', name: 'crawler', limitMicros: limits.agent === undefined ? 2_000_000n : limits.agent },
    openSession({ limitMicros: limits.session ?? 1_000_000n }),
  ], initialOrgState('org-1', closedRetainedMax)).state;
}

function domainErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('org, team and agent setup', () => {
  it('creates an org once', () => {
    const { state, events } = run([{ ...base, type: 'CreateOrg', name: 'Acme', limitMicros: 5n }]);
    expect(events.map((e) => e.type)).toEqual(['OrgCreated']);
    expect(state.budget.limitMicros).toBe(5n);
    expect(domainErrorCode(() => decide({ ...base, type: 'CreateOrg', name: 'Acme', limitMicros: 5n }, state))).toBe('org_already_exists');
  });

  it('refuses teams, agents and sessions in an org that does not exist', () => {
    const state = initialOrgState('org-1');
    expect(domainErrorCode(() => decide({ ...base, type: 'CreateTeam', teamId: 't', name: 'x', limitMicros: null }, state))).toBe('org_not_found');
    expect(domainErrorCode(() => decide({ ...base, type: 'RegisterAgent', agentId: 'a', teamId: null, name: 'x', limitMicros: null }, state))).toBe(
      'org_not_found',
    );
    expect(domainErrorCode(() => decide(openSession(), state))).toBe('org_not_found');
  });

  it('refuses an agent in an unknown team and duplicate ids', () => {
    const state = world();
    expect(domainErrorCode(() => decide({ ...base, type: 'RegisterAgent', agentId: 'a-2', teamId: 'nope', name: 'x', limitMicros: null }, state))).toBe(
      'team_not_found',
    );
    expect(domainErrorCode(() => decide({ ...base, type: 'RegisterAgent', agentId: 'a-1', teamId: null, name: 'x', limitMicros: null }, state))).toBe(
      'agent_already_exists',
    );
    expect(domainErrorCode(() => decide({ ...base, type: 'CreateTeam', teamId: 't-1', name: 'x', limitMicros: null }, state))).toBe('team_already_exists');
  });

  it('changes a budget with before and after, and does nothing when unchanged', () => {
    const state = world();
    const events = decide({ ...base, type: 'ChangeBudget', level: 'agent', levelId: 'a-1', limitMicros: 7n, period: 'none' }, state);
    expect(events).toEqual([
      { type: 'BudgetChanged', data: { orgId: 'org-1', level: 'agent', levelId: 'a-1', before: { limitMicros: 2_000_000n, period: 'none' }, after: { limitMicros: 7n, period: 'none' } } },
    ]);
    expect(decide({ ...base, type: 'ChangeBudget', level: 'agent', levelId: 'a-1', limitMicros: 2_000_000n, period: 'none' }, state)).toEqual([]);
    expect(domainErrorCode(() => decide({ ...base, type: 'ChangeBudget', level: 'team', levelId: 'nope', limitMicros: 1n, period: 'none' }, state))).toBe('team_not_found');
    expect(domainErrorCode(() => decide({ ...base, type: 'ChangeBudget', level: 'org', levelId: 'org-1', limitMicros: -1n, period: 'none' }, state))).toBe('invalid_command');
  });
});

describe('opening a session', () => {
  it('opens a session under its agent and team', () => {
    const state = world();
    const session = state.sessions.get('s-1');
    expect(session?.teamId).toBe('t-1');
    expect(session?.budget).toMatchObject({ limitMicros: 1_000_000n, reservedMicros: 0n, spentMicros: 0n });
  });

  it('refuses an unknown agent, a duplicate id and a non-positive limit', () => {
    const state = world();
    expect(domainErrorCode(() => decide(openSession({ sessionId: 's-2', agentId: 'ghost' }), state))).toBe('agent_not_found');
    expect(domainErrorCode(() => decide(openSession(), state))).toBe('session_already_exists');
    expect(domainErrorCode(() => decide(openSession({ sessionId: 's-2', limitMicros: 0n }), state))).toBe('invalid_command');
    expect(domainErrorCode(() => decide(openSession({ sessionId: 's-2', maxPayments: 0 }), state))).toBe('invalid_command');
  });

  it('answers a retried Idempotency-Key with no new session, and refuses the key for another request', () => {
    const state = world();
    const claim = { key: 'k-1', requestHash: 'h-1' };
    run([openSession({ sessionId: 's-2', idempotency: claim })], state);
    expect(decide(openSession({ sessionId: 's-3', idempotency: claim }), state)).toEqual([]);
    expect(domainErrorCode(() => decide(openSession({ sessionId: 's-3', idempotency: { key: 'k-1', requestHash: 'other' } }), state))).toBe(
      'idempotency_key_reused',
    );
    expect(state.idempotency.get('a-1\u0000k-1')).toEqual({ kind: 'session', entityId: 's-2', requestHash: 'h-1' });
  });
});

describe('reserving', () => {
  it('holds the amount on every level at once', () => {
    const { state, events } = run([reserve('i-1', 300_000n)], world());
    expect(events.map((e) => e.type)).toEqual(['Reserved']);
    expect(state.sessions.get('s-1')?.budget.reservedMicros).toBe(300_000n);
    expect(state.agents.get('a-1')?.budget.reservedMicros).toBe(300_000n);
    expect(state.teams.get('t-1')?.budget.reservedMicros).toBe(300_000n);
    expect(state.budget.reservedMicros).toBe(300_000n);
  });

  it('accepts a reservation of exactly what is left', () => {
    const { events } = run([reserve('i-1', 1_000_000n)], world());
    expect(events.map((e) => e.type)).toEqual(['Reserved']);
  });

  // Each row makes a different level the tightest and checks that it is the one named.
  it.each([
    ['session', { session: 1_000_000n }, 1_000_001n, 'session_limit_exceeded', 1_000_000n],
    ['agent', { session: 9_000_000n, agent: 500_000n }, 600_000n, 'agent_limit_exceeded', 500_000n],
    ['team', { session: 9_000_000n, agent: 9_000_000n, team: 400_000n }, 500_000n, 'team_limit_exceeded', 400_000n],
    ['org', { session: 9_000_000n, agent: 9_000_000n, team: 9_000_000n, org: 300_000n }, 400_000n, 'org_limit_exceeded', 300_000n],
  ] as const)('refuses at the %s level with the figures', (level, limits, amount, code, limit) => {
    const { state, events } = run([reserve('i-1', amount)], world(limits));
    expect(events).toEqual([
      {
        type: 'LimitExceeded',
        data: expect.objectContaining({ intentId: 'i-1', level, code, limitMicros: limit, requestedMicros: amount, remainingMicros: limit }) as unknown,
      },
    ]);
    expect(state.budget.reservedMicros).toBe(0n);
    expect(state.refusals.get('i-1')?.code).toBe(code);
  });

  it('counts held and spent money against the limit', () => {
    const state = run([reserve('i-1', 400_000n), reserve('i-2', 400_000n)], world()).state;
    run([{ ...base, type: 'RecordSignature', intentId: 'i-1', scheme: 'exact', payer: '0x1', nonce: '0xn', validAfter: '1970-01-01T00:00:00.000Z', validBefore: '2026-11-25T10:05:00.000Z' }], state);
    run([{ ...base, type: 'Settle', intentId: 'i-1', amountAtomic: 400_000n, network: 'eip155:31337', transaction: '0xabc', payer: '0x1' }], state);
    const { events } = run([reserve('i-3', 300_000n)], state);
    expect(events[0]).toMatchObject({ type: 'LimitExceeded', data: { code: 'session_limit_exceeded', remainingMicros: 200_000n } });
  });

  it('refuses in a closed or expired session', () => {
    const state = world();
    const expired = decide(reserve('i-1', 1n, { at: '2026-11-25T11:00:00.000Z' }), state);
    expect(expired[0]).toMatchObject({ type: 'LimitExceeded', data: { code: 'session_expired', level: 'session' } });
    const session = state.sessions.get('s-1');
    if (session === undefined) throw new Error('session missing');
    session.closed = true;
    expect(decide(reserve('i-1', 1n), state)[0]).toMatchObject({ type: 'LimitExceeded', data: { code: 'session_closed' } });
  });

  it('refuses beyond the session maximum number of payments', () => {
    const state = run([openSession({ sessionId: 's-2', maxPayments: 1 })], world()).state;
    const { events } = run([reserve('i-1', 1n, { sessionId: 's-2' }), reserve('i-2', 1n, { sessionId: 's-2' })], state);
    expect(events.map((e) => e.type)).toEqual(['Reserved', 'LimitExceeded']);
  });

  it("treats another agent's session as missing", () => {
    const state = run([{ ...base, type: 'RegisterAgent', agentId: 'a-2', teamId: null, name: 'other', limitMicros: null }], world());
    expect(domainErrorCode(() => decide(reserve('i-1', 1n, { agentId: 'a-2' }), state.state))).toBe('session_not_found');
    expect(domainErrorCode(() => decide(reserve('i-1', 1n, { sessionId: 'nope' }), state.state))).toBe('session_not_found');
  });

  it('refuses a reused intent id and a non-positive amount', () => {
    const state = run([reserve('i-1', 1n)], world()).state;
    expect(domainErrorCode(() => decide(reserve('i-1', 1n), state))).toBe('intent_conflict');
    expect(domainErrorCode(() => decide(reserve('i-2', 0n), state))).toBe('invalid_command');
  });

  it('answers a retried Idempotency-Key with no second reservation, refusals included', () => {
    const claim = { key: 'pay-1', requestHash: 'h' };
    const state = run([reserve('i-1', 100n, { idempotency: claim })], world()).state;
    expect(decide(reserve('i-2', 100n, { idempotency: claim }), state)).toEqual([]);
    expect(domainErrorCode(() => decide(reserve('i-2', 100n, { idempotency: { key: 'pay-1', requestHash: 'x' } }), state))).toBe('idempotency_key_reused');

    const refusedClaim = { key: 'pay-2', requestHash: 'h2' };
    run([reserve('i-3', 9_000_000n, { idempotency: refusedClaim })], state);
    expect(decide(reserve('i-4', 9_000_000n, { idempotency: refusedClaim }), state)).toEqual([]);
    expect(state.budget.reservedMicros).toBe(100n);
  });
});

const sign = (intentId: string, overrides: Partial<RecordSignature> = {}): RecordSignature => ({
  ...base,
  type: 'RecordSignature',
  intentId,
  scheme: 'exact',
  payer: '0xpayer',
  nonce: `0xnonce-${intentId}`,
  validAfter: '1970-01-01T00:00:00.000Z',
  validBefore: '2026-11-25T10:05:00.000Z',
  ...overrides,
});

describe('signing and reporting', () => {
  it('records a signature once; the same authorization again is a retry, another is refused', () => {
    const state = run([reserve('i-1', 100n)], world()).state;
    const { events } = run([sign('i-1')], state);
    expect(events).toEqual([expect.objectContaining({ type: 'PaymentSigned', data: expect.objectContaining({ payer: '0xpayer', nonce: '0xnonce-i-1' }) as unknown })]);
    expect(state.intents.get('i-1')?.status).toBe('signed');
    expect(decide(sign('i-1'), state)).toEqual([]);
    expect(domainErrorCode(() => decide(sign('i-1', { nonce: '0xother' }), state))).toBe('payment_already_signed');
  });

  it('refuses an authorization that outlives the reservation, and signing a refunded payment', () => {
    const state = run([reserve('i-1', 100n), reserve('i-2', 100n)], world()).state;
    expect(domainErrorCode(() => decide(sign('i-1', { validBefore: '2026-11-25T10:05:01.000Z' }), state))).toBe('invalid_command');
    run([{ ...base, type: 'Release', intentId: 'i-2', reason: 'x', proof: { kind: 'never_signed' } }], state);
    expect(domainErrorCode(() => decide(sign('i-2'), state))).toBe('intent_already_refunded');
  });

  it('makes a signed payment unknown when the seller fails after the header was sent', () => {
    const state = run([reserve('i-1', 100n), sign('i-1')], world()).state;
    const report = (intentId: string) => ({ ...base, type: 'ReportOutcome' as const, intentId, outcome: 'unknown' as const, transaction: null, detail: 'seller 502' });
    expect(domainErrorCode(() => decide(report('i-9'), run([reserve('i-9', 1n)], world()).state))).toBe('payment_not_signed');
    run([report('i-1')], state);
    expect(state.intents.get('i-1')?.status).toBe('unknown');
    expect(state.budget.reservedMicros).toBe(100n);
  });

  it('releases a signed payment only with proof that its authorization expired unused', () => {
    const state = run([reserve('i-1', 100n), sign('i-1')], world()).state;
    const release = (proof: Release['proof']): Release => ({ ...base, type: 'Release', intentId: 'i-1', reason: 'expired', proof });
    expect(domainErrorCode(() => decide(release({ kind: 'never_signed' }), state))).toBe('release_not_proven');
    expect(domainErrorCode(() => decide(release({ kind: 'expired_unused', chainTime: '2026-11-25T10:04:59.000Z' }), state))).toBe('release_not_proven');
    const { events } = run([release({ kind: 'expired_unused', chainTime: '2026-11-25T10:05:00.000Z' })], state);
    expect(events[0]).toMatchObject({ type: 'Refunded', data: { amountMicros: 100n } });
    expect(state.budget.reservedMicros).toBe(0n);
  });
});

describe('settling and releasing', () => {
  const settle = (intentId: string, amountAtomic: bigint): BudgetCommand => ({
    ...base,
    type: 'Settle',
    intentId,
    amountAtomic,
    network: 'eip155:31337',
    transaction: '0xtx',
    payer: '0xpayer',
  });

  it('moves a full settlement from reserved to spent on every level', () => {
    const { state, events } = run([reserve('i-1', 250_000n), sign('i-1'), settle('i-1', 250_000n)], world());
    expect(events.map((e) => e.type)).toEqual(['Reserved', 'PaymentSigned', 'Settled']);
    for (const budget of [state.sessions.get('s-1')?.budget, state.agents.get('a-1')?.budget, state.teams.get('t-1')?.budget, state.budget]) {
      expect(budget).toMatchObject({ reservedMicros: 0n, spentMicros: 250_000n });
    }
    expect(state.intents.get('i-1')?.status).toBe('settled');
  });

  it('releases the rest when less was paid than was held', () => {
    const { state, events } = run([reserve('i-1', 300_000n), sign('i-1'), settle('i-1', 100_000n)], world());
    expect(events.slice(2)).toEqual([
      expect.objectContaining({ type: 'Settled', data: expect.objectContaining({ amountMicros: 100_000n, amountAtomic: 100_000n }) as unknown }),
      expect.objectContaining({ type: 'Refunded', data: expect.objectContaining({ amountMicros: 200_000n, reason: 'paid_less' }) as unknown }),
    ]);
    expect(state.budget).toMatchObject({ reservedMicros: 0n, spentMicros: 100_000n });
    expect(remainingMicros(state.sessions.get('s-1')?.budget ?? state.budget)).toBe(900_000n);
  });

  it('refuses to settle more than was held, and settles once', () => {
    const state = run([reserve('i-1', 100n)], world()).state;
    expect(domainErrorCode(() => decide(settle('i-1', 100n), state))).toBe('payment_not_signed');
    run([sign('i-1')], state);
    expect(domainErrorCode(() => decide(settle('i-1', 101n), state))).toBe('settle_exceeds_reserved');
    expect(domainErrorCode(() => decide(settle('nope', 1n), state))).toBe('payment_not_found');
    run([settle('i-1', 100n)], state);
    expect(decide(settle('i-1', 100n), state)).toEqual([]);
    expect(domainErrorCode(() => decide({ ...base, type: 'Release', intentId: 'i-1', reason: 'x', proof: { kind: 'never_signed' } }, state))).toBe('intent_already_settled');
  });

  it('releases a hold in full, once, and never settles it afterwards', () => {
    const { state, events } = run([reserve('i-1', 100n), { ...base, type: 'Release', intentId: 'i-1', reason: 'seller_refused', proof: { kind: 'never_signed' } }], world());
    expect(events[1]).toMatchObject({ type: 'Refunded', data: { amountMicros: 100n, reason: 'seller_refused' } });
    expect(state.budget.reservedMicros).toBe(0n);
    expect(decide({ ...base, type: 'Release', intentId: 'i-1', reason: 'again', proof: { kind: 'never_signed' } }, state)).toEqual([]);
    expect(domainErrorCode(() => decide(settle('i-1', 100n), state))).toBe('intent_already_refunded');
    expect(domainErrorCode(() => decide({ ...base, type: 'Release', intentId: 'nope', reason: 'x', proof: { kind: 'never_signed' } }, state))).toBe('payment_not_found');
  });
});

describe('evolve', () => {
  it('ignores events about things it does not know', () => {
    const state = initialOrgState('org-1');
    const after = evolve(state, {
      type: 'Settled',
      data: { intentId: 'x', sessionId: 'y', agentId: 'z', orgId: 'org-1', amountMicros: 1n, amountAtomic: 1n, network: 'n', transaction: 't', payer: 'p', settledAt: AT },
    });
    expect(after.budget).toEqual({ limitMicros: null, reservedMicros: 0n, spentMicros: 0n, period: 'none', periodKey: '', alerted: { periodKey: '', percents: [] } });
  });
});

describe('policies and periods in decisions', () => {
  const changePolicy = (level: 'org' | 'team' | 'agent', levelId: string, rules: Partial<Policy>, expectedVersion: number | null = null): BudgetCommand => ({
    ...base,
    type: 'ChangePolicy',
    level,
    levelId,
    policy: { ...EMPTY_POLICY, ...rules },
    expectedVersion,
  });

  it('versions a policy and refuses an edit based on a stale version', () => {
    const state = world();
    const { events } = run([changePolicy('agent', 'a-1', { maxPerPaymentMicros: 5n }, 0)], state);
    expect(events[0]).toMatchObject({ type: 'PolicyChanged', data: { version: 1, before: EMPTY_POLICY, after: { maxPerPaymentMicros: 5n } } });
    expect(domainErrorCode(() => decide(changePolicy('agent', 'a-1', { maxPerPaymentMicros: 6n }, 0), state))).toBe('policy_version_mismatch');
    expect(decide(changePolicy('agent', 'a-1', { maxPerPaymentMicros: 6n }, 1), state)[0]).toMatchObject({ data: { version: 2 } });
    expect(domainErrorCode(() => decide(changePolicy('team', 'nope', {}), state))).toBe('team_not_found');
  });

  it('refuses with a policy LimitExceeded naming the level, and records the policy version on Reserved', () => {
    const state = run([changePolicy('team', 't-1', { maxPerPaymentMicros: 50_000n }), changePolicy('org', 'org-1', { deniedDomains: ['evil.example'] })], world()).state;
    const refused = decide(reserve('i-1', 60_000n), state);
    expect(refused[0]).toMatchObject({ type: 'LimitExceeded', data: { level: 'policy', code: 'price_above_max', policySource: 'team:t-1', limitMicros: 50_000n } });
    const accepted = decide(reserve('i-2', 50_000n), state);
    expect(accepted[0]).toMatchObject({ type: 'Reserved', data: { policyVersion: 2 } });
  });

  it('stops a loop after N payments for the same URL, and lets other URLs through', () => {
    const state = run([changePolicy('agent', 'a-1', { loopGuard: { maxPayments: 2, windowSeconds: 60 } })], world()).state;
    const { events } = run([reserve('i-1', 1n), reserve('i-2', 1n), reserve('i-3', 1n), reserve('i-4', 1n, { resource: 'http://127.0.0.1/other' })], state);
    expect(events.map((e) => (e.type === 'LimitExceeded' ? e.data.code : e.type))).toEqual(['Reserved', 'Reserved', 'loop_detected', 'Reserved']);
    // A minute later the window has passed.
    expect(decide(reserve('i-5', 1n, { at: '2026-11-25T10:01:01.000Z' }), state)[0]?.type).toBe('Reserved');
  });

  it('keys the loop guard on the command\'s loop key when it gives one: the same tool with other arguments is another request', () => {
    const state = run([changePolicy('agent', 'a-1', { loopGuard: { maxPayments: 2, windowSeconds: 60 } })], world()).state;
    const tool = { resource: 'http://127.0.0.1/mcp#premium_quote', method: 'MCP' };
    const { events } = run(
      [
        reserve('i-1', 1n, { ...tool, loopKey: 'MCP tool args-A' }),
        reserve('i-2', 1n, { ...tool, loopKey: 'MCP tool args-B' }),
        reserve('i-3', 1n, { ...tool, loopKey: 'MCP tool args-A' }),
        reserve('i-4', 1n, { ...tool, loopKey: 'MCP tool args-A' }),
        // Without a loop key the same resource counts by method and URL, fragment dropped:
        // the two keyed payments above do not count toward it.
        reserve('i-5', 1n, tool),
      ],
      state,
    );
    expect(events.map((e) => (e.type === 'LimitExceeded' ? e.data.code : e.type))).toEqual(['Reserved', 'Reserved', 'Reserved', 'loop_detected', 'Reserved']);
    expect(events[0]).toMatchObject({ type: 'Reserved', data: { loopKey: 'MCP tool args-A' } });
    expect(events[4]?.data).not.toHaveProperty('loopKey');
  });

  it('rebuilds the loop guard from the loop key recorded on Reserved, so a replayed log refuses alike', () => {
    const policy = changePolicy('agent', 'a-1', { loopGuard: { maxPayments: 1, windowSeconds: 60 } });
    const decided = run([policy, reserve('i-1', 1n, { loopKey: 'MCP k' })], world()).events;
    // A fresh state folded from the same events, as a restarted governor has it.
    const replayed = world();
    for (const event of decided) evolve(replayed, event);
    expect(decide(reserve('i-2', 1n, { loopKey: 'MCP k' }), replayed)[0]).toMatchObject({ type: 'LimitExceeded', data: { code: 'loop_detected' } });
    expect(decide(reserve('i-3', 1n, { loopKey: 'MCP other' }), replayed)[0]?.type).toBe('Reserved');
  });

  it('keeps an agent history bounded and the rate guard exact past the history cap', () => {
    const limit = 3_000;
    const state = run(
      [changePolicy('agent', 'a-1', { maxPaymentsPerMinutePerAgent: limit }), openSession({ sessionId: 's-busy', limitMicros: 10n ** 12n })],
      world(),
    ).state;
    // More than the cap, over 10 minutes: the last minute holds 10 % of them, under the limit.
    const count = HISTORY_PER_AGENT_MAX + 2_000;
    const startMs = Date.parse(AT);
    const atOf = (index: number): string => new Date(startMs + Math.floor((index * 600_000) / count)).toISOString();
    const { events } = run(Array.from({ length: count }, (_, index) => reserve(`h-${index}`, 1n, { sessionId: 's-busy', at: atOf(index) })), state);
    expect(events.every((e) => e.type === 'Reserved')).toBe(true);
    const history = state.recentPayments.get('a-1') ?? [];
    expect(history.length).toBeGreaterThanOrEqual(HISTORY_PER_AGENT_MAX);
    expect(history.length).toBeLessThanOrEqual(Math.ceil((HISTORY_PER_AGENT_MAX * 8) / 7) + 1);
    // The limit is reached by as many payments at one instant as it allows, and not one before.
    const burstAt = new Date(startMs + 600_000).toISOString();
    const burst = run(Array.from({ length: limit + 1 }, (_, index) => reserve(`b-${index}`, 1n, { sessionId: 's-busy', at: burstAt })), state).events;
    const firstRefusal = burst.findIndex((e) => e.type === 'LimitExceeded');
    // A tenth of the earlier payments are within the minute before the burst.
    expect(firstRefusal).toBe(limit - Math.round(count / 10) + 1);
    expect(burst[firstRefusal]).toMatchObject({ data: { code: 'rate_limited' } });
  });

  it('forgets payments older than the longest guard window', () => {
    const state = run([openSession({ sessionId: 's-long', limitMicros: 10n ** 12n, expiresAt: '2026-11-28T00:00:00.000Z' })], world()).state;
    const early = Array.from({ length: 100 }, (_, index) => reserve(`e-${index}`, 1n, { sessionId: 's-long' }));
    const laterAt = new Date(Date.parse(AT) + HISTORY_WINDOW_MS_MAX + 1_000).toISOString();
    const later = Array.from({ length: 20 }, (_, index) => reserve(`l-${index}`, 1n, { sessionId: 's-long', at: laterAt, validBefore: '2026-11-26T10:10:00.000Z' }));
    run([...early, ...later], state);
    expect(state.recentPayments.get('a-1')?.map((p) => p.atMs)).toEqual(Array.from({ length: 20 }, () => Date.parse(laterAt)));
  });

  it('starts a daily budget afresh each UTC day, keeping money still held', () => {
    const state = run(
      [
        { ...base, type: 'ChangeBudget', level: 'agent', levelId: 'a-1', limitMicros: 100n, period: 'day' },
        openSession({ sessionId: 's-long', limitMicros: 9_000_000n, expiresAt: '2026-11-28T00:00:00.000Z' }),
      ],
      world(),
    ).state;
    const reserveLong = (intentId: string, amount: bigint, overrides: Partial<Reserve> = {}) => reserve(intentId, amount, { sessionId: 's-long', ...overrides });
    run([reserveLong('i-1', 60n), sign('i-1'), { ...base, type: 'Settle', intentId: 'i-1', amountAtomic: 60n, network: 'n', transaction: '0x', payer: '0x' }], state);
    expect(decide(reserveLong('i-2', 41n), state)[0]).toMatchObject({ type: 'LimitExceeded', data: { code: 'agent_limit_exceeded', remainingMicros: 40n } });
    const nextDay = '2026-11-26T00:00:00.000Z';
    expect(decide(reserveLong('i-2', 100n, { at: nextDay, validBefore: '2026-11-26T00:05:00.000Z' }), state)[0]?.type).toBe('Reserved');
    // The org's lifetime budget does not reset.
    expect(state.budget.spentMicros).toBe(60n);
  });

  it('holds a payment above the approval threshold until an admin approves it', () => {
    const state = run([changePolicy('org', 'org-1', { approvalAboveMicros: 100n, approvalTimeoutSeconds: 60 })], world()).state;
    const { events } = run([reserve('i-1', 500n)], state);
    expect(events[0]).toMatchObject({ type: 'ApprovalRequested', data: { approvalExpiresAt: '2026-11-25T10:01:00.000Z', thresholdMicros: 100n, policySource: 'org' } });
    expect(state.intents.get('i-1')?.status).toBe('awaiting_approval');
    expect(state.budget.reservedMicros).toBe(500n);
    expect(domainErrorCode(() => decide(sign('i-1'), state))).toBe('invalid_command');

    const approved = run([{ ...base, type: 'DecideApproval', intentId: 'i-1', approve: true, reason: 'approved', actor: 'admin:alice' }], state).events;
    expect(approved.map((e) => e.type)).toEqual(['ApprovalGranted', 'Reserved']);
    expect(state.intents.get('i-1')?.status).toBe('reserved');
    // Approval moves no money: it was held from the request on.
    expect(state.budget.reservedMicros).toBe(500n);
    expect(domainErrorCode(() => decide({ ...base, type: 'DecideApproval', intentId: 'i-1', approve: false, reason: 'denied' }, state))).toBe('approval_already_decided');
  });

  it('refuses and releases a payment that is denied, or whose approval comes too late', () => {
    const state = run([changePolicy('org', 'org-1', { approvalAboveMicros: 100n, approvalTimeoutSeconds: 60 })], world()).state;
    run([reserve('i-1', 500n), reserve('i-2', 500n)], state);
    const denied = run([{ ...base, type: 'DecideApproval', intentId: 'i-1', approve: false, reason: 'denied' }], state).events;
    expect(denied).toEqual([
      expect.objectContaining({ type: 'ApprovalDenied', data: expect.objectContaining({ code: 'approval_required', reason: 'denied' }) as unknown }),
      expect.objectContaining({ type: 'Refunded', data: expect.objectContaining({ amountMicros: 500n, reason: 'approval_denied' }) as unknown }),
    ]);
    const late = run([{ ...base, at: '2026-11-25T10:01:00.000Z', type: 'DecideApproval', intentId: 'i-2', approve: true, reason: 'approved' }], state).events;
    expect(late.map((e) => e.type)).toEqual(['ApprovalDenied', 'Refunded']);
    expect(late[0]).toMatchObject({ data: { reason: 'timeout' } });
    expect(state.budget.reservedMicros).toBe(0n);
  });
});

describe('budget alert thresholds', () => {
  const policy = (level: 'org' | 'team' | 'agent', levelId: string, budgetAlertPercents: number[]): BudgetCommand => ({
    ...base,
    type: 'ChangePolicy',
    level,
    levelId,
    policy: { ...EMPTY_POLICY, budgetAlertPercents },
    expectedVersion: null,
  });
  const alertsOf = (events: BudgetEvent[]) =>
    events.flatMap((e) => (e.type === 'BudgetThresholdReached' ? [`${e.data.level}:${e.data.thresholdPercent}:${e.data.usedMicros}`] : []));

  it('raises each threshold once, by the payment that reaches it, on the levels that inherit it', () => {
    // The org's 50 and 80 % apply to every level; the session has $1, the agent $2.
    const state = run([policy('org', 'org-1', [80, 50])], world()).state;
    const { events } = run([reserve('i-1', 400_000n), reserve('i-2', 100_000n), reserve('i-3', 350_000n), reserve('i-4', 50_000n)], state);
    expect(alertsOf(events)).toEqual(['session:50:500000', 'session:80:850000']);
    const crossing = events.find((e) => e.type === 'BudgetThresholdReached');
    expect(crossing).toMatchObject({ data: { levelId: 's-1', limitMicros: 1_000_000n, intentId: 'i-2', periodKey: '' } });
    // A refund and the same amount again crosses nothing new.
    const again = run([{ ...base, type: 'Release', intentId: 'i-3', reason: 'test', proof: { kind: 'never_signed' } }, reserve('i-5', 350_000n)], state).events;
    expect(alertsOf(again)).toEqual([]);
  });

  it('reports every threshold a single payment jumps over, on every level, and none for a refusal', () => {
    const state = run([policy('org', 'org-1', [50, 95])], world({ session: 3_000_000n, agent: 2_000_000n })).state;
    const { events } = run([reserve('i-1', 1_900_000n)], state);
    expect(alertsOf(events)).toEqual(['session:50:1900000', 'agent:50:1900000', 'agent:95:1900000', 'team:50:1900000']);
    expect(alertsOf(run([reserve('i-2', 5_000_000n)], state).events)).toEqual([]);
  });

  it("uses a level's own thresholds before its ancestors'", () => {
    const state = run([policy('org', 'org-1', [90]), policy('agent', 'a-1', [10])], world()).state;
    const { events } = run([reserve('i-1', 250_000n)], state);
    // Agent and session use the agent's 10 %; the team ($3) and org ($5) use the org's 90 %.
    expect(alertsOf(events)).toEqual(['session:10:250000', 'agent:10:250000']);
  });

  it('raises a threshold of a daily budget again the next day, and alerts on money held for approval', () => {
    const state = run(
      [
        { ...base, type: 'ChangeBudget', level: 'agent', levelId: 'a-1', limitMicros: 100n, period: 'day' },
        policy('agent', 'a-1', [80]),
        openSession({ sessionId: 's-long', limitMicros: 9_000_000n, expiresAt: '2026-11-28T00:00:00.000Z' }),
      ],
      world(),
    ).state;
    const on = (intentId: string, at: string) => reserve(intentId, 80n, { sessionId: 's-long', at, validBefore: '2026-11-27T00:00:00.000Z' });
    const first = run([on('i-1', AT), sign('i-1'), { ...base, type: 'Settle', intentId: 'i-1', amountAtomic: 80n, network: 'n', transaction: '0x', payer: '0x' }], state).events;
    expect(first.filter((e) => e.type === 'BudgetThresholdReached').map((e) => e.data)).toEqual([
      expect.objectContaining({ level: 'agent', periodKey: '2026-11-25', usedMicros: 80n }) as unknown,
    ]);
    const nextDay = run([on('i-2', '2026-11-26T09:00:00.000Z')], state).events;
    expect(nextDay.filter((e) => e.type === 'BudgetThresholdReached').map((e) => e.data)).toEqual([
      expect.objectContaining({ level: 'agent', periodKey: '2026-11-26', usedMicros: 80n }) as unknown,
    ]);

    const held = run([policy('org', 'org-1', [50]), { ...base, type: 'ChangePolicy', level: 'team', levelId: 't-1', policy: { ...EMPTY_POLICY, approvalAboveMicros: 1n }, expectedVersion: null }], world()).state;
    const requested = run([reserve('i-9', 600_000n)], held).events;
    expect(requested.map((e) => e.type)).toEqual(['ApprovalRequested', 'BudgetThresholdReached']);
  });

  it('reads policies stored before alerts existed as having no thresholds', () => {
    const { budgetAlertPercents: _absent, ...oldPolicy } = EMPTY_POLICY;
    const state = world();
    evolve(state, { type: 'PolicyChanged', data: { orgId: 'org-1', level: 'org', levelId: 'org-1', version: 1, before: EMPTY_POLICY, after: oldPolicy as Policy } });
    expect(state.policies.get('org')?.policy.budgetAlertPercents).toEqual([]);
    expect(alertsOf(run([reserve('i-1', 1_000_000n)], state).events)).toEqual([]);
  });
});

describe("the paying wallet's funds", () => {
  it('refuses a payment the wallet cannot cover, with what it can still pay, and holds nothing', () => {
    const state = world();
    const refused = decide(reserve('i-1', 10_000n, { amountAtomic: 10_000n, walletAvailableAtomic: 9_999n }), state);
    expect(refused).toEqual([
      expect.objectContaining({ type: 'LimitExceeded', data: expect.objectContaining({ level: 'wallet', code: 'wallet_insufficient_funds', limitMicros: null, remainingMicros: 9_999n }) as unknown }),
    ]);
    expect(decide(reserve('i-2', 10_000n, { amountAtomic: 10_000n, walletAvailableAtomic: 10_000n }), state)[0]?.type).toBe('Reserved');
    // Unknown funding is not checked: the chain still is.
    expect(decide(reserve('i-3', 10_000n, { walletAvailableAtomic: null }), state)[0]?.type).toBe('Reserved');
  });

  it('answers a budget refusal before a wallet one', () => {
    expect(decide(reserve('i-1', 5_000_000n, { walletAvailableAtomic: 0n }), world())[0]).toMatchObject({ data: { code: 'session_limit_exceeded' } });
  });
});

describe('forgetting payments that are over', () => {
  const settle = (intentId: string, at: string = AT): BudgetCommand => ({
    ...base,
    at,
    type: 'Settle',
    intentId,
    amountAtomic: 100n,
    network: 'eip155:31337',
    transaction: '0xtx',
    payer: '0xpayer',
  });
  const laterIso = (ms: number): string => new Date(Date.parse(AT) + ms).toISOString();
  const longSession = openSession({ sessionId: 's-long', limitMicros: 10n ** 12n, expiresAt: '2026-11-27T00:00:00.000Z' });
  const later = (intentId: string, ms: number): Reserve =>
    reserve(intentId, 1n, { sessionId: 's-long', at: laterIso(ms), validBefore: laterIso(ms + 60_000) });

  it('remembers a settled payment for the retention period of payment time, then forgets it', () => {
    const state = run([longSession, reserve('i-1', 100n), sign('i-1'), settle('i-1')], world()).state;
    // Within the hour a repeated Settle is still answered as a retry.
    run([later('i-2', CLOSED_PAYMENT_RETENTION_MS - 1_000)], state);
    expect(state.intents.get('i-1')?.status).toBe('settled');
    expect(decide(settle('i-1'), state)).toEqual([]);
    // The first payment after the hour forgets it; the open one stays.
    run([later('i-3', CLOSED_PAYMENT_RETENTION_MS + 1_000)], state);
    expect(state.intents.has('i-1')).toBe(false);
    expect(state.intents.get('i-2')?.status).toBe('reserved');
    expect(domainErrorCode(() => decide(settle('i-1'), state))).toBe('payment_not_found');
    // Forgetting gives nothing back: the money stays spent.
    expect(state.sessions.get('s-1')?.budget).toMatchObject({ reservedMicros: 0n, spentMicros: 100n });
  });

  it('remembers at most retainedMax closed payments, refusals included, and never an open one', () => {
    const state = run([longSession, reserve('open-1', 1n, { sessionId: 's-long' })], world(undefined, 3)).state;
    const commands: BudgetCommand[] = [];
    for (let index = 0; index < 5; index += 1) commands.push(reserve(`r-${index}`, 2_000_000n), reserve(`p-${index}`, 1n, { sessionId: 's-long' }));
    for (let index = 0; index < 5; index += 1) commands.push({ ...base, type: 'Release', intentId: `p-${index}`, reason: 'x', proof: { kind: 'never_signed' } });
    run(commands, state);
    run([reserve('last', 1n, { sessionId: 's-long' })], state);
    expect([...state.refusals.keys(), ...[...state.intents].filter(([, i]) => i.status === 'refunded').map(([id]) => id)]).toEqual(['p-2', 'p-3', 'p-4']);
    expect(state.intents.get('open-1')?.status).toBe('reserved');
    expect(state.intents.get('last')?.status).toBe('reserved');
  });

  it('forgets the same way when the state is rebuilt from the events', () => {
    const { state, events } = run(
      [longSession, reserve('i-1', 100n), sign('i-1'), settle('i-1'), reserve('x-1', 2_000_000n), later('i-2', CLOSED_PAYMENT_RETENTION_MS + 1)],
      world(),
    );
    const rebuilt = run([], world());
    for (const event of events) evolve(rebuilt.state, event);
    expect([...rebuilt.state.intents.keys()]).toEqual([...state.intents.keys()]);
    expect([...rebuilt.state.refusals.keys()]).toEqual([...state.refusals.keys()]);
    expect(state.intents.has('i-1') || state.refusals.has('x-1')).toBe(false);
  });
});

// Closing sessions, the cap on open sessions per agent, and the request's own maximum price:
// each decided here, so that every governor of an org answers alike.

const open = (sessionId: string, overrides: Partial<OpenSession> = {}): OpenSession => openSession({ sessionId, ...overrides });
const close = (sessionId: string, overrides: Partial<CloseSession> = {}): CloseSession => ({ ...base, type: 'CloseSession', sessionId, agentId: 'a-1', at: '2026-11-25T10:10:00.000Z', ...overrides });

/** The org of `world()` without limits, with a second agent and the $1 session s-1. */
function worldWithTwoAgents(): OrgState {
  const state = world({ org: null, team: null, agent: null });
  run([{ ...base, type: 'RegisterAgent', agentId: 'a-2', teamId: null, name: 'other', limitMicros: null }], state);
  return state;
}

function refusal(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error;
    throw error;
  }
  throw new Error('no DomainError was thrown');
}

describe('closing a session', () => {
  it('records SessionClosed once; a second close changes nothing', () => {
    const { state, events } = run([close('s-1')], worldWithTwoAgents());
    expect(events).toEqual([{ type: 'SessionClosed', data: { sessionId: 's-1', agentId: 'a-1', orgId: 'org-1', closedAt: '2026-11-25T10:10:00.000Z' } }]);
    expect(state.sessions.get('s-1')?.closed).toBe(true);
    expect(decide(close('s-1', { at: '2026-11-25T10:20:00.000Z' }), state)).toEqual([]);
  });

  it('refuses new payments in a closed session with session_closed, recorded as LimitExceeded', () => {
    const { state } = run([close('s-1')], worldWithTwoAgents());
    const [refused] = decide(reserve('i-1', 10_000n, { at: '2026-11-25T10:11:00.000Z' }), state);
    expect(refused).toMatchObject({ type: 'LimitExceeded', data: { code: 'session_closed', level: 'session', limitMicros: 1_000_000n, remainingMicros: 1_000_000n } });
  });

  it('lets a payment under way finish: signed before the close, settled after it', () => {
    const { state } = run([reserve('i-1', 10_000n)], worldWithTwoAgents());
    run(
      [
        { ...base, actor: 'worker:w', type: 'RecordSignature', intentId: 'i-1', scheme: 'exact', payer: '0x1', nonce: '0xn', validAfter: '1970-01-01T00:00:00.000Z', validBefore: '2026-11-25T10:05:00.000Z' },
        close('s-1'),
      ],
      state,
    );
    const { events } = run([{ ...base, actor: 'worker:w', type: 'Settle', intentId: 'i-1', amountAtomic: 10_000n, network: 'eip155:31337', transaction: '0xabc', payer: '0x1' }], state);
    expect(events.map((e) => e.type)).toEqual(['Settled']);
    expect(state.sessions.get('s-1')?.budget).toMatchObject({ reservedMicros: 0n, spentMicros: 10_000n });
  });

  it('answers session_not_found for another agent\'s session and for an unknown one', () => {
    const state = worldWithTwoAgents();
    expect(refusal(() => decide(close('s-1', { agentId: 'a-2' }), state)).code).toBe('session_not_found');
    expect(refusal(() => decide(close('nope'), state)).code).toBe('session_not_found');
    expect(state.sessions.get('s-1')?.closed).toBe(false);
  });
});

describe('the cap on open sessions per agent', () => {
  it('refuses the session beyond the cap with the figures, and counts only this agent', () => {
    const { state } = run([open('s-2', { openSessionsMax: 2 })], worldWithTwoAgents());
    const refused = refusal(() => decide(open('s-3', { openSessionsMax: 2 }), state));
    expect(refused.code).toBe('too_many_open_sessions');
    expect(refused.figures).toEqual({ limit: 2, open: 2 });
    // Another agent of the org has its own count.
    expect(decide(open('s-4', { agentId: 'a-2', openSessionsMax: 2 }), state).map((e) => e.type)).toEqual(['SessionOpened']);
  });

  it('frees a place when a session is closed or has expired', () => {
    const { state } = run([open('s-2', { openSessionsMax: 2 })], worldWithTwoAgents());
    run([close('s-2')], state);
    expect(decide(open('s-3', { openSessionsMax: 2 }), state).map((e) => e.type)).toEqual(['SessionOpened']);
    run([open('s-3', { openSessionsMax: 2 })], state);
    // s-1 and s-3 expire at 11:00; at 11:00 neither is open any more.
    expect(openSessionCount(state, 'a-1', '2026-11-25T10:59:59.999Z')).toBe(2);
    expect(openSessionCount(state, 'a-1', '2026-11-25T11:00:00.000Z')).toBe(0);
    expect(decide(open('s-5', { openSessionsMax: 2, at: '2026-11-25T11:00:00.000Z', expiresAt: '2026-11-25T12:00:00.000Z' }), state).map((e) => e.type)).toEqual(['SessionOpened']);
  });

  it('answers a retry of an opened session first, whatever the count', () => {
    const claim = { key: 'k', requestHash: 'h' };
    const { state } = run([open('s-2', { openSessionsMax: 2, idempotency: claim })], worldWithTwoAgents());
    expect(decide(open('s-9', { openSessionsMax: 2, idempotency: claim }), state)).toEqual([]);
  });

  it('has no cap when none is given', () => {
    const state = worldWithTwoAgents();
    for (let i = 0; i < 50; i++) run([open(`s-x${i}`)], state);
    expect(openSessionCount(state, 'a-1', AT)).toBe(51);
  });

  it('forgets closed and expired sessions as the org\'s payment time passes them', () => {
    const state = worldWithTwoAgents();
    run([open('s-short', { expiresAt: '2026-11-25T10:01:00.000Z' }), close('s-1')], state);
    // A payment at 10:02 moves the org's payment time past s-short's expiry.
    run([open('s-2', { at: '2026-11-25T10:02:00.000Z' }), reserve('i-1', 1n, { sessionId: 's-2', at: '2026-11-25T10:02:00.000Z' })], state);
    run([open('s-3', { at: '2026-11-25T10:03:00.000Z' })], state);
    expect([...(state.openSessionsByAgent.get('a-1') ?? [])].sort()).toEqual(['s-2', 's-3']);
  });
});

describe('the request\'s maximum price', () => {
  it('refuses a price above maxPrice with LimitExceeded at the request level, with limit and requested', () => {
    const { state, events } = run([reserve('i-1', 10_000n, { maxPriceMicros: 5_000n })], worldWithTwoAgents());
    expect(events).toEqual([
      {
        type: 'LimitExceeded',
        data: expect.objectContaining({ intentId: 'i-1', level: 'request', code: 'price_above_max', limitMicros: 5_000n, requestedMicros: 10_000n, remainingMicros: 1_000_000n, policySource: null }) as unknown,
      },
    ]);
    expect(state.sessions.get('s-1')?.budget.reservedMicros).toBe(0n);
  });

  it('reserves a price at or under maxPrice', () => {
    expect(run([reserve('i-1', 5_000n, { maxPriceMicros: 5_000n })], worldWithTwoAgents()).events.map((e) => e.type)).toEqual(['Reserved']);
  });

  it('comes after the policies in their order: a denied domain is reported first', () => {
    const state = worldWithTwoAgents();
    run([{ ...base, actor: 'admin:root', type: 'ChangePolicy', level: 'org', levelId: 'org-1', expectedVersion: null, policy: { ...EMPTY_POLICY, deniedDomains: ['127.0.0.1'] } }], state);
    const [refused] = decide(reserve('i-1', 10_000n, { maxPriceMicros: 5_000n }), state);
    expect(refused).toMatchObject({ type: 'LimitExceeded', data: { code: 'domain_not_allowed', level: 'policy' } });
  });
});
