import type { BudgetLevel, BudgetPeriod, RailOptionRecord } from './commands.js';
import type { Policy, PolicyRefusalCode } from './policy.js';

// Event names and fields are part of the public contract (ARCHITECTURE.md, API.md).
// Field names end with their unit: *Micros are USD micro-dollars, *Atomic asset units.

export type RefusalCode =
  | PolicyRefusalCode
  | 'session_limit_exceeded'
  | 'agent_limit_exceeded'
  | 'team_limit_exceeded'
  | 'org_limit_exceeded'
  | 'session_expired'
  | 'session_closed'
  | 'wallet_insufficient_funds'
  | 'permit2_allowance_missing'
  | 'agent_frozen';

export interface OrgCreated {
  type: 'OrgCreated';
  data: { orgId: string; name: string; limitMicros: bigint | null };
}

export interface TeamCreated {
  type: 'TeamCreated';
  data: { orgId: string; teamId: string; name: string; limitMicros: bigint | null };
}

export interface AgentRegistered {
  type: 'AgentRegistered';
  data: { orgId: string; agentId: string; teamId: string | null; name: string; limitMicros: bigint | null };
}

export interface BudgetChanged {
  type: 'BudgetChanged';
  data: {
    orgId: string;
    level: Exclude<BudgetLevel, 'session'>;
    levelId: string;
    before: { limitMicros: bigint | null; period: BudgetPeriod };
    after: { limitMicros: bigint | null; period: BudgetPeriod };
  };
}

export interface PolicyChanged {
  type: 'PolicyChanged';
  data: {
    orgId: string;
    level: Exclude<BudgetLevel, 'session'>;
    levelId: string;
    /** The policy's own version, its ETag (a shadow policy counts its own versions). */
    version: number;
    before: Policy;
    after: Policy;
    /** Present for a shadow policy's edits; absent for the policy in force. */
    mode?: 'shadow';
    /** The shadow version that became this enforced policy, when it was promoted. */
    promotedFromShadowVersion?: number;
  };
}

/** An admin froze a level: every new payment and session under it is refused `agent_frozen`. */
export interface Frozen {
  type: 'Frozen';
  data: { orgId: string; level: Exclude<BudgetLevel, 'session'>; levelId: string; reason: string };
}

export interface Unfrozen {
  type: 'Unfrozen';
  data: { orgId: string; level: Exclude<BudgetLevel, 'session'>; levelId: string; reason: string };
}

/**
 * A shadow policy would have refused this payment; it decided nothing. Recorded in the same
 * decision as the payment, so finance can count what enforcing it would have refused.
 */
export interface ShadowRefusal {
  type: 'ShadowRefusal';
  data: {
    intentId: string;
    orgId: string;
    agentId: string;
    sessionId: string;
    level: Exclude<BudgetLevel, 'session'>;
    levelId: string;
    code: PolicyRefusalCode;
    /** The shadow policy's version. */
    policyVersion: number;
    limitMicros: bigint | null;
    requestedMicros: bigint;
    resource: string;
  };
}

export interface AgentKeyChanged {
  type: 'AgentKeyChanged';
  data: { orgId: string; agentId: string; change: 'issued' | 'rotated' | 'revoked' };
}

export interface SessionOpened {
  type: 'SessionOpened';
  data: {
    sessionId: string;
    agentId: string;
    teamId: string | null;
    orgId: string;
    limitMicros: bigint;
    expiresAt: string;
    maxPayments: number | null;
    metadata: Record<string, string>;
    idempotencyKey: string | null;
    requestHash: string | null;
  };
}

/** The session takes no new payments; what it holds still settles or is refunded. */
export interface SessionClosed {
  type: 'SessionClosed';
  data: {
    sessionId: string;
    agentId: string;
    orgId: string;
    closedAt: string;
  };
}

export interface Reserved {
  type: 'Reserved';
  data: {
    intentId: string;
    sessionId: string;
    agentId: string;
    teamId: string | null;
    orgId: string;
    amountMicros: bigint;
    amountAtomic: bigint;
    asset: string;
    network: string;
    payTo: string;
    resource: string;
    method: string;
    reservedAt: string;
    validBefore: string;
    /** Sum of the policy versions in force at org, team and agent: which rules decided. */
    policyVersion: number;
    idempotencyKey: string | null;
    requestHash: string | null;
    /** Present when the payment was chosen among a 402's options (libs/rails): `x402` or `mpp`. */
    rail?: 'x402' | 'mpp';
    /** x402: `exact` or `upto`; MPP: the intent, `charge`. */
    scheme?: string;
    transfer?: 'eip3009' | 'permit2';
    /** `upto`: amountAtomic is the signed maximum; the seller settles what it used, at most that. */
    metered?: boolean;
    /** The option chosen and every option not chosen, each with its stage and reason. */
    options?: { chosen: RailOptionRecord; rejected: RailOptionRecord[] };
    /** The loop guard's key, only when the command gave one (an MCP tool call); else method and URL. */
    loopKey?: string;
  };
}

/** Money is held on every level while an admin decides; nothing can be signed yet. */
export interface ApprovalRequested {
  type: 'ApprovalRequested';
  data: Reserved['data'] & { approvalExpiresAt: string; policySource: string; thresholdMicros: bigint };
}

export interface ApprovalGranted {
  type: 'ApprovalGranted';
  data: { intentId: string; sessionId: string; agentId: string; orgId: string; note?: string };
}

/** The admin said no, or nobody answered in time: the payment is refused and the hold released. */
export interface ApprovalDenied {
  type: 'ApprovalDenied';
  data: { intentId: string; sessionId: string; agentId: string; orgId: string; code: 'approval_required'; reason: 'denied' | 'timeout'; note?: string };
}

export interface LimitExceeded {
  type: 'LimitExceeded';
  data: {
    intentId: string;
    sessionId: string;
    agentId: string;
    orgId: string;
    /** `request`: the request's own maximum (pay-and-fetch `maxPrice`). */
    level: BudgetLevel | 'policy' | 'wallet' | 'request';
    code: RefusalCode;
    limitMicros: bigint | null;
    requestedMicros: bigint;
    remainingMicros: bigint | null;
    /** For count limits (loop and rate guards): the number allowed. */
    limitCount: number | null;
    /** Which policy refused (`org`, `team:<id>`, `agent:<id>`), for policy refusals. */
    policySource: string | null;
    resource: string;
    idempotencyKey: string | null;
    requestHash: string | null;
  };
}

/**
 * What is held and spent at a level (`usedMicros`, in the period `periodKey`) reached a
 * percentage of its limit. Raised once per threshold per period, by the payment that crossed it.
 */
export interface BudgetThresholdReached {
  type: 'BudgetThresholdReached';
  data: {
    orgId: string;
    level: BudgetLevel;
    levelId: string;
    thresholdPercent: number;
    limitMicros: bigint;
    usedMicros: bigint;
    /** The UTC day or month for `day` and `month` budgets; '' for budgets without a period. */
    periodKey: string;
    intentId: string;
    sessionId: string;
    agentId: string;
  };
}

export interface PaymentSigned {
  type: 'PaymentSigned';
  data: {
    intentId: string;
    sessionId: string;
    agentId: string;
    orgId: string;
    scheme: string;
    network: string;
    payer: string;
    nonce: string;
    validAfter: string;
    validBefore: string;
    /** Present for Permit2 rails: the nonce is then a Permit2 nonce, not an EIP-3009 one. */
    transfer?: 'eip3009' | 'permit2';
  };
}

export interface SettlementReported {
  type: 'SettlementReported';
  data: {
    intentId: string;
    sessionId: string;
    agentId: string;
    orgId: string;
    outcome: 'paid' | 'unknown' | 'refused';
    transaction: string | null;
    detail: string;
  };
}

export interface Settled {
  type: 'Settled';
  data: {
    intentId: string;
    sessionId: string;
    agentId: string;
    orgId: string;
    amountMicros: bigint;
    amountAtomic: bigint;
    network: string;
    transaction: string;
    payer: string;
    settledAt: string;
    /** The payee charged, and what the payer had authorized (the reservation): per payee, charged against authorized. */
    payTo?: string;
    authorizedAtomic?: bigint;
  };
}

export interface Refunded {
  type: 'Refunded';
  data: {
    intentId: string;
    sessionId: string;
    agentId: string;
    orgId: string;
    amountMicros: bigint;
    amountAtomic: bigint;
    reason: string;
  };
}

export type BudgetEvent =
  | OrgCreated
  | TeamCreated
  | AgentRegistered
  | BudgetChanged
  | PolicyChanged
  | AgentKeyChanged
  | SessionOpened
  | SessionClosed
  | Reserved
  | ApprovalRequested
  | ApprovalGranted
  | ApprovalDenied
  | LimitExceeded
  | BudgetThresholdReached
  | PaymentSigned
  | SettlementReported
  | Settled
  | Refunded
  | Frozen
  | Unfrozen
  | ShadowRefusal;

export type BudgetEventType = BudgetEvent['type'];
