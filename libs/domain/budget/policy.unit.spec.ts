import { describe, expect, it } from 'vitest';
import {
  approvalNeeded,
  countRecentSince,
  EMPTY_POLICY,
  evaluatePolicies,
  HISTORY_ORDER_SLACK_MS,
  HISTORY_PER_AGENT_MAX,
  hostMatches,
  type PaymentFacts,
  type Policy,
  type RecentPayment,
} from './policy.js';

const facts: PaymentFacts = {
  host: 'api.example.com',
  loopKey: 'GET http://api.example.com/data',
  payTo: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  asset: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  network: 'eip155:31337',
  amountMicros: 10_000n,
  atMs: 1_000_000,
  agentId: 'a-1',
  sessionId: 's-1',
};

const policy = (rules: Partial<Policy>): Policy => ({ ...EMPTY_POLICY, ...rules });
const recent = (count: number, ageMs: number, loopKey = facts.loopKey, sessionId = 's-1'): RecentPayment[] =>
  Array.from({ length: count }, () => ({ atMs: facts.atMs - ageMs, sessionId, loopKey }));

describe('host patterns', () => {
  it.each([
    ['api.example.com', 'api.example.com', true],
    ['API.example.com', 'api.EXAMPLE.com', true],
    ['*.example.com', 'api.example.com', true],
    ['*.example.com', 'a.b.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'evilexample.com', false],
    ['example.com', 'api.example.com', false],
  ])('%s against %s is %s', (pattern, host, expected) => {
    expect(hostMatches(pattern, host)).toBe(expected);
  });
});

describe('policy evaluation', () => {
  // One row per refusal code: the rule, the history, and what must come out.
  it.each([
    ['domain denied', policy({ deniedDomains: ['*.example.com'] }), [], 'domain_not_allowed'],
    ['domain not allowed', policy({ allowedDomains: ['data.other.org'] }), [], 'domain_not_allowed'],
    ['network not allowed', policy({ allowedNetworks: ['eip155:8453'] }), [], 'network_not_allowed'],
    ['asset not allowed', policy({ allowedAssets: ['0x036CbD53842c5426634e7929541eC2318f3dCF7e'] }), [], 'asset_not_allowed'],
    ['payee denied', policy({ deniedPayees: [facts.payTo.toLowerCase()] }), [], 'payee_not_allowed'],
    ['payee not allowed', policy({ allowedPayees: ['0x0000000000000000000000000000000000000001'] }), [], 'payee_not_allowed'],
    ['price above max', policy({ maxPerPaymentMicros: 9_999n }), [], 'price_above_max'],
    ['loop', policy({ loopGuard: { maxPayments: 3, windowSeconds: 60 } }), recent(3, 10_000), 'loop_detected'],
    ['agent rate', policy({ maxPaymentsPerMinutePerAgent: 2 }), recent(2, 5_000, 'GET other', 's-2'), 'rate_limited'],
    ['session rate', policy({ maxPaymentsPerMinutePerSession: 2 }), recent(2, 5_000, 'GET other'), 'rate_limited'],
  ] as const)('%s → %s', (_name, rules, history, code) => {
    expect(evaluatePolicies([{ source: 'org', policy: rules }], facts, history)?.code).toBe(code);
  });

  it('allows what every rule allows, at the boundaries', () => {
    const rules = policy({
      allowedDomains: ['*.example.com'],
      allowedNetworks: ['eip155:31337'],
      allowedAssets: [facts.asset.toLowerCase()],
      allowedPayees: [facts.payTo],
      maxPerPaymentMicros: 10_000n,
      loopGuard: { maxPayments: 3, windowSeconds: 60 },
      maxPaymentsPerMinutePerAgent: 3,
      approvalAboveMicros: 10_000n,
    });
    // Two repeats inside the window and older ones outside it: below every limit.
    expect(evaluatePolicies([{ source: 'org', policy: rules }], facts, [...recent(5, 61_000), ...recent(2, 10_000)])).toBeNull();
  });

  it('applies every level, so the most restrictive one refuses and is named', () => {
    const refusal = evaluatePolicies(
      [
        { source: 'org', policy: policy({ maxPerPaymentMicros: 1_000_000n }) },
        { source: 'agent:a-1', policy: policy({ maxPerPaymentMicros: 5_000n }) },
      ],
      facts,
      [],
    );
    expect(refusal).toEqual({ code: 'price_above_max', source: 'agent:a-1', detail: 'the price is above the maximum per payment', limit: 5_000n });
  });

  it('reports the rule first in precedence when several refuse', () => {
    const refusal = evaluatePolicies([{ source: 'org', policy: policy({ maxPerPaymentMicros: 1n, deniedDomains: ['api.example.com'] }) }], facts, []);
    expect(refusal?.code).toBe('domain_not_allowed');
  });

  it('asks for approval above the strictest threshold, with the shortest timeout', () => {
    const levels = [
      { source: 'org', policy: policy({ approvalAboveMicros: 50_000n, approvalTimeoutSeconds: 900 }) },
      { source: 'agent:a-1', policy: policy({ approvalAboveMicros: 5_000n, approvalTimeoutSeconds: 60 }) },
    ];
    expect(approvalNeeded(levels, 5_000n)).toBeNull();
    expect(approvalNeeded(levels, 10_000n)).toEqual({ source: 'agent:a-1', thresholdMicros: 5_000n, timeoutSeconds: 60 });
    expect(approvalNeeded(levels, 60_000n)).toEqual({ source: 'agent:a-1', thresholdMicros: 5_000n, timeoutSeconds: 60 });
  });
});

describe('counting recent payments', () => {
  const at = (ageMs: number, loopKey = facts.loopKey): RecentPayment => ({ atMs: facts.atMs - ageMs, sessionId: 's-1', loopKey });

  it('counts what is inside the window and matches, also a little out of order', () => {
    const history = [at(70_000), at(50_000), at(59_000, 'GET other'), at(20_000), at(61_000), at(58_000), at(1_000)];
    expect(countRecentSince(history, facts.atMs - 60_000)).toBe(5);
    expect(countRecentSince(history, facts.atMs - 60_000, (p) => p.loopKey === facts.loopKey)).toBe(4);
    expect(countRecentSince([], facts.atMs - 60_000)).toBe(0);
  });

  it('stops at the first payment older than the window by more than the slack', () => {
    // An entry that breaks the order by more than the slack is not reached: the walk stopped before it.
    const history = [at(10_000), at(60_000 + HISTORY_ORDER_SLACK_MS + 1), at(5_000)];
    expect(countRecentSince(history, facts.atMs - 60_000)).toBe(1);
  });

  it('looks at the newest HISTORY_PER_AGENT_MAX payments only', () => {
    const history = Array.from({ length: HISTORY_PER_AGENT_MAX + 5 }, () => at(1_000));
    expect(countRecentSince(history, facts.atMs - 60_000)).toBe(HISTORY_PER_AGENT_MAX);
  });
});
