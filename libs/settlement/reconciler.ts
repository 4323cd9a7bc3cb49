import type pg from 'pg';
import type { Logger } from 'pino';
import type { Address, Hex } from 'viem';
import type { EventStore, LogPosition } from '../eventstore/event-store.js';
import { committedLog, LogSubscription, namedCheckpoint } from '../eventstore/log-subscription.js';
import { paymentSpanAttributes } from '../ledger/decision-telemetry.js';
import { contextOf, inSpan } from '../platform/tracing.js';
import type { EvmChainReader } from './chain.js';
import { OPEN_PAYMENT_EVENT_TYPES, openPaymentChanges } from './open-payments.js';
import { decideReconciliation, nextCheckDelayMs } from './reconcile.js';
import { submitExpecting, WORKER_ACTOR, type WorkerDecisions } from './worker-decisions.js';
import type { WorkerMetrics } from './worker-metrics.js';

export const RECONCILER_CHECKPOINT = 'settlement-reconciler';
/** Reconciliation checks per tick at most, so one tick stays short whatever the backlog. */
const RECONCILE_CHECKS_PER_TICK_MAX = 20;
const RECONCILE_CANDIDATES_MAX = 200;
const RECONCILE_BACKOFF_MAX_MS = 2_000;
const FEED_PAGE_SIZE = 500;
/** Pages of the log taken into the table per tick at most, so a long backlog is worked off in steps. */
const FEED_PAGES_PER_TICK_MAX = 20;
// One process keeps the table at a time, per page: the lock is the page transaction's.
const FEED_LOCK_KEY = 0x7265_636e; // "recn"

export interface ReconcilerOptions {
  pool: pg.Pool;
  store: EventStore;
  decisions: WorkerDecisions;
  /** Chain access per CAIP-2 network; payments on another network wait. */
  chains: ReadonlyMap<string, EvmChainReader>;
  logger: Logger;
  intervalMs: number;
  metrics?: WorkerMetrics | undefined;
  now?: () => number;
}

interface OpenPaymentRow {
  intent_id: string;
  org_id: string;
  amount_atomic: string;
  asset: string;
  network: string;
  payer: string;
  nonce: string;
  valid_before: Date;
  reported_transaction: string | null;
  session_id: string;
  agent_id: string;
  pay_to: string;
  traceparent: string | null;
  transfer: 'eip3009' | 'permit2';
}

/**
 * Settles or releases signed payments from chain evidence. It depends on nothing but the
 * payments it reconciles: it keeps its own table of open payments from the log (from its own
 * checkpoint, in the transaction that moves it), so no read model of any org, and no other
 * org's events, can hold it up.
 */
export class Reconciler {
  private stopping = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private readonly nextCheckAtMs = new Map<string, { atMs: number; attempt: number }>();
  private readonly now: () => number;
  private readonly feed: LogSubscription<LogPosition>;

  constructor(private readonly options: ReconcilerOptions) {
    this.now = options.now ?? Date.now;
    this.feed = new LogSubscription(options.store, {
      reader: committedLog(options.store, OPEN_PAYMENT_EVENT_TYPES),
      checkpoint: namedCheckpoint(options.store, RECONCILER_CHECKPOINT),
      pageSize: FEED_PAGE_SIZE,
      tryLock: async (client) => (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [FEED_LOCK_KEY])).rows[0]?.locked === true,
    });
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.ticking !== undefined || this.stopping) return;
      this.ticking = this.reconcileOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.options.logger.warn({ err: { message: (error as Error).message } }, 'reconciliation tick failed'))
        .finally(() => {
          this.ticking = undefined;
        });
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.ticking;
  }

  /** Takes what the log says into the table of open payments, a bounded number of pages; returns the events read. */
  async catchUpOpenPayments(): Promise<number> {
    let readCount = 0;
    for (let page = 0; page < FEED_PAGES_PER_TICK_MAX; page++) {
      const outcome = await this.feed.handlePageInTransaction(async (client, events) => {
        const { inserts, updates, deletes } = openPaymentChanges(events);
        const at = new Date(this.now());
        if (deletes.length > 0) await client.query('DELETE FROM settlement_open_payments WHERE intent_id = ANY($1::text[])', [deletes]);
        if (inserts.length > 0) {
          const column = <T>(read: (entry: (typeof inserts)[number]) => T): T[] => inserts.map(read);
          await client.query(
            `INSERT INTO settlement_open_payments (intent_id, org_id, session_id, agent_id, amount_atomic, asset, network, pay_to, payer, nonce, valid_before, reported_transaction, traceparent, transfer, updated_at)
             SELECT *, $13::timestamptz FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[], $14::text[], $15::text[])
             ON CONFLICT (intent_id) DO NOTHING`,
            [
              column((e) => e.row.intentId),
              column((e) => e.row.orgId),
              column((e) => e.row.sessionId),
              column((e) => e.row.agentId),
              column((e) => e.row.amountAtomic.toString()),
              column((e) => e.row.asset),
              column((e) => e.row.network),
              column((e) => e.row.payTo),
              column((e) => e.update.payer),
              column((e) => e.update.nonce),
              column((e) => e.update.validBefore),
              column((e) => e.update.reportedTransaction),
              at,
              column((e) => e.update.traceparent),
              column((e) => e.row.transfer),
            ],
          );
        }
        if (updates.length > 0) {
          await client.query(
            `UPDATE settlement_open_payments p SET payer = COALESCE(u.payer, p.payer), nonce = COALESCE(u.nonce, p.nonce), valid_before = COALESCE(u.valid_before, p.valid_before),
               reported_transaction = COALESCE(u.reported_transaction, p.reported_transaction), traceparent = COALESCE(u.traceparent, p.traceparent), updated_at = $7
             FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[]) AS u(intent_id, payer, nonce, valid_before, reported_transaction, traceparent)
             WHERE p.intent_id = u.intent_id`,
            [updates.map((u) => u.intentId), updates.map((u) => u.payer), updates.map((u) => u.nonce), updates.map((u) => u.validBefore), updates.map((u) => u.reportedTransaction), updates.map((u) => u.traceparent), at],
          );
        }
      });
      readCount += outcome.readCount;
      if (!outcome.locked || outcome.readCount < FEED_PAGE_SIZE || this.stopping) break;
    }
    return readCount;
  }

  /** Settles or releases signed payments from chain evidence; a bounded amount of work per call. */
  async reconcileOnce(): Promise<number> {
    const { pool, logger } = this.options;
    // The table is brought up to date first; if that fails, the payments already in it are
    // still reconciled.
    await this.catchUpOpenPayments().catch((error: unknown) => logger.warn({ err: { message: (error as Error).message } }, 'reading open payments from the log failed; reconciling the known ones'));
    const open = await pool.query<OpenPaymentRow>(
      `SELECT intent_id, org_id, amount_atomic, asset, network, payer, nonce, valid_before, reported_transaction, session_id, agent_id, pay_to, traceparent, transfer
       FROM settlement_open_payments WHERE payer IS NOT NULL AND nonce IS NOT NULL
       ORDER BY updated_at LIMIT ${RECONCILE_CANDIDATES_MAX}`,
    );
    const nowMs = this.now();
    const checked: string[] = [];
    const seen = new Set<string>();
    for (const row of open.rows) {
      seen.add(row.intent_id);
      if (checked.length >= RECONCILE_CHECKS_PER_TICK_MAX || this.stopping) continue;
      const due = this.nextCheckAtMs.get(row.intent_id);
      if (due !== undefined && due.atMs > nowMs) continue;
      const chain = this.options.chains.get(row.network);
      if (chain === undefined) continue;
      checked.push(row.intent_id);
      await this.reconcile(row, chain, due?.attempt ?? 0, nowMs);
    }
    // Those looked at go to the back of the line, so that a backlog of payments that must
    // wait (long validity) cannot keep newer ones from being looked at.
    if (checked.length > 0) await pool.query('UPDATE settlement_open_payments SET updated_at = $2 WHERE intent_id = ANY($1::text[])', [checked, new Date(this.now())]);
    // Forget payments that are no longer open, so the map stays as small as the open set.
    for (const intentId of this.nextCheckAtMs.keys()) if (!seen.has(intentId)) this.nextCheckAtMs.delete(intentId);
    return checked.length;
  }

  private async reconcile(row: OpenPaymentRow, chain: EvmChainReader, attemptsBefore: number, nowMs: number): Promise<void> {
    const { logger, decisions } = this.options;
    const observation = await chain.observe({
      asset: row.asset as Address,
      payer: row.payer as Address,
      nonce: row.nonce as Hex,
      transfer: row.transfer,
      payTo: row.pay_to as Address,
      reportedTransaction: row.reported_transaction !== null && /^0x[0-9a-fA-F]{64}$/.test(row.reported_transaction) ? (row.reported_transaction as Hex) : null,
    });
    const decision = decideReconciliation({ amountAtomic: BigInt(row.amount_atomic), validBeforeSec: Math.floor(row.valid_before.getTime() / 1000) }, observation);
    const at = new Date(this.now()).toISOString();
    this.options.metrics?.reconciliations.inc({ result: decision.kind === 'settle' ? 'settled' : decision.kind === 'release' ? 'released' : `waiting_${decision.reason}` });
    // A settlement span joins the trace of the payment's latest traced decision.
    const settlementSpan = (outcome: string, extra: Record<string, string>) => ({
      parent: contextOf({ traceparent: row.traceparent ?? undefined }),
      attributes: {
        ...paymentSpanAttributes({ intentId: row.intent_id, orgId: row.org_id, sessionId: row.session_id, agentId: row.agent_id, asset: row.asset, network: row.network, payTo: row.pay_to }),
        'paybound.outcome': outcome,
        ...extra,
      },
    });
    if (decision.kind === 'settle') {
      await inSpan('paybound.settlement', settlementSpan('settled', { 'paybound.amount_atomic': decision.amountAtomic.toString(), 'paybound.transaction': decision.transaction }), () =>
        submitExpecting(
          decisions,
          { type: 'Settle', orgId: row.org_id, actor: WORKER_ACTOR, at, intentId: row.intent_id, amountAtomic: decision.amountAtomic, network: row.network, transaction: decision.transaction, payer: row.payer },
          ['intent_already_refunded', 'intent_already_settled'],
        ),
      );
      logger.info({ intentId: row.intent_id, transaction: decision.transaction, amountAtomic: decision.amountAtomic.toString() }, 'payment settled from chain evidence');
      this.nextCheckAtMs.delete(row.intent_id);
    } else if (decision.kind === 'release') {
      await inSpan('paybound.settlement', settlementSpan('released', { 'paybound.amount_atomic': row.amount_atomic, 'paybound.chain_time': decision.chainTime }), () =>
        submitExpecting(
          decisions,
          { type: 'Release', orgId: row.org_id, actor: WORKER_ACTOR, at, intentId: row.intent_id, reason: 'expired_unused', proof: { kind: 'expired_unused', chainTime: decision.chainTime } },
          ['intent_already_settled', 'release_not_proven'],
        ),
      );
      logger.info({ intentId: row.intent_id, chainTime: decision.chainTime }, 'payment released: its authorization expired unused');
      this.nextCheckAtMs.delete(row.intent_id);
    } else {
      if (decision.reason === 'transfer_exceeds_reserved') logger.error({ intentId: row.intent_id }, 'chain shows a transfer above the reserved amount; not recorded');
      const attempt = attemptsBefore + 1;
      this.nextCheckAtMs.set(row.intent_id, { atMs: nowMs + nextCheckDelayMs(attempt, this.options.intervalMs, RECONCILE_BACKOFF_MAX_MS), attempt });
    }
  }
}
