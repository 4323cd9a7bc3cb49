import { describe, expect, it } from 'vitest';
import type { BudgetCommand, CloseSession, OpenSession, Reserve } from './commands.js';
import { decide } from './decide.js';
import { DomainError } from './errors.js';
import type { BudgetEvent } from './events.js';
import { evolve } from './evolve.js';
import { EMPTY_POLICY } from './policy.js';
import { initialOrgState, openSessionCount, type OrgState } from './state.js';

// Closing sessions, the cap on open sessions per agent, and the request's own maximum price:
// each decided here, so that every governor of an org answers alike.

const AT = '2026-11-25T10:00:00.000Z';
const base = { orgId: 'org-1', actor: 'agent:a-1', at: AT };

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

function open(sessionId: string, overrides: Partial<OpenSession> = {}): OpenSession {
  return {
    ...base,
    type: 'OpenSession',
    sessionId,
    agentId: 'a-1',
    limitMicros: 1_000_000n,
    expiresAt: '2026-11-25T11:00:00.000Z',
    maxPayments: null,
    metadata: {},
    idempotency: null,
    ...overrides,
  };
}

function close(sessionId: string, overrides: Partial<CloseSession> = {}): CloseSession {
  return { ...base, type: 'CloseSession', sessionId, agentId: 'a-1', at: '2026-11-25T10:10:00.000Z', ...overrides };
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

function world(): OrgState {
  return run([
    { ...base, actor: 'system', type: 'CreateOrg', name: 'Acme', limitMicros: null },
    { ...base, actor: 'system', type: 'RegisterAgent', agentId: 'a-1', teamId: null, name: 'crawler', limitMicros: null },
    { ...base, actor: 'system', type: 'RegisterAgent', agentId: 'a-2', teamId: null, name: 'other', limitMicros: null },
    open('s-1'),
  ]).state;
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
    const { state, events } = run([close('s-1')], world());
    expect(events).toEqual([{ type: 'SessionClosed', data: { sessionId: 's-1', agentId: 'a-1', orgId: 'org-1', closedAt: '2026-11-25T10:10:00.000Z' } }]);
    expect(state.sessions.get('s-1')?.closed).toBe(true);
    expect(decide(close('s-1', { at: '2026-11-25T10:20:00.000Z' }), state)).toEqual([]);
  });

  it('refuses new payments in a closed session with session_closed, recorded as LimitExceeded', () => {
    const { state } = run([close('s-1')], world());
    const [refused] = decide(reserve('i-1', 10_000n, { at: '2026-11-25T10:11:00.000Z' }), state);
    expect(refused).toMatchObject({ type: 'LimitExceeded', data: { code: 'session_closed', level: 'session', limitMicros: 1_000_000n, remainingMicros: 1_000_000n } });
  });

  it('lets a payment under way finish: signed before the close, settled after it', () => {
    const { state } = run([reserve('i-1', 10_000n)], world());
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
    const state = world();
    expect(refusal(() => decide(close('s-1', { agentId: 'a-2' }), state)).code).toBe('session_not_found');
    expect(refusal(() => decide(close('nope'), state)).code).toBe('session_not_found');
    expect(state.sessions.get('s-1')?.closed).toBe(false);
  });
});

describe('the cap on open sessions per agent', () => {
  it('refuses the session beyond the cap with the figures, and counts only this agent', () => {
    const { state } = run([open('s-2', { openSessionsMax: 2 })], world());
    const refused = refusal(() => decide(open('s-3', { openSessionsMax: 2 }), state));
    expect(refused.code).toBe('too_many_open_sessions');
    expect(refused.figures).toEqual({ limit: 2, open: 2 });
    // Another agent of the org has its own count.
    expect(decide(open('s-4', { agentId: 'a-2', openSessionsMax: 2 }), state).map((e) => e.type)).toEqual(['SessionOpened']);
  });

  it('frees a place when a session is closed or has expired', () => {
    const { state } = run([open('s-2', { openSessionsMax: 2 })], world());
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
    const { state } = run([open('s-2', { openSessionsMax: 2, idempotency: claim })], world());
    expect(decide(open('s-9', { openSessionsMax: 2, idempotency: claim }), state)).toEqual([]);
  });

  it('has no cap when none is given', () => {
    const state = world();
    for (let i = 0; i < 50; i++) run([open(`s-x${i}`)], state);
    expect(openSessionCount(state, 'a-1', AT)).toBe(51);
  });

  it('forgets closed and expired sessions as the org\'s payment time passes them', () => {
    const state = world();
    run([open('s-short', { expiresAt: '2026-11-25T10:01:00.000Z' }), close('s-1')], state);
    // A payment at 10:02 moves the org's payment time past s-short's expiry.
    run([open('s-2', { at: '2026-11-25T10:02:00.000Z' }), reserve('i-1', 1n, { sessionId: 's-2', at: '2026-11-25T10:02:00.000Z' })], state);
    run([open('s-3', { at: '2026-11-25T10:03:00.000Z' })], state);
    expect([...(state.openSessionsByAgent.get('a-1') ?? [])].sort()).toEqual(['s-2', 's-3']);
  });
});

describe('the request\'s maximum price', () => {
  it('refuses a price above maxPrice with LimitExceeded at the request level, with limit and requested', () => {
    const { state, events } = run([reserve('i-1', 10_000n, { maxPriceMicros: 5_000n })], world());
    expect(events).toEqual([
      {
        type: 'LimitExceeded',
        data: expect.objectContaining({ intentId: 'i-1', level: 'request', code: 'price_above_max', limitMicros: 5_000n, requestedMicros: 10_000n, remainingMicros: 1_000_000n, policySource: null }) as unknown,
      },
    ]);
    expect(state.sessions.get('s-1')?.budget.reservedMicros).toBe(0n);
  });

  it('reserves a price at or under maxPrice', () => {
    expect(run([reserve('i-1', 5_000n, { maxPriceMicros: 5_000n })], world()).events.map((e) => e.type)).toEqual(['Reserved']);
  });

  it('comes after the policies in their order: a denied domain is reported first', () => {
    const state = world();
    run([{ ...base, actor: 'admin:root', type: 'ChangePolicy', level: 'org', levelId: 'org-1', expectedVersion: null, policy: { ...EMPTY_POLICY, deniedDomains: ['127.0.0.1'] } }], state);
    const [refused] = decide(reserve('i-1', 10_000n, { maxPriceMicros: 5_000n }), state);
    expect(refused).toMatchObject({ type: 'LimitExceeded', data: { code: 'domain_not_allowed', level: 'policy' } });
  });
});
