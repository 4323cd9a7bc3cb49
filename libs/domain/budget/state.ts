import type { BudgetLevel } from './commands.js';
import type { RefusalCode } from './events.js';

// The decision state of one org: every budget level under it, its sessions and the
// payment intents still needed to answer retries and settle or refund.

export interface Budget {
  /** null means no limit at this level. */
  limitMicros: bigint | null;
  reservedMicros: bigint;
  spentMicros: bigint;
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
export type IntentStatus = 'reserved' | 'signed' | 'unknown' | 'settled' | 'refunded';

export interface IntentState {
  sessionId: string;
  agentId: string;
  teamId: string | null;
  amountMicros: bigint;
  amountAtomic: bigint;
  status: IntentStatus;
  network: string;
  validBefore: string;
  payer: string | null;
  nonce: string | null;
  requestHash: string | null;
}

export interface RefusalState {
  sessionId: string;
  level: BudgetLevel | 'policy';
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
  intents: Map<string, IntentState>;
  refusals: Map<string, RefusalState>;
  /** Keyed by `${agentId}\u0000${idempotencyKey}`: keys are scoped to the agent that sent them. */
  idempotency: Map<string, IdempotencyRecord>;
}

export function emptyBudget(limitMicros: bigint | null): Budget {
  return { limitMicros, reservedMicros: 0n, spentMicros: 0n };
}

export function initialOrgState(orgId: string): OrgState {
  return {
    orgId,
    exists: false,
    name: '',
    budget: emptyBudget(null),
    teams: new Map(),
    agents: new Map(),
    sessions: new Map(),
    intents: new Map(),
    refusals: new Map(),
    idempotency: new Map(),
  };
}

export function idempotencyIndex(agentId: string, key: string): string {
  return `${agentId}\u0000${key}`;
}

/** What is left at a level: limit − reserved − spent, or null when the level has no limit. */
export function remainingMicros(budget: Budget): bigint | null {
  if (budget.limitMicros === null) return null;
  return budget.limitMicros - budget.reservedMicros - budget.spentMicros;
}
