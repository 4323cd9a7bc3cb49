import type { BudgetLevel, BudgetPeriod } from './commands.js';
import type { Policy, RecentPayment } from './policy.js';
import type { RefusalCode, Reserved } from './events.js';

// The decision state of one org: every budget level under it, its sessions and the
// payment intents still needed to answer retries and settle or refund.

export interface Budget {
  /** null means no limit at this level. */
  limitMicros: bigint | null;
  reservedMicros: bigint;
  /** Spent in the current period (`periodKey`); all time for `none`. */
  spentMicros: bigint;
  period: BudgetPeriod;
  /** The UTC day (YYYY-MM-DD) or month (YYYY-MM) that spentMicros counts; '' for none. */
  periodKey: string;
  /** The alert thresholds already reached, and the period they were reached in. */
  alerted: { periodKey: string; percents: number[] };
}

export interface TeamState {
  name: string;
  budget: Budget;
}

export interface AgentState {
  teamId: string | null;
  name: string;
  budget: Budget;
}

export interface SessionState {
  agentId: string;
  teamId: string | null;
  budget: Budget & { limitMicros: bigint };
  expiresAt: string;
  maxPayments: number | null;
  paymentsCount: number;
  closed: boolean;
}

/** reserved → signed → (unknown) → settled | refunded; a reserved payment may be refunded directly. */
export type IntentStatus = 'awaiting_approval' | 'reserved' | 'signed' | 'unknown' | 'settled' | 'refunded';

export interface IntentState {
  sessionId: string;
  agentId: string;
  teamId: string | null;
  amountMicros: bigint;
  amountAtomic: bigint;
  status: IntentStatus;
  network: string;
  /** The token contract paid in, as the offer named it. */
  asset: string;
  payTo: string;
  validBefore: string;
  payer: string | null;
  nonce: string | null;
  requestHash: string | null;
  /** While awaiting approval: the reservation to make once approved, and until when. */
  pendingApproval: { reservation: Reserved['data']; expiresAt: string } | null;
}

export interface RefusalState {
  sessionId: string;
  level: BudgetLevel | 'policy' | 'wallet' | 'request';
  code: RefusalCode;
  requestHash: string | null;
}

/** What an Idempotency-Key already answered: the entity it created and the request's hash. */
export interface IdempotencyRecord {
  kind: 'session' | 'intent';
  entityId: string;
  requestHash: string;
}

export interface OrgState {
  orgId: string;
  exists: boolean;
  name: string;
  budget: Budget;
  teams: Map<string, TeamState>;
  agents: Map<string, AgentState>;
  sessions: Map<string, SessionState>;
  /**
   * Each agent's sessions that may still be open: closed ones leave at once, expired ones
   * once the org's payment time has passed their expiry. A superset of the open sessions,
   * kept so that the cap on open sessions counts an agent's sessions, not the org's.
   */
  openSessionsByAgent: Map<string, Set<string>>;
  intents: Map<string, IntentState>;
  refusals: Map<string, RefusalState>;
  /** Keyed by `${agentId}\u0000${idempotencyKey}`: keys are scoped to the agent that sent them. */
  idempotency: Map<string, IdempotencyRecord>;
  /** Keyed by `org`, `team:<id>` or `agent:<id>`. */
  policies: Map<string, { policy: Policy; version: number }>;
  /** Shadow policies, keyed like `policies`; `policy` is null once promoted (the version counts on). */
  shadowPolicies: Map<string, { policy: Policy | null; version: number }>;
  /** Frozen levels, keyed like `policies`, with the admin's reason. */
  frozen: Map<string, { reason: string }>;
  /** Each agent's recent payments, for the loop and rate guards; bounded in age and count. */
  recentPayments: Map<string, RecentPayment[]>;
  /** Payments that are over, in the order they closed, to be forgotten in time (see `ClosedPayments`). */
  closed: ClosedPayments;
}

/**
 * Settled, refunded and refused payments stay in `intents` and `refusals` for a while, so
 * that a late or repeated command about one is answered as before, and are then forgotten:
 * once CLOSED_PAYMENT_RETENTION_MS of the org's payment time has passed since they closed,
 * or once more than `retainedMax` closed after them. Without this an org's state held every
 * payment it ever made: memory without bound, and a Map of a million entries stalls the
 * process for ~90 ms each time it grows. What is forgotten stays in the events and the
 * projections; a command about it is refused as for an unknown payment.
 */
export interface ClosedPayments {
  /** Closed payments, oldest first; the ones before `head` are already forgotten. */
  queue: { intentId: string; closedAtMs: number }[];
  head: number;
  /** The latest payment time the org has seen (Reserved and Settled carry one). */
  clockMs: number;
  retainedMax: number;
}

/** How long, in the org's payment time, a closed payment is remembered at least. */
export const CLOSED_PAYMENT_RETENTION_MS = 60 * 60 * 1000;
/** Closed payments one org remembers at most (~250 MB at ~250 bytes each). */
export const CLOSED_PAYMENTS_RETAINED_MAX = 1_000_000;

export function emptyBudget(limitMicros: bigint | null, period: BudgetPeriod = 'none'): Budget {
  return { limitMicros, reservedMicros: 0n, spentMicros: 0n, period, periodKey: '', alerted: { periodKey: '', percents: [] } };
}

/** The period an instant falls in, from its ISO-8601 UTC form. */
export function periodKeyAt(period: BudgetPeriod, atIso: string): string {
  switch (period) {
    case 'none':
      return '';
    case 'day':
      return atIso.slice(0, 10);
    case 'month':
      return atIso.slice(0, 7);
    default: {
      const _never: never = period;
      return '';
    }
  }
}

/** What was spent in the period that `atIso` falls in: nothing yet when a new period began. */
export function spentInPeriodMicros(budget: Budget, atIso: string): bigint {
  return budget.periodKey === periodKeyAt(budget.period, atIso) ? budget.spentMicros : 0n;
}

export function policyKey(level: 'org' | 'team' | 'agent', levelId: string): string {
  return level === 'org' ? 'org' : `${level}:${levelId}`;
}

/** An org before its first event. `closedRetainedMax` is for tests of forgetting. */
export function initialOrgState(orgId: string, closedRetainedMax: number = CLOSED_PAYMENTS_RETAINED_MAX): OrgState {
  return {
    orgId,
    exists: false,
    name: '',
    budget: emptyBudget(null),
    teams: new Map(),
    agents: new Map(),
    sessions: new Map(),
    openSessionsByAgent: new Map(),
    intents: new Map(),
    refusals: new Map(),
    idempotency: new Map(),
    policies: new Map(),
    shadowPolicies: new Map(),
    frozen: new Map(),
    recentPayments: new Map(),
    closed: { queue: [], head: 0, clockMs: 0, retainedMax: closedRetainedMax },
  };
}

export function idempotencyIndex(agentId: string, key: string): string {
  return `${agentId}\u0000${key}`;
}

/**
 * What is left at a level at an instant: limit − reserved − spent in the period, or null when
 * the level has no limit. Held money counts in whatever period it is finally spent.
 */
export function remainingMicros(budget: Budget, atIso = ''): bigint | null {
  if (budget.limitMicros === null) return null;
  const spent = budget.period === 'none' ? budget.spentMicros : spentInPeriodMicros(budget, atIso);
  return budget.limitMicros - budget.reservedMicros - spent;
}

/** The agent's sessions that accept payments at `atIso`: neither closed nor expired. */
export function openSessionCount(state: OrgState, agentId: string, atIso: string): number {
  const atMs = Date.parse(atIso);
  let count = 0;
  for (const sessionId of state.openSessionsByAgent.get(agentId) ?? []) {
    const session = state.sessions.get(sessionId);
    if (session !== undefined && !session.closed && Date.parse(session.expiresAt) > atMs) count += 1;
  }
  return count;
}
