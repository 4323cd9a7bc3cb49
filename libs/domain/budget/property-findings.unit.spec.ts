import { describe, expect, it } from 'vitest';
import type { BudgetCommand, Reserve } from './commands.js';
import { decide } from './decide.js';
import { DomainError } from './errors.js';
import type { BudgetEvent } from './events.js';
import { evolve } from './evolve.js';
import { EMPTY_POLICY, type Policy } from './policy.js';
import { initialOrgState, type OrgState } from './state.js';

// Bugs the property tests (budget.property.unit.spec.ts) found, each pinned by the smallest
// sequence that shows it.

const AT = '2026-03-01T10:00:00.000Z';
const base = { orgId: 'org-1', actor: 'system', at: AT };

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

function withPolicy(rules: Partial<Policy>): OrgState {
  return run([
    { ...base, type: 'CreateOrg', name: 'Acme', limitMicros: null },
    { ...base, type: 'RegisterAgent', agentId: 'a-1', teamId: null, name: 'crawler', limitMicros: null },
    { ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-1', policy: { ...EMPTY_POLICY, ...rules }, expectedVersion: null },
    { ...base, type: 'OpenSession', sessionId: 's-1', agentId: 'a-1', limitMicros: 1_000_000n, expiresAt: '2026-03-01T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null },
  ]).state;
}

function reserve(intentId: string, overrides: Partial<Reserve> = {}): Reserve {
  return {
    ...base,
    type: 'Reserve',
    intentId,
    sessionId: 's-1',
    agentId: 'a-1',
    amountMicros: 1_000n,
    amountAtomic: 1_000n,
    asset: '0x0000000000000000000000000000000000000001',
    network: 'eip155:84532',
    payTo: '0x0000000000000000000000000000000000000002',
    resource: 'https://api.example.com/data',
    method: 'GET',
    validBefore: '2026-03-01T10:05:00.000Z',
    idempotency: null,
    ...overrides,
  };
}

const answer = (events: BudgetEvent[]): string => (events[0]?.type === 'LimitExceeded' ? events[0].data.code : (events[0]?.type ?? 'nothing'));

function domainErrorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof DomainError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('domain rules and the trailing dot of a fully qualified host name', () => {
  // `evil.example.` is the same host as `evil.example` to DNS and to fetch, and the URL parser
  // keeps the dot; a denied domain must not be reachable by spelling it that way.
  it('refuses a denied domain written with a trailing dot', () => {
    const state = withPolicy({ deniedDomains: ['evil.example', '*.tracker.example'] });
    expect(answer(decide(reserve('i-1', { resource: 'https://evil.example/x' }), state))).toBe('domain_not_allowed');
    expect(answer(decide(reserve('i-2', { resource: 'https://evil.example./x' }), state))).toBe('domain_not_allowed');
    expect(answer(decide(reserve('i-3', { resource: 'https://ads.tracker.example./x' }), state))).toBe('domain_not_allowed');
  });

  it('allows an allowed domain written with a trailing dot, and nothing more', () => {
    const state = withPolicy({ allowedDomains: ['api.example.com', '*.cdn.example'] });
    expect(answer(decide(reserve('i-1', { resource: 'https://api.example.com./data' }), state))).toBe('Reserved');
    expect(answer(decide(reserve('i-2', { resource: 'https://img.cdn.example./data' }), state))).toBe('Reserved');
    expect(answer(decide(reserve('i-3', { resource: 'https://api.example.com../data' }), state))).toBe('domain_not_allowed');
    expect(answer(decide(reserve('i-4', { resource: 'https://cdn.example./data' }), state))).toBe('domain_not_allowed');
  });
});

describe('a payment waiting for approval was never signed', () => {
  // Only a signed payment can have been paid. A payment above the approval threshold is not
  // signed until an admin approves it, so a worker outcome about it is refused as for any
  // unsigned payment, and the admin's decision still stands.
  const awaiting = (): OrgState => {
    const state = withPolicy({ approvalAboveMicros: 500n });
    expect(run([reserve('i-1')], state).events[0]?.type).toBe('ApprovalRequested');
    return state;
  };

  it('refuses to settle it, and leaves the approval to the admin', () => {
    const state = awaiting();
    const settle: BudgetCommand = { ...base, type: 'Settle', intentId: 'i-1', amountAtomic: 1_000n, network: 'eip155:84532', transaction: '0xabc', payer: '0xdef' };
    expect(domainErrorCode(() => decide(settle, state))).toBe('payment_not_signed');
    expect(state.budget.spentMicros).toBe(0n);
    const approved = run([{ ...base, type: 'DecideApproval', intentId: 'i-1', approve: true, reason: 'approved' }], state).events;
    expect(approved.map((e) => e.type)).toEqual(['ApprovalGranted', 'Reserved']);
  });

  it('refuses a seller outcome for it', () => {
    const state = awaiting();
    const report: BudgetCommand = { ...base, type: 'ReportOutcome', intentId: 'i-1', outcome: 'unknown', transaction: null, detail: 'timeout' };
    expect(domainErrorCode(() => decide(report, state))).toBe('payment_not_signed');
  });
});
