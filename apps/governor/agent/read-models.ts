import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import type { RefusalCode, Reserved } from '../../../libs/domain/budget/events.js';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import type { RecordedEvent } from '../../../libs/eventstore/event-store.js';
import { BalanceProjection } from '../../../libs/ledger/balance-projection.js';
import { remainingOverLevelsMicros, type BudgetBalanceRow } from '../../../libs/ledger/budget-balance.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';

export interface SessionView {
  id: string;
  agentId: string;
  limit: string;
  reserved: string;
  spent: string;
  remaining: string;
  status: 'open' | 'expired' | 'closed';
  expiresAt: string;
  payments: number;
  maxPayments: number | null;
  metadata: Record<string, string>;
  createdAt: string;
}

export interface PaymentView {
  id: string;
  sessionId: string;
  status: 'awaiting_approval' | 'reserved' | 'signed' | 'settled' | 'refunded' | 'rejected' | 'unknown';
  amount: string;
  amountAtomic: string | null;
  asset: string | null;
  network: string | null;
  payTo: string | null;
  resource: string | null;
  validBefore: string | null;
  transaction: string | null;
  reason: string | null;
  /** Why and where the payment was refused, with the figures, when status is `rejected`. */
  refusal: { level: string; code: RefusalCode; limit: string | null; requested: string; remaining: string | null } | null;
  createdAt: string;
}

interface SessionRow {
  session_id: string;
  agent_id: string;
  team_id: string | null;
  limit_micros: string;
  reserved_micros: string;
  spent_micros: string;
  payments_count: number;
  max_payments: number | null;
  status: 'open' | 'closed';
  expires_at: Date;
  metadata: Record<string, string>;
  created_at: Date;
}

interface PaymentRow {
  intent_id: string;
  session_id: string;
  status: PaymentView['status'];
  amount_micros: string;
  amount_atomic: string | null;
  asset: string | null;
  network: string | null;
  pay_to: string | null;
  resource: string | null;
  valid_before: Date | null;
  transaction: string | null;
  reason: string | null;
  refusal: { level: string; code: RefusalCode; limitMicros: string | null; requestedMicros: string; remainingMicros: string | null } | null;
  created_at: Date;
}

/**
 * Reads of the balance projection. Each read first applies the caller's org stream up to
 * its latest commit, so an agent always sees its own writes. Agent ids are unique within an
 * org only: every read is keyed by org and agent, never by agent alone.
 */
@Injectable()
export class ReadModels {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
  ) {}

  async session(orgId: string, agentId: string, sessionId: string, now: Date): Promise<SessionView | undefined> {
    await this.projection.catchUpStream(orgStreamId(orgId));
    const result = await this.pool.query<SessionRow>('SELECT * FROM sessions_view WHERE session_id = $1 AND org_id = $2 AND agent_id = $3', [sessionId, orgId, agentId]);
    const row = result.rows[0];
    if (row === undefined) return undefined;
    // The session's own remainder is not all it can use: every level above may have less.
    const levels = await this.pool.query<BudgetBalanceRow>(
      `SELECT limit_micros, reserved_micros, spent_micros, period, period_key FROM budget_balances
       WHERE org_id = $1 AND ((level = 'org' AND level_id = $1) OR (level = 'agent' AND level_id = $2) OR (level = 'team' AND level_id = $3))`,
      [orgId, row.agent_id, row.team_id],
    );
    return toSessionView(row, levels.rows, now);
  }

  async payment(orgId: string, agentId: string, intentId: string): Promise<PaymentView | undefined> {
    await this.projection.catchUpStream(orgStreamId(orgId));
    const result = await this.pool.query<PaymentRow>('SELECT * FROM payments_view WHERE intent_id = $1 AND org_id = $2 AND agent_id = $3', [intentId, orgId, agentId]);
    const row = result.rows[0];
    return row === undefined ? undefined : toPaymentView(row);
  }
}

function toSessionView(row: SessionRow, levels: readonly BudgetBalanceRow[], now: Date): SessionView {
  const limit = BigInt(row.limit_micros);
  const reserved = BigInt(row.reserved_micros);
  const spent = BigInt(row.spent_micros);
  const remaining = remainingOverLevelsMicros(limit - reserved - spent, levels, now);
  return {
    id: row.session_id,
    agentId: row.agent_id,
    limit: formatUsdMicros(limit),
    reserved: formatUsdMicros(reserved),
    spent: formatUsdMicros(spent),
    remaining: formatUsdMicros(remaining),
    status: row.status === 'closed' ? 'closed' : row.expires_at <= now ? 'expired' : 'open',
    expiresAt: row.expires_at.toISOString(),
    payments: row.payments_count,
    maxPayments: row.max_payments,
    metadata: row.metadata,
    createdAt: row.created_at.toISOString(),
  };
}

function toPaymentView(row: PaymentRow): PaymentView {
  return {
    id: row.intent_id,
    sessionId: row.session_id,
    status: row.status,
    amount: formatUsdMicros(BigInt(row.amount_micros)),
    amountAtomic: row.amount_atomic,
    asset: row.asset,
    network: row.network,
    payTo: row.pay_to,
    resource: row.resource,
    validBefore: row.valid_before?.toISOString() ?? null,
    transaction: row.transaction,
    reason: row.reason,
    refusal:
      row.refusal === null
        ? null
        : {
            level: row.refusal.level,
            code: row.refusal.code,
            limit: usdOrNull(row.refusal.limitMicros),
            requested: formatUsdMicros(BigInt(row.refusal.requestedMicros)),
            remaining: usdOrNull(row.refusal.remainingMicros),
          },
    createdAt: row.created_at.toISOString(),
  };
}

function usdOrNull(micros: string | null): string | null {
  return micros === null ? null : formatUsdMicros(BigInt(micros));
}

/** The payment as its Reserved (or ApprovalRequested) event created it: what the projection will show next. */
export function paymentFromReserved(event: RecordedEvent<Reserved['data']>): PaymentView {
  const d = event.data;
  return {
    id: d.intentId,
    sessionId: d.sessionId,
    status: event.type === 'ApprovalRequested' ? 'awaiting_approval' : 'reserved',
    amount: formatUsdMicros(d.amountMicros),
    amountAtomic: d.amountAtomic.toString(),
    asset: d.asset,
    network: d.network,
    payTo: d.payTo,
    resource: d.resource,
    validBefore: new Date(d.validBefore).toISOString(),
    transaction: null,
    reason: null,
    refusal: null,
    createdAt: event.occurredAt,
  };
}
