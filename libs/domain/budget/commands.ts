import type { Policy } from './policy.js';

// Commands carry everything the decision needs, time and ids included, so that decide()
// stays pure and a replayed command decides the same way.

export type BudgetLevel = 'session' | 'agent' | 'team' | 'org';

/** A client's Idempotency-Key and a hash of the request it came with. */
export interface IdempotencyClaim {
  key: string;
  requestHash: string;
}

export interface CommandBase {
  orgId: string;
  /** Who asks: `agent:<id>`, `admin:<id>`, `worker:<id>` or `system`. */
  actor: string;
  /** ISO-8601 instant of the decision, supplied by the caller. */
  at: string;
}

export interface CreateOrg extends CommandBase {
  type: 'CreateOrg';
  name: string;
  limitMicros: bigint | null;
}

export interface CreateTeam extends CommandBase {
  type: 'CreateTeam';
  teamId: string;
  name: string;
  limitMicros: bigint | null;
}

export interface RegisterAgent extends CommandBase {
  type: 'RegisterAgent';
  agentId: string;
  teamId: string | null;
  name: string;
  limitMicros: bigint | null;
}

export type BudgetPeriod = 'none' | 'day' | 'month';

export interface ChangeBudget extends CommandBase {
  type: 'ChangeBudget';
  level: Exclude<BudgetLevel, 'session'>;
  /** The id of the org, team or agent whose budget changes. */
  levelId: string;
  limitMicros: bigint | null;
  /** `day` and `month` budgets start again at each UTC day or month. */
  period: BudgetPeriod;
}

export interface ChangePolicy extends CommandBase {
  type: 'ChangePolicy';
  level: Exclude<BudgetLevel, 'session'>;
  levelId: string;
  policy: Policy;
  /** The version the editor saw (its ETag); null skips the check. */
  expectedVersion: number | null;
  /**
   * `shadow` edits the level's shadow policy, which decides nothing and only records what it
   * would have refused; absent or `enforce` edits the policy in force.
   */
  mode?: PolicyMode;
}

export type PolicyMode = 'enforce' | 'shadow';

/** The level's shadow policy becomes the one in force, and the level has no shadow any more. */
export interface PromoteShadowPolicy extends CommandBase {
  type: 'PromoteShadowPolicy';
  level: Exclude<BudgetLevel, 'session'>;
  levelId: string;
  /** The shadow's version the editor saw (its ETag); null skips the check. */
  expectedShadowVersion: number | null;
}

/** The kill switch: no new payment or session under the level until it is unfrozen. */
export interface FreezeLevel extends CommandBase {
  type: 'FreezeLevel';
  level: Exclude<BudgetLevel, 'session'>;
  levelId: string;
  reason: string;
}

export interface UnfreezeLevel extends CommandBase {
  type: 'UnfreezeLevel';
  level: Exclude<BudgetLevel, 'session'>;
  levelId: string;
  reason: string;
}

/** An agent's API key was issued, rotated or revoked; the key itself never enters the log. */
export interface ChangeAgentKey extends CommandBase {
  type: 'ChangeAgentKey';
  agentId: string;
  change: 'issued' | 'rotated' | 'revoked';
}

export interface OpenSession extends CommandBase {
  type: 'OpenSession';
  sessionId: string;
  agentId: string;
  limitMicros: bigint;
  expiresAt: string;
  maxPayments: number | null;
  metadata: Record<string, string>;
  idempotency: IdempotencyClaim | null;
  /**
   * The most sessions the agent may have open at once (not closed, not expired), this one
   * included; absent or null for no cap. A deployment setting, carried by the command so that
   * every governor decides it alike.
   */
  openSessionsMax?: number | null;
}

/** The agent closes its session to new payments; payments already under way finish. */
export interface CloseSession extends CommandBase {
  type: 'CloseSession';
  sessionId: string;
  agentId: string;
}

export interface Reserve extends CommandBase {
  type: 'Reserve';
  intentId: string;
  sessionId: string;
  agentId: string;
  amountMicros: bigint;
  amountAtomic: bigint;
  asset: string;
  network: string;
  payTo: string;
  resource: string;
  method: string;
  validBefore: string;
  idempotency: IdempotencyClaim | null;
  /**
   * What the paying wallet can still cover in this asset (its on-chain balance less what open
   * payments hold), as the caller read it; absent or null when its funding is not known.
   */
  walletAvailableAtomic?: bigint | null;
  /** The most the request itself agrees to pay (pay-and-fetch `maxPrice`); absent or null for none. */
  maxPriceMicros?: bigint | null;
  /**
   * The rail the payment goes by and every option the 402 offered (libs/rails); absent for a
   * caller that predates rails, which pays x402 `exact` over EIP-3009.
   */
  rail?: PaymentRail;
  /**
   * Permit2 rails: what the wallet has allowed canonical Permit2 to move of this asset, as
   * the caller read it; absent or null when unknown (then the chain refuses, not the ledger).
   */
  permit2AllowanceAtomic?: bigint | null;
  /**
   * What the loop guard counts as "the same request", when it is more than method and URL:
   * an MCP tool call is the same when its tool and arguments are (libs/mcp-pay `mcpLoopKey`). Absent
   * or null: method and URL without the fragment, as for HTTP.
   */
  loopKey?: string | null;
}

/** One option of a 402 as the audit keeps it: what was offered, and why it was not paid. */
export interface RailOptionRecord {
  id: string;
  rail: 'x402' | 'mpp';
  scheme?: string;
  method?: string;
  transfer?: string;
  network?: string;
  asset?: string;
  payTo?: string;
  maxAmountAtomic?: bigint;
  usdMicros?: bigint;
  /** Only when the option pays more than one payee. */
  payees?: { address: string; amountAtomic: bigint }[];
  /** For options not chosen: the stage that dropped it and the reason code. */
  stage?: string;
  reason?: string;
  detail?: string;
}

export interface PaymentRail {
  rail: 'x402' | 'mpp';
  /** x402: the scheme (`exact`, `upto`); MPP: the intent (`charge`). */
  scheme: string;
  transfer: 'eip3009' | 'permit2';
  /** `upto`: the seller settles any amount up to the reserved one, which is the signed maximum. */
  metered: boolean;
  chosen: RailOptionRecord;
  rejected: RailOptionRecord[];
}

/** The settlement worker signed the payment's authorization; from now on it may execute. */
export interface RecordSignature extends CommandBase {
  type: 'RecordSignature';
  intentId: string;
  scheme: string;
  payer: string;
  nonce: string;
  validAfter: string;
  validBefore: string;
  /** How the signed authorization moves the asset; absent means EIP-3009. */
  transfer?: 'eip3009' | 'permit2';
}

/**
 * What the seller answered after the payment header was sent. `paid` names a transaction to
 * verify; `unknown` (timeout, 5xx) and `refused` (402 again) leave the outcome to the chain.
 */
export interface ReportOutcome extends CommandBase {
  type: 'ReportOutcome';
  intentId: string;
  outcome: 'paid' | 'unknown' | 'refused';
  transaction: string | null;
  detail: string;
}

/** An admin's answer to a payment waiting for approval, or the timeout's (`approve: false`). */
export interface DecideApproval extends CommandBase {
  type: 'DecideApproval';
  intentId: string;
  approve: boolean;
  reason: 'approved' | 'denied' | 'timeout';
  /** The admin's own words, recorded with the decision. */
  note?: string;
}

export interface Settle extends CommandBase {
  type: 'Settle';
  intentId: string;
  /** What was actually paid, in the asset's atomic units; never more than was reserved. */
  amountAtomic: bigint;
  network: string;
  transaction: string;
  payer: string;
}

/**
 * Why held money may be released. A payment that was never signed cannot execute; a signed
 * one only when its authorization expired unused, as the chain shows at `chainTime`.
 */
export type ReleaseProof = { kind: 'never_signed' } | { kind: 'expired_unused'; chainTime: string };

export interface Release extends CommandBase {
  type: 'Release';
  intentId: string;
  reason: string;
  proof: ReleaseProof;
}

export type BudgetCommand =
  | CreateOrg
  | CreateTeam
  | RegisterAgent
  | ChangeBudget
  | ChangePolicy
  | ChangeAgentKey
  | OpenSession
  | CloseSession
  | Reserve
  | RecordSignature
  | ReportOutcome
  | DecideApproval
  | Settle
  | Release
  | PromoteShadowPolicy
  | FreezeLevel
  | UnfreezeLevel;
