// Spending policies, evaluated at decision time. Each level (org, team, agent) may have one;
// every rule of every level applies, so the most restrictive level wins by construction.

export interface LoopGuard {
  /** At most this many payments for the same method and URL… */
  maxPayments: number;
  /** …within this many seconds. */
  windowSeconds: number;
}

export interface Policy {
  maxPerPaymentMicros: bigint | null;
  /** Host patterns such as `api.example.com` or `*.example.com`; null allows any. */
  allowedDomains: string[] | null;
  deniedDomains: string[];
  allowedPayees: string[] | null;
  deniedPayees: string[];
  /** CAIP-2 networks; null allows any. */
  allowedNetworks: string[] | null;
  allowedAssets: string[] | null;
  loopGuard: LoopGuard | null;
  maxPaymentsPerMinutePerAgent: number | null;
  maxPaymentsPerMinutePerSession: number | null;
  /** Payments above this wait for an admin's approval… */
  approvalAboveMicros: bigint | null;
  /** …for at most this long, then they are refused. */
  approvalTimeoutSeconds: number;
  /**
   * Percentages of a budget (1–100) whose crossing raises BudgetThresholdReached, once per
   * threshold per period. A level without its own list uses its nearest ancestor's.
   */
  budgetAlertPercents: number[];
}

export const EMPTY_POLICY: Policy = {
  maxPerPaymentMicros: null,
  allowedDomains: null,
  deniedDomains: [],
  allowedPayees: null,
  deniedPayees: [],
  allowedNetworks: null,
  allowedAssets: null,
  loopGuard: null,
  maxPaymentsPerMinutePerAgent: null,
  maxPaymentsPerMinutePerSession: null,
  approvalAboveMicros: null,
  approvalTimeoutSeconds: 600,
  budgetAlertPercents: [],
};

/** A policy as stored by any version: fields added later take their empty defaults. */
export function withPolicyDefaults(policy: Partial<Policy>): Policy {
  return { ...EMPTY_POLICY, ...policy };
}

export type PolicyRefusalCode =
  | 'domain_not_allowed'
  | 'network_not_allowed'
  | 'asset_not_allowed'
  | 'payee_not_allowed'
  | 'price_above_max'
  | 'loop_detected'
  | 'rate_limited'
  | 'approval_required';

export interface PaymentFacts {
  host: string;
  loopKey: string;
  payTo: string;
  asset: string;
  network: string;
  amountMicros: bigint;
  atMs: number;
  agentId: string;
  sessionId: string;
}

/**
 * A past payment, as the loop and rate guards need it. An agent's history is kept in
 * decision order, oldest first, so its times ascend up to the clock skew of the governors
 * that stamped them.
 */
export interface RecentPayment {
  atMs: number;
  sessionId: string;
  loopKey: string;
}

export interface PolicyRefusal {
  code: PolicyRefusalCode;
  /** The level whose policy refused, e.g. `org` or `agent:bot-1`. */
  source: string;
  detail: string;
  limit: bigint | null;
}

/** `*.example.com` matches sub-domains of example.com (not example.com itself); other patterns match exactly. */
export function hostMatches(pattern: string, host: string): boolean {
  const p = pattern.toLowerCase();
  const h = host.toLowerCase();
  if (p.startsWith('*.')) return h.endsWith(p.slice(1)) && h.length > p.length - 1;
  return p === h;
}

const sameAddress = (list: readonly string[], value: string): boolean => list.some((v) => v.toLowerCase() === value.toLowerCase());

/**
 * The first rule that refuses, in a fixed precedence order (where, to whom, in what, how
 * much, how often, who must agree), or null when every level's policy allows the payment.
 */
export function evaluatePolicies(
  policies: readonly { source: string; policy: Policy }[],
  facts: PaymentFacts,
  recentForAgent: readonly RecentPayment[],
): PolicyRefusal | null {
  const refusal = (code: PolicyRefusalCode, source: string, detail: string, limit: bigint | null = null): PolicyRefusal => ({ code, source, detail, limit });
  for (const { source, policy } of policies) {
    if (policy.deniedDomains.some((p) => hostMatches(p, facts.host))) return refusal('domain_not_allowed', source, `${facts.host} is denied`);
    if (policy.allowedDomains !== null && !policy.allowedDomains.some((p) => hostMatches(p, facts.host))) {
      return refusal('domain_not_allowed', source, `${facts.host} is not in the allowed domains`);
    }
  }
  for (const { source, policy } of policies) {
    if (policy.allowedNetworks !== null && !policy.allowedNetworks.includes(facts.network)) {
      return refusal('network_not_allowed', source, `network ${facts.network} is not allowed`);
    }
  }
  for (const { source, policy } of policies) {
    if (policy.allowedAssets !== null && !sameAddress(policy.allowedAssets, facts.asset)) return refusal('asset_not_allowed', source, `asset ${facts.asset} is not allowed`);
  }
  for (const { source, policy } of policies) {
    if (sameAddress(policy.deniedPayees, facts.payTo)) return refusal('payee_not_allowed', source, `payee ${facts.payTo} is denied`);
    if (policy.allowedPayees !== null && !sameAddress(policy.allowedPayees, facts.payTo)) {
      return refusal('payee_not_allowed', source, `payee ${facts.payTo} is not allowed`);
    }
  }
  for (const { source, policy } of policies) {
    if (policy.maxPerPaymentMicros !== null && facts.amountMicros > policy.maxPerPaymentMicros) {
      return refusal('price_above_max', source, 'the price is above the maximum per payment', policy.maxPerPaymentMicros);
    }
  }
  for (const { source, policy } of policies) {
    const guard = policy.loopGuard;
    if (guard === null) continue;
    const repeats = countRecentSince(recentForAgent, facts.atMs - guard.windowSeconds * 1000, (p) => p.loopKey === facts.loopKey);
    if (repeats >= guard.maxPayments) {
      return refusal('loop_detected', source, `${repeats} payments for ${facts.loopKey} within ${guard.windowSeconds} s`, BigInt(guard.maxPayments));
    }
  }
  // Counted only when a level limits the rate: most payments pass no rate rule at all.
  let inLastMinute: { agent: number; session: number } | undefined;
  for (const { source, policy } of policies) {
    if (policy.maxPaymentsPerMinutePerAgent === null && policy.maxPaymentsPerMinutePerSession === null) continue;
    inLastMinute ??= {
      agent: countRecentSince(recentForAgent, facts.atMs - 60_000),
      session: countRecentSince(recentForAgent, facts.atMs - 60_000, (p) => p.sessionId === facts.sessionId),
    };
    if (policy.maxPaymentsPerMinutePerAgent !== null && inLastMinute.agent >= policy.maxPaymentsPerMinutePerAgent) {
      return refusal('rate_limited', source, `the agent made ${inLastMinute.agent} payments in the last minute`, BigInt(policy.maxPaymentsPerMinutePerAgent));
    }
    if (policy.maxPaymentsPerMinutePerSession !== null && inLastMinute.session >= policy.maxPaymentsPerMinutePerSession) {
      return refusal('rate_limited', source, `the session made ${inLastMinute.session} payments in the last minute`, BigInt(policy.maxPaymentsPerMinutePerSession));
    }
  }
  return null;
}

/**
 * How many of the newest HISTORY_PER_AGENT_MAX payments in `recent` are after `sinceMs` and
 * match. It walks back from the newest and stops at the first one older than the window by
 * more than HISTORY_ORDER_SLACK_MS, so a decision costs the payments in the window, not the
 * agent's whole history, and allocates nothing.
 */
export function countRecentSince(recent: readonly RecentPayment[], sinceMs: number, matches?: (payment: RecentPayment) => boolean): number {
  const stopBeforeMs = sinceMs - HISTORY_ORDER_SLACK_MS;
  const oldest = Math.max(0, recent.length - HISTORY_PER_AGENT_MAX);
  let count = 0;
  for (let index = recent.length - 1; index >= oldest; index -= 1) {
    const payment = recent[index]!;
    if (payment.atMs <= stopBeforeMs) break;
    if (payment.atMs > sinceMs && (matches === undefined || matches(payment))) count += 1;
  }
  return count;
}

export interface ApprovalNeed {
  source: string;
  thresholdMicros: bigint;
  timeoutSeconds: number;
}

/** Whether a payment must wait for an admin; the strictest threshold, and its shortest timeout, apply. */
export function approvalNeeded(policies: readonly { source: string; policy: Policy }[], amountMicros: bigint): ApprovalNeed | null {
  let need: ApprovalNeed | null = null;
  for (const { source, policy } of policies) {
    if (policy.approvalAboveMicros === null || amountMicros <= policy.approvalAboveMicros) continue;
    if (need === null || policy.approvalAboveMicros < need.thresholdMicros) {
      need = { source, thresholdMicros: policy.approvalAboveMicros, timeoutSeconds: policy.approvalTimeoutSeconds };
    }
  }
  if (need === null) return null;
  const shortest = Math.min(...policies.filter((p) => p.policy.approvalAboveMicros !== null && amountMicros > p.policy.approvalAboveMicros).map((p) => p.policy.approvalTimeoutSeconds));
  return { ...need, timeoutSeconds: shortest };
}

/** The longest window any guard looks back over; older history can be forgotten. */
export const HISTORY_WINDOW_MS_MAX = 24 * 60 * 60 * 1000;
/** The guards look at an agent's newest payments up to this many. */
export const HISTORY_PER_AGENT_MAX = 10_000;
/**
 * How far out of order payment times may be in an agent's history (several governors'
 * clocks stamp them) and still be counted exactly by `countRecentSince`.
 */
export const HISTORY_ORDER_SLACK_MS = 5_000;
