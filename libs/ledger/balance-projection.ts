import type { PoolClient } from 'pg';
import type { Logger } from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { BudgetEvent } from '../domain/budget/events.js';
import type { EventStore, RecordedEvent } from '../eventstore/event-store.js';
import { LogSubscription, streamLog, type CheckpointStore } from '../eventstore/log-subscription.js';
import { ApiProblem } from '../platform/problem.js';
import { addRefusal, addSpend, applyFreeze, applyShadowRefusal, CONSOLE_READ_MODEL_TABLES } from './console-read-models.js';

// The live-balance read model. Each org stream is applied in stream order from its own
// checkpoint, stored in the same transaction as the rows it changed. Stream versions have
// no gaps, so a reader never skips an event, and a request can catch its own org up before
// reading (read-your-writes) without waiting for a background loop.
//
// An event the model cannot apply (a bug, or a value a column cannot hold) stops its org
// only: the org's model stays at the event before, the failure is logged with the event,
// counted and recorded in projection_failures, the org's reads answer 503
// `projection_stalled` at once, and every other org goes on. The org is tried again with a
// growing delay, so once the cause is fixed it resumes by itself.

// Short transactions: a long one holds back every reader of the log (relay, worker) until it ends.
const PAGE_SIZE = 100;
/** Streams caught up per call of `catchUpAll` at most. */
const STREAMS_PER_ROUND_MAX = 1_000;
const RETRY_DELAY_MS_MIN = 5_000;
const RETRY_DELAY_MS_MAX = 5 * 60_000;
/** SQLSTATE classes that say the event or the model is at fault, not the database's availability. */
const EVENT_FAULT_SQLSTATE = /^(?:22|23|42|54|P0)[0-9A-Z]{3}$/;

interface StreamFailure {
  streamVersion: number;
  eventType: string;
  retryAtMs: number;
}

/** The org's read model is stopped at an event it cannot apply; other orgs are not affected. */
export class ProjectionStalledError extends ApiProblem {
  constructor(
    readonly streamId: string,
    failure: StreamFailure,
  ) {
    super('projection_stalled', `the read model of this org stopped before event ${failure.streamVersion} (${failure.eventType}), which it cannot apply; operators are alerted, and it resumes by itself once that is fixed`, {
      streamVersion: failure.streamVersion,
      eventType: failure.eventType,
      retryAt: new Date(failure.retryAtMs).toISOString(),
    });
    this.name = 'ProjectionStalledError';
  }
}

/** Thrown inside a page's transaction: which event could not be applied, and why. */
class ApplyFailure extends Error {
  constructor(
    readonly index: number,
    readonly event: RecordedEvent,
    readonly fault: unknown,
  ) {
    super(`applying ${event.type} at version ${event.streamVersion} of ${event.streamId} failed`);
  }
}

export interface BalanceProjectionOptions {
  logger?: Logger;
  registry?: Registry;
  now?: () => number;
}

export class BalanceProjection {
  /** Streams this process found stalled, until their next try. */
  private readonly stalled = new Map<string, StreamFailure>();
  private readonly failures: Counter | undefined;
  private readonly now: () => number;

  constructor(
    private readonly store: EventStore,
    private readonly options: BalanceProjectionOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    const registry = options.registry;
    if (registry !== undefined) {
      this.failures = new Counter({ name: 'paybound_projection_failures_total', help: 'Times the balance projection could not apply an org event (the org stops there, the others go on)', registers: [registry] });
      const pool = store.pool;
      new Gauge({
        name: 'paybound_projection_stalled_streams',
        help: 'Org streams whose balance projection is stopped at an event it cannot apply (projection_failures)',
        registers: [registry],
        async collect() {
          const result = await pool.query<{ count: string }>('SELECT count(*) FROM projection_failures');
          this.set(Number(result.rows[0]?.count ?? 0));
        },
      });
    }
  }

  /**
   * Applies every committed event of one stream not yet in the read model. Throws
   * ProjectionStalledError, without touching the database, while the stream is stalled and
   * not yet due for another try.
   */
  async catchUpStream(streamId: string): Promise<number> {
    const known = this.stalled.get(streamId);
    if (known !== undefined && known.retryAtMs > this.now()) throw new ProjectionStalledError(streamId, known);
    const subscription = new LogSubscription(this.store, { reader: streamLog(this.store, streamId), checkpoint: streamCheckpoint(streamId), pageSize: PAGE_SIZE });
    let applied = 0;
    for (;;) {
      let count: number;
      try {
        ({ readCount: count } = await subscription.handlePageInTransaction(async (client, page) => {
          for (const [index, event] of page.entries()) {
            try {
              await applyEvent(client, event as RecordedEvent<BudgetEvent['data']>);
            } catch (error) {
              throw new ApplyFailure(index, event, error);
            }
          }
        }));
      } catch (error) {
        if (!(error instanceof ApplyFailure) || !isEventFault(error.fault)) throw error instanceof ApplyFailure ? error.fault : error;
        return this.stall(streamId, subscription, error);
      }
      applied += count;
      if (count < PAGE_SIZE) break;
    }
    if (known !== undefined) {
      this.stalled.delete(streamId);
      this.options.logger?.info({ streamId }, 'balance projection resumed');
    }
    return applied;
  }

  /**
   * Catches up every stream that has moved past its checkpoint, except stalled ones not yet
   * due for another try. One stream's failure never stops the others.
   */
  async catchUpAll(): Promise<number> {
    const behind = await this.store.pool.query<{ stream_id: string }>(
      `SELECT s.stream_id FROM streams s LEFT JOIN projection_checkpoints p USING (stream_id)
       WHERE s.version > COALESCE(p.version, 0) AND s.stream_id LIKE 'org-%'
         AND NOT EXISTS (SELECT 1 FROM projection_failures f WHERE f.stream_id = s.stream_id AND f.retry_at > now())
       LIMIT ${STREAMS_PER_ROUND_MAX}`,
    );
    let applied = 0;
    for (const row of behind.rows) {
      // A stream stalled by another process is tried here when due; one due here is tried too.
      this.stalled.delete(row.stream_id);
      try {
        applied += await this.catchUpStream(row.stream_id);
      } catch (error) {
        if (!(error instanceof ProjectionStalledError)) throw error;
      }
    }
    return applied;
  }

  /** Empties the read model and replays the whole log into it. */
  async rebuild(): Promise<number> {
    await this.store.transaction(async (client) => {
      await client.query(`TRUNCATE projection_checkpoints, budget_balances, sessions_view, payments_view, wallet_holds, projection_failures, ${CONSOLE_READ_MODEL_TABLES.join(', ')}`);
    });
    this.stalled.clear();
    let applied = 0;
    for (;;) {
      const count = await this.catchUpAll();
      applied += count;
      if (count === 0) return applied;
    }
  }

  /**
   * The stream stops right before the event that failed: the events of its page before it are
   * applied, the failure is recorded (and its next try planned), logged and counted.
   */
  private async stall(streamId: string, subscription: LogSubscription<number>, failure: ApplyFailure): Promise<never> {
    if (failure.index > 0) {
      const upTo = failure.event.streamVersion - 1;
      await subscription.handlePageInTransaction(async (client, page) => {
        for (const event of page) if (event.streamVersion <= upTo) await applyEvent(client, event as RecordedEvent<BudgetEvent['data']>);
        return Math.min(upTo, page.at(-1)?.streamVersion ?? upTo);
      });
    }
    const { event, fault } = failure;
    const sqlstate = (fault as { code?: unknown }).code;
    const message = String((fault as Error | undefined)?.message ?? fault).slice(0, 500);
    const recorded = await this.store.pool.query<{ attempts: number; retry_at: Date }>(
      `INSERT INTO projection_failures (stream_id, stream_version, event_id, event_type, sqlstate, error, attempts, first_failed_at, last_failed_at, retry_at)
       VALUES ($1, $2, $3, $4, $5, $6, 1, now(), now(), now() + make_interval(secs => $7 / 1000.0))
       ON CONFLICT (stream_id) DO UPDATE SET stream_version = EXCLUDED.stream_version, event_id = EXCLUDED.event_id, event_type = EXCLUDED.event_type,
         sqlstate = EXCLUDED.sqlstate, error = EXCLUDED.error, attempts = projection_failures.attempts + 1, last_failed_at = now(),
         retry_at = now() + make_interval(secs => least($8, $7 * power(2, least(projection_failures.attempts, 16))) / 1000.0)
       RETURNING attempts, retry_at`,
      [streamId, event.streamVersion, event.eventId, event.type, typeof sqlstate === 'string' ? sqlstate : null, message, RETRY_DELAY_MS_MIN, RETRY_DELAY_MS_MAX],
    );
    const row = recorded.rows[0];
    const stalled: StreamFailure = { streamVersion: event.streamVersion, eventType: event.type, retryAtMs: row?.retry_at.getTime() ?? this.now() + RETRY_DELAY_MS_MIN };
    this.stalled.set(streamId, stalled);
    this.failures?.inc();
    this.options.logger?.error(
      { streamId, streamVersion: event.streamVersion, eventId: event.eventId, eventType: event.type, sqlstate, err: { message }, attempts: row?.attempts, retryAt: new Date(stalled.retryAtMs).toISOString() },
      'balance projection cannot apply an event: this org is stopped there, the others go on',
    );
    throw new ProjectionStalledError(streamId, stalled);
  }
}

/**
 * An org's checkpoint in projection_checkpoints, locked by the page's transaction so that two
 * processes never apply the same events. Moving it clears the org's recorded failure.
 */
function streamCheckpoint(streamId: string): CheckpointStore<number> {
  return {
    async load(client) {
      await client.query('INSERT INTO projection_checkpoints (stream_id, version) VALUES ($1, 0) ON CONFLICT DO NOTHING', [streamId]);
      const checkpoint = await client.query<{ version: string }>('SELECT version FROM projection_checkpoints WHERE stream_id = $1 FOR UPDATE', [streamId]);
      return Number(checkpoint.rows[0]?.version ?? 0);
    },
    async save(client, version) {
      await client.query(
        `WITH cleared AS (DELETE FROM projection_failures WHERE stream_id = $1 AND stream_version <= $2)
         UPDATE projection_checkpoints SET version = $2 WHERE stream_id = $1`,
        [streamId, version],
      );
    },
  };
}

function isEventFault(error: unknown): boolean {
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && EVENT_FAULT_SQLSTATE.test(code);
}

async function applyEvent(client: PoolClient, event: RecordedEvent<BudgetEvent['data']>): Promise<void> {
  const typed = { type: event.type, data: event.data } as BudgetEvent;
  const at = event.occurredAt;
  switch (typed.type) {
    case 'OrgCreated':
      await upsertBudget(client, typed.data.orgId, 'org', typed.data.orgId, typed.data.name, typed.data.limitMicros);
      return;
    case 'TeamCreated':
      await upsertBudget(client, typed.data.orgId, 'team', typed.data.teamId, typed.data.name, typed.data.limitMicros);
      return;
    case 'AgentRegistered':
      await upsertBudget(client, typed.data.orgId, 'agent', typed.data.agentId, typed.data.name, typed.data.limitMicros);
      return;
    case 'BudgetChanged':
      // A new kind of period starts counting afresh, as in the domain's evolve.
      await client.query(
        `UPDATE budget_balances SET limit_micros = $4,
           spent_micros = CASE WHEN period = $5 THEN spent_micros ELSE 0 END,
           period_key = CASE WHEN period = $5 THEN period_key ELSE '' END,
           period = $5
         WHERE org_id = $1 AND level = $2 AND level_id = $3`,
        [typed.data.orgId, typed.data.level, typed.data.levelId, typed.data.after.limitMicros?.toString() ?? null, typed.data.after.period],
      );
      return;
    case 'PolicyChanged':
    case 'AgentKeyChanged':
      // Policies and keys are read from the decision state and the audit log, not from this model.
      return;
    case 'SessionOpened': {
      const d = typed.data;
      await client.query(
        `INSERT INTO sessions_view (session_id, org_id, agent_id, team_id, limit_micros, max_payments, status, expires_at, metadata, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $9) ON CONFLICT (session_id) DO NOTHING`,
        [d.sessionId, d.orgId, d.agentId, d.teamId, d.limitMicros.toString(), d.maxPayments, d.expiresAt, JSON.stringify(d.metadata), at],
      );
      return;
    }
    case 'SessionClosed':
      await client.query(`UPDATE sessions_view SET status = 'closed', updated_at = $2 WHERE session_id = $1`, [typed.data.sessionId, at]);
      return;
    case 'Reserved':
    case 'ApprovalRequested': {
      const d = typed.data;
      const expiresAt = typed.type === 'ApprovalRequested' ? typed.data.approvalExpiresAt : null;
      // An approved payment's row exists since its request, with its money already held.
      const row = await client.query<{ inserted: boolean }>(
        `INSERT INTO payments_view (intent_id, org_id, session_id, agent_id, status, amount_micros, amount_atomic, asset, network, pay_to, resource, valid_before, approval_expires_at, created_at, updated_at, traceparent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15)
         ON CONFLICT (intent_id) DO UPDATE SET status = 'reserved', approval_expires_at = NULL, updated_at = EXCLUDED.updated_at,
             traceparent = COALESCE(EXCLUDED.traceparent, payments_view.traceparent)
           WHERE payments_view.status = 'awaiting_approval'
         RETURNING (xmax = 0) AS inserted`,
        [
          d.intentId,
          d.orgId,
          d.sessionId,
          d.agentId,
          typed.type === 'Reserved' ? 'reserved' : 'awaiting_approval',
          d.amountMicros.toString(),
          d.amountAtomic.toString(),
          d.asset,
          d.network,
          d.payTo,
          d.resource,
          d.validBefore,
          expiresAt,
          at,
          event.metadata.traceparent ?? null,
        ],
      );
      if (row.rows[0]?.inserted === true) {
        await moveMoney(client, d.orgId, d.sessionId, d.agentId, d.teamId, d.amountMicros, 0n, at, 1);
        await client.query(
          `INSERT INTO wallet_holds (org_id, network, asset, held_atomic) VALUES ($1, $2, lower($3), $4)
           ON CONFLICT (network, asset, org_id) DO UPDATE SET held_atomic = wallet_holds.held_atomic + EXCLUDED.held_atomic`,
          [d.orgId, d.network, d.asset, d.amountAtomic.toString()],
        );
        await addSpend(client, d.intentId, at, { reservedMicros: d.amountMicros, payments: 1 });
      }
      return;
    }
    case 'ApprovalGranted':
      return;
    case 'ApprovalDenied': {
      const d = typed.data;
      await releaseWalletHold(client, d.intentId);
      await client.query(
        `UPDATE payments_view SET status = 'rejected', reason = $2, approval_expires_at = NULL, updated_at = $4,
           refusal = jsonb_build_object('level', 'policy', 'code', $3::text, 'limitMicros', NULL, 'requestedMicros', amount_micros::text, 'remainingMicros', NULL)
         WHERE intent_id = $1`,
        [d.intentId, d.reason === 'timeout' ? 'approval_timeout' : 'approval_denied', d.code, at],
      );
      await addRefusal(client, d.orgId, d.intentId, d.code, at);
      return;
    }
    case 'LimitExceeded': {
      const d = typed.data;
      const refusal = { level: d.level, code: d.code, limitMicros: d.limitMicros?.toString() ?? null, requestedMicros: d.requestedMicros.toString(), remainingMicros: d.remainingMicros?.toString() ?? null };
      await client.query(
        `INSERT INTO payments_view (intent_id, org_id, session_id, agent_id, status, amount_micros, resource, reason, refusal, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'rejected', $5, $6, $7, $8, $9, $9)`,
        [d.intentId, d.orgId, d.sessionId, d.agentId, d.requestedMicros.toString(), d.resource, d.code, JSON.stringify(refusal), at],
      );
      await addRefusal(client, d.orgId, d.intentId, d.code, at);
      return;
    }
    case 'PaymentSigned': {
      const d = typed.data;
      await client.query(
        `UPDATE payments_view SET status = 'signed', payer = $2, nonce = $3, valid_before = $4, updated_at = $5 WHERE intent_id = $1 AND status = 'reserved'`,
        [d.intentId, d.payer, d.nonce, d.validBefore, at],
      );
      return;
    }
    case 'SettlementReported': {
      const d = typed.data;
      await client.query(
        `UPDATE payments_view SET status = CASE WHEN status = 'signed' AND $2 <> 'paid' THEN 'unknown' ELSE status END,
           reported_transaction = COALESCE($3, reported_transaction), reason = CASE WHEN $2 <> 'paid' THEN $4 ELSE reason END, updated_at = $5,
           traceparent = COALESCE($6, traceparent)
         WHERE intent_id = $1`,
        [d.intentId, d.outcome, d.transaction, d.detail, at, event.metadata.traceparent ?? null],
      );
      return;
    }
    case 'Settled': {
      const d = typed.data;
      await releaseWalletHold(client, d.intentId);
      const payment = await client.query<{ team_id: string | null }>(
        `UPDATE payments_view p SET status = 'settled', transaction = $2, payer = $3, amount_micros = $5, amount_atomic = $6, reason = NULL, updated_at = $4
         FROM sessions_view s WHERE p.intent_id = $1 AND s.session_id = p.session_id RETURNING s.team_id`,
        [d.intentId, d.transaction, d.payer, at, d.amountMicros.toString(), d.amountAtomic.toString()],
      );
      await moveMoney(client, d.orgId, d.sessionId, d.agentId, payment.rows[0]?.team_id ?? null, -d.amountMicros, d.amountMicros, at, 0, d.settledAt);
      await addSpend(client, d.intentId, at, { spentMicros: d.amountMicros });
      return;
    }
    case 'Refunded': {
      const d = typed.data;
      await releaseWalletHold(client, d.intentId);
      const payment = await client.query<{ team_id: string | null }>(
        `UPDATE payments_view p SET status = CASE WHEN p.status IN ('settled', 'rejected') THEN p.status ELSE 'refunded' END,
           reason = CASE WHEN p.status = 'rejected' THEN p.reason ELSE $2 END, updated_at = $3
         FROM sessions_view s WHERE p.intent_id = $1 AND s.session_id = p.session_id RETURNING s.team_id`,
        [d.intentId, d.reason, at],
      );
      await moveMoney(client, d.orgId, d.sessionId, d.agentId, payment.rows[0]?.team_id ?? null, -d.amountMicros, 0n, at, 0);
      await addSpend(client, d.intentId, at, { refundedMicros: d.amountMicros });
      return;
    }
    case 'BudgetThresholdReached':
      // An alert: balances do not change; webhooks and Kafka consumers act on it.
      return;
    case 'Frozen':
    case 'Unfrozen':
      await applyFreeze(client, typed, event.metadata.actor, at);
      return;
    case 'ShadowRefusal':
      await applyShadowRefusal(client, typed, at);
      return;
    default: {
      const _never: never = typed;
      return;
    }
  }
}

async function upsertBudget(client: PoolClient, orgId: string, level: string, levelId: string, name: string, limitMicros: bigint | null): Promise<void> {
  await client.query(
    `INSERT INTO budget_balances (org_id, level, level_id, name, limit_micros) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (org_id, level, level_id) DO UPDATE SET name = EXCLUDED.name, limit_micros = EXCLUDED.limit_micros`,
    [orgId, level, levelId, name, limitMicros?.toString() ?? null],
  );
}

/**
 * A payment leaving the open set no longer holds its amount in the wallet. Called before the
 * update that moves it out, and a no-op for one that is not open (a retry, a refund after a
 * settlement), so each payment releases its hold exactly once.
 */
async function releaseWalletHold(client: PoolClient, intentId: string): Promise<void> {
  await client.query(
    `UPDATE wallet_holds h SET held_atomic = h.held_atomic - p.amount_atomic FROM payments_view p
     WHERE p.intent_id = $1 AND p.status IN ('awaiting_approval', 'reserved', 'signed', 'unknown')
       AND h.org_id = p.org_id AND h.network = p.network AND h.asset = lower(p.asset)`,
    [intentId],
  );
}

/** The row's period key for the time in $6, as the domain's `periodKeyAt` computes it. */
const PERIOD_KEY_OF_SETTLED_AT = "CASE period WHEN 'day' THEN left($6::text, 10) WHEN 'month' THEN left($6::text, 7) ELSE '' END";

/** Adds to reserved and spent on the session and every budget level above it. */
async function moveMoney(
  client: PoolClient,
  orgId: string,
  sessionId: string,
  agentId: string,
  teamId: string | null,
  reservedDeltaMicros: bigint,
  spentDeltaMicros: bigint,
  at: string,
  paymentsDelta: number,
  settledAt: string | null = null,
): Promise<void> {
  await client.query(
    `UPDATE sessions_view SET reserved_micros = reserved_micros + $2, spent_micros = spent_micros + $3,
       payments_count = payments_count + $4, updated_at = $5 WHERE session_id = $1`,
    [sessionId, reservedDeltaMicros.toString(), spentDeltaMicros.toString(), paymentsDelta, at],
  );
  if (settledAt === null) {
    await client.query(
      `UPDATE budget_balances SET reserved_micros = reserved_micros + $4, spent_micros = spent_micros + $5
       WHERE org_id = $1 AND ((level = 'org' AND level_id = $1) OR (level = 'agent' AND level_id = $2) OR (level = 'team' AND level_id = $3))`,
      [orgId, agentId, teamId, reservedDeltaMicros.toString(), spentDeltaMicros.toString()],
    );
    return;
  }
  // A settlement counts in the period it settled in: the first one of a new period starts
  // that period's spend from zero (the domain's evolve does the same on Settled).
  await client.query(
    `UPDATE budget_balances SET reserved_micros = reserved_micros + $4,
       spent_micros = CASE WHEN period_key = ${PERIOD_KEY_OF_SETTLED_AT} THEN spent_micros + $5 ELSE $5 END,
       period_key = ${PERIOD_KEY_OF_SETTLED_AT}
     WHERE org_id = $1 AND ((level = 'org' AND level_id = $1) OR (level = 'agent' AND level_id = $2) OR (level = 'team' AND level_id = $3))`,
    [orgId, agentId, teamId, reservedDeltaMicros.toString(), spentDeltaMicros.toString(), settledAt],
  );
}
