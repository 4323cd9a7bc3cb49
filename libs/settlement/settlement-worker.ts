import { Kafka, logLevel, type KafkaMessage } from 'kafkajs';
import { cloudEventType, fromCloudEvent, type CloudEventEnvelope } from '../outbox/cloud-event.js';
import { writeSync } from 'node:fs';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Address, Hex } from 'viem';
import { DomainError } from '../domain/budget/errors.js';
import { formatUsdMicros } from '../domain/money.js';
import type { Reserved } from '../domain/budget/events.js';
import { positionOf, type EventStore, type LogPosition, type RecordedEvent } from '../eventstore/event-store.js';
import type { BalanceProjection } from '../ledger/balance-projection.js';
import { paymentSpanAttributes } from '../ledger/decision-telemetry.js';
import { contextOf, inSpan } from '../platform/tracing.js';
import { Coalescer, ConcurrencyLimit, Wakeup } from '../platform/concurrency.js';
import { PgListener } from '../platform/pg-listener.js';
import type { PaymentHeader } from '../x402/headers.js';
import { paymentHeaderFor, planAuthorization, type SignRefusal, type StoredOffer } from './authorization.js';
import type { EvmChainReader } from './chain.js';
import { decideReconciliation, nextCheckDelayMs } from './reconcile.js';
import type { PaymentSigner } from './signer.js';
import type { SigningOutcome, WorkerMetrics } from './worker-metrics.js';
import { finishedPrefixLength, SignWindow, type HandlingOutcome } from './sign-window.js';
import { WORKER_ACTOR, type WorkerCommand, type WorkerDecisions } from './worker-decisions.js';

export const WORKER_CHECKPOINT = 'settlement-worker';
/** Migration 017 notifies here once per statement that appends events. */
export const EVENTS_APPENDED_CHANNEL = 'paybound_events_appended';
const PAGE_SIZE = 200;
/**
 * Reservations read past the checkpoint at most. Reading runs ahead of one that must wait
 * (its offer row is late) only this far; beyond, the worker waits for it as it always did.
 */
const WINDOW_SIZE_MAX = 200;
export const SIGN_CONCURRENCY_DEFAULT = 32;
/** After a failed read or handling: long enough not to hammer a database that is down. */
const FAILURE_BACKOFF_MS = 500;
const FAILURE_WARNING_INTERVAL_MS = 5_000;
/** Headers stored in one statement at most. */
const HEADER_BATCH_MAX = 200;
/** Reconciliation checks per tick at most, so one tick stays short whatever the backlog. */
const RECONCILE_CHECKS_PER_TICK_MAX = 20;
const RECONCILE_CANDIDATES_MAX = 200;
const RECONCILE_BACKOFF_MAX_MS = 2_000;
/**
 * How long a Reserved event may wait for its offer row. The governor writes the row before
 * reserving, so it is normally there; this covers a governor that stores it just after.
 */
const OFFER_GRACE_MS = 10_000;
const KAFKA_GROUP_ID = 'paybound-settlement-worker';
const RESERVED_CLOUD_EVENT_TYPE = cloudEventType('Reserved');
const KAFKA_RETRY_WAIT_MS = 200;
const KAFKA_RETRY_ATTEMPTS_MAX = Math.ceil((OFFER_GRACE_MS * 2) / KAFKA_RETRY_WAIT_MS);
/** The relay creates the topic with 3 partitions; the concurrency limit is shared by all of them. */
const KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY = 3;

export type WorkerFault = 'none' | 'exit_after_sign' | 'exit_after_record';

export interface SettlementWorkerOptions {
  pool: pg.Pool;
  store: EventStore;
  /** Where its budget commands are decided: the governor (GovernorDecisions), or a processor of its own. */
  decisions: WorkerDecisions;
  projection: BalanceProjection;
  signer: PaymentSigner;
  /** Chain access per CAIP-2 network; a network without one is never signed for. */
  chains: ReadonlyMap<string, EvmChainReader>;
  logger: Logger;
  /**
   * How soon a reservation that must wait (its offer row is late) is tried again, and how
   * soon the log is read again while events are held back by an older transaction or while
   * no notification can arrive (no listener, or it is reconnecting).
   */
  idleWaitMs: number;
  reconcileIntervalMs: number;
  /** Reservations handled at once at most: signing, recording the signature, storing the header. */
  signConcurrencyMax?: number;
  /**
   * With a connection string, the worker LISTENs for appended events and, when idle, reads
   * the log again on a notification or after `pollFallbackMs` at the latest (notifications
   * are lost while the listener reconnects). Without, it reads every `idleWaitMs`.
   */
  wakeups?: { connectionString: string; pollFallbackMs: number } | undefined;
  /** Test-only fault injection: the process kills itself at that point (see main.ts). */
  fault: WorkerFault;
  /** The fault strikes the n-th time its point is reached (default 1), e.g. in the middle of a page. */
  faultAfterCount?: number;
  /** Where Reserved events come from: Kafka (a consumer group) when set, else the Postgres log. */
  kafka?: { brokers: string[]; topic: string } | undefined;
  metrics?: WorkerMetrics | undefined;
  now?: () => number;
}

type ReservedOutcome = 'done' | 'retry_later';
type ReservedEvent = RecordedEvent<Reserved['data']>;
interface ReservedItem {
  key: string;
  position: LogPosition;
  event: ReservedEvent;
}

/** How one reservation went: signed, refused (released, or the ledger said no), or not yet decidable. */
type ReservedResult = { outcome: 'done'; signed: boolean } | { outcome: 'retry_later' };

/**
 * The settlement worker: signs every reserved payment it can pay, and settles or releases
 * signed payments from chain evidence. It reads Reserved events from its own checkpoint in
 * the committed log, and records outcomes only as budget commands (decided by the governor,
 * or by a processor of its own), so budget decisions keep one code path and a second worker
 * or a restart changes nothing: the same
 * intent always yields the same authorization, and every command it sends is idempotent.
 */
export class SettlementWorker {
  private stopping = false;
  private signLoop: Promise<void> | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private readonly nextCheckAtMs = new Map<string, { atMs: number; attempt: number }>();
  private readonly now: () => number;
  private readonly limit: ConcurrencyLimit;
  private readonly wakeup = new Wakeup();
  private readonly listener: PgListener | undefined;
  private readonly headers: Coalescer<{ intentId: string; header: PaymentHeader }, void>;
  /** Reservation handlers still running, so that `stop` waits for them. */
  private readonly handling = new Set<Promise<void>>();
  private checkpointToSave: LogPosition | undefined;
  private savingCheckpoint: Promise<void> | undefined;
  /** The last error a handler met, for one warning now and then rather than one per reservation. */
  private lastHandlingError: Error | undefined;
  private failedSinceWarning = 0;
  private lastFailureWarningMs = Number.NEGATIVE_INFINITY;
  private faultHits = 0;

  constructor(private readonly options: SettlementWorkerOptions) {
    this.now = options.now ?? Date.now;
    this.limit = new ConcurrencyLimit(options.signConcurrencyMax ?? SIGN_CONCURRENCY_DEFAULT);
    this.headers = new Coalescer((items) => this.storeHeaders(items), HEADER_BATCH_MAX);
    const wakeups = options.wakeups;
    this.listener =
      wakeups === undefined || options.kafka !== undefined
        ? undefined
        : new PgListener({
            connectionString: wakeups.connectionString,
            applicationName: 'paybound-settlement-worker-wakeups',
            channels: [EVENTS_APPENDED_CHANNEL],
            logger: options.logger,
            onNotification: () => this.wakeup.notify(),
            // Whatever was appended while not listening went unheard: read once now.
            onListening: () => this.wakeup.notify(),
          });
  }

  /** The listener, for tests that take its connection away. */
  get notificationListener(): PgListener | undefined {
    return this.listener;
  }

  start(): void {
    this.signLoop = this.options.kafka === undefined ? this.runSignLoop() : this.runKafkaLoop(this.options.kafka);
    this.reconcileTimer = setInterval(() => {
      if (this.reconciling !== undefined || this.stopping) return;
      this.reconciling = this.reconcileOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.options.logger.warn({ err: { message: (error as Error).message } }, 'reconciliation tick failed'))
        .finally(() => {
          this.reconciling = undefined;
        });
    }, this.options.reconcileIntervalMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconcileTimer !== undefined) clearInterval(this.reconcileTimer);
    this.wakeup.notify();
    await this.signLoop;
    await Promise.all(this.handling);
    await this.savingCheckpoint;
    await this.reconciling;
    await this.listener?.stop();
  }

  /**
   * Reserved events from the Postgres log, from the worker's checkpoint, handled
   * concurrently as they are read: a reservation read while others are being signed starts
   * at once (within the limit) rather than after them. The checkpoint moves only over the
   * reservations at the start of the window that are finished (see SignWindow), so a crash
   * or a restart never skips one; a restart may handle some again, which yields the same
   * authorization and records nothing new.
   */
  private async runSignLoop(): Promise<void> {
    const { store, pool, logger, idleWaitMs } = this.options;
    this.listener?.start();
    let window: SignWindow<ReservedItem> | undefined;
    while (!this.stopping) {
      let moreSoon = false;
      try {
        window ??= new SignWindow<ReservedItem>(await store.loadCheckpoint(pool, WORKER_CHECKPOINT), WINDOW_SIZE_MAX, { retryLaterMs: idleWaitMs, failedMs: FAILURE_BACKOFF_MS });
        for (const due of window.takeDue(this.now())) this.startHandling(window, due, 'fetch');
        const readCount = await this.readMore(window);
        // A full page: there may be more right now.
        if (readCount >= PAGE_SIZE && window.room > 0) continue;
        // Events an older transaction still holds back become readable when it ends, which may
        // append nothing and so wake nobody: look again soon rather than wait for a wake-up.
        moreSoon = window.room > 0 && (await store.hasEventsAfter(pool, window.readAfter, ['Reserved']));
      } catch (error) {
        // Postgres is unreachable: nothing is signed, and the log is read again.
        logger.warn({ err: { message: (error as Error).message } }, 'reading reservations failed; retrying');
        await sleep(Math.max(idleWaitMs, FAILURE_BACKOFF_MS));
        continue;
      }
      const listening = this.listener?.listening === true;
      const idleMs = moreSoon || !listening ? idleWaitMs : (this.options.wakeups?.pollFallbackMs ?? idleWaitMs);
      const retryAtMs = window.nextRetryAtMs();
      await this.wakeup.wait(retryAtMs === undefined ? idleMs : Math.max(0, Math.min(idleMs, retryAtMs - this.now())));
    }
  }

  /** Reads the next reservations into the window's free places and starts handling them; returns how many. */
  private async readMore(window: SignWindow<ReservedItem>): Promise<number> {
    if (window.room === 0) return 0;
    const { store, pool } = this.options;
    const page = (await store.readAll(pool, window.readAfter, Math.min(window.room, PAGE_SIZE), ['Reserved'])) as ReservedEvent[];
    if (page.length === 0) return 0;
    // Read before anything enters the window: if this fails, the page is simply read again.
    const offers = await this.storedOffers(page.map((event) => event.data.intentId));
    const items = page.map((event): ReservedItem => ({ key: eventKey(event), position: positionOf(event), event }));
    window.add(items);
    for (const item of items) this.startHandling(window, item, { prefetched: offers.get(item.event.data.intentId) });
    return page.length;
  }

  private startHandling(window: SignWindow<ReservedItem>, item: ReservedItem, offer: { prefetched: StoredOffer | undefined } | 'fetch'): void {
    const task = this.handleBounded(item.event, offer).then((outcome) => {
      if (outcome === 'failed') this.warnFailures([outcome]);
      const wasFull = window.room === 0;
      const moved = window.finish(item.key, outcome, this.now());
      if (moved !== undefined) this.saveCheckpointSoon(moved);
      // The loop looks again when a place opened in a full window or a retry is to be planned.
      if (outcome !== 'done' || (wasFull && window.room > 0)) this.wakeup.notify();
    });
    this.handling.add(task);
    void task.finally(() => this.handling.delete(task));
  }

  /**
   * Stores the latest checkpoint, one write at a time: handlers finishing together share
   * one write, and a later position is never overwritten by an earlier one.
   */
  private saveCheckpointSoon(position: LogPosition): void {
    this.checkpointToSave = position;
    if (this.savingCheckpoint !== undefined) return;
    this.savingCheckpoint = (async () => {
      while (this.checkpointToSave !== undefined) {
        const next = this.checkpointToSave;
        this.checkpointToSave = undefined;
        try {
          await this.options.store.saveCheckpoint(this.options.pool, WORKER_CHECKPOINT, next);
        } catch (error) {
          // Not saved: a restart would handle these reservations again, which is safe.
          this.options.logger.warn({ err: { message: (error as Error).message } }, 'saving the worker checkpoint failed; retrying');
          this.checkpointToSave ??= next;
          if (this.stopping) return;
          await sleep(FAILURE_BACKOFF_MS);
        }
      }
    })().finally(() => {
      this.savingCheckpoint = undefined;
    });
  }

  /**
   * Reserved events from Kafka, as one member of the `paybound-settlement-worker` group. An
   * offset is committed only after its event is handled; a redelivery after a crash is
   * harmless, because the same intent always yields the same authorization.
   */
  private async runKafkaLoop(source: { brokers: string[]; topic: string }): Promise<void> {
    const kafka = new Kafka({ clientId: 'paybound-settlement-worker', brokers: source.brokers, logLevel: logLevel.NOTHING, retry: { retries: 8, maxRetryTime: 5_000 } });
    const consumer = kafka.consumer({ groupId: KAFKA_GROUP_ID });
    // The topic appears when the governor's relay first publishes; until then, keep trying.
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await consumer.connect();
        await consumer.subscribe({ topic: source.topic, fromBeginning: true });
        break;
      } catch (error) {
        this.options.logger.warn({ err: { message: (error as Error).message }, attempt }, 'kafka source not ready; retrying');
        await consumer.disconnect().catch(() => undefined);
        await sleep(Math.min(attempt * 500, 5_000));
      }
    }
    if (this.stopping) return;
    // eachBatch rather than eachMessage, which handles one message at a time per partition:
    // the Reserved events of a batch are handled concurrently (within the shared limit), and
    // the offset is resolved only over the finished messages at the start of the batch.
    await consumer.run({
      partitionsConsumedConcurrently: KAFKA_PARTITIONS_CONSUMED_CONCURRENTLY,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const heartbeat = (): Promise<void> => payload.heartbeat();
        const live = (): boolean => payload.isRunning() && !payload.isStale() && !this.stopping;
        const events = batch.messages.map(reservedFromKafka);
        const offers = await this.storedOffers(events.flatMap((event) => (event === undefined ? [] : [event.data.intentId])));
        const outcomes = await Promise.all(
          events.map((event) => (event === undefined ? Promise.resolve<HandlingOutcome>('done') : this.handleFromKafka(event, offers.get(event.data.intentId), heartbeat, live))),
        );
        this.warnFailures(outcomes);
        const finished = finishedPrefixLength(outcomes);
        const last = batch.messages[finished - 1];
        if (last !== undefined) payload.resolveOffset(last.offset);
        await heartbeat();
        // Not handled: throwing makes the consumer deliver the message again rather than skip
        // it; the resolved offsets before it are committed first.
        const unfinished = events[finished];
        if (finished < outcomes.length && live()) throw new Error(`reservation ${unfinished?.data.intentId ?? `at offset ${batch.messages[finished]?.offset}`} not handled yet`);
      },
    });
    while (!this.stopping) await sleep(this.options.idleWaitMs * 4);
    await consumer.disconnect();
  }

  /** One Reserved event from Kafka; a missing offer row makes it wait, and it gives up (and releases) after the grace period. */
  private async handleFromKafka(event: ReservedEvent, prefetched: StoredOffer | undefined, heartbeat: () => Promise<void>, live: () => boolean): Promise<HandlingOutcome> {
    for (let attempt = 0; attempt < KAFKA_RETRY_ATTEMPTS_MAX; attempt++) {
      if (!live()) return 'not_started';
      const outcome = await this.handleBounded(event, attempt === 0 ? { prefetched } : 'fetch');
      if (outcome !== 'retry_later') return outcome;
      try {
        // Waiting must not cost the group membership.
        await heartbeat();
      } catch {
        return 'not_started';
      }
      await sleep(KAFKA_RETRY_WAIT_MS);
    }
    return 'retry_later';
  }

  /** One reservation within the concurrency limit; a failure is an outcome, so the others of the page still finish. */
  private handleBounded(event: ReservedEvent, offer: { prefetched: StoredOffer | undefined } | 'fetch'): Promise<HandlingOutcome> {
    return this.limit.run(async () => {
      if (this.stopping) return 'not_started';
      try {
        const stored = offer === 'fetch' ? (await this.storedOffers([event.data.intentId])).get(event.data.intentId) : offer.prefetched;
        return await this.handleReserved(event, stored);
      } catch (error) {
        this.lastHandlingError = error as Error;
        return 'failed';
      }
    });
  }

  /** One warning per interval at most: with the database down, every handler fails at once. */
  private warnFailures(outcomes: readonly HandlingOutcome[]): void {
    this.failedSinceWarning += outcomes.filter((outcome) => outcome === 'failed').length;
    const nowMs = this.now();
    if (this.failedSinceWarning === 0 || nowMs - this.lastFailureWarningMs < FAILURE_WARNING_INTERVAL_MS) return;
    // Postgres or the chain is unreachable: nothing more is signed, and these are handled again.
    this.options.logger.warn({ failedCount: this.failedSinceWarning, err: { message: this.lastHandlingError?.message } }, 'handling reservations failed; retrying');
    this.failedSinceWarning = 0;
    this.lastFailureWarningMs = nowMs;
  }

  /**
   * Signs or releases one reservation inside a `paybound.signature` span that continues the
   * trace of the decision that reserved it (its traceparent is stored with the event, and
   * comes in the Kafka message's header).
   */
  private async handleReserved(event: ReservedEvent, stored: StoredOffer | undefined): Promise<ReservedOutcome> {
    const reservation = event.data;
    const attributes = paymentSpanAttributes({ ...reservation, amount: formatUsdMicros(reservation.amountMicros) });
    const startedAt = process.hrtime.bigint();
    let outcome: SigningOutcome = 'refused';
    try {
      return await inSpan('paybound.signature', { parent: contextOf({ traceparent: event.metadata.traceparent }), attributes }, async (span) => {
        const result = await this.signOrRelease(event, stored);
        outcome = result.outcome === 'retry_later' ? 'retry_later' : result.signed ? 'signed' : 'refused';
        span.setAttribute('paybound.outcome', outcome);
        return result.outcome;
      });
    } finally {
      this.options.metrics?.signingSeconds.observe({ outcome }, Number(process.hrtime.bigint() - startedAt) / 1e9);
    }
  }

  private async signOrRelease(event: ReservedEvent, stored: StoredOffer | undefined): Promise<ReservedResult> {
    const { logger, signer } = this.options;
    const reservation = event.data;
    if (stored === undefined && this.now() - Date.parse(reservation.reservedAt) < OFFER_GRACE_MS) return { outcome: 'retry_later' };
    const chain = this.options.chains.get(reservation.network);
    const planned = chain === undefined ? ({ ok: false, reason: 'no_wallet_for_network' } as const) : planAuthorization(reservation, stored, signer.address, Math.floor(this.now() / 1000));
    if (!planned.ok) {
      await this.releaseUnsigned(reservation, planned.reason);
      return { outcome: 'done', signed: false };
    }
    const { plan } = planned;
    const signature = await signer.signTransferAuthorization(plan.typedData);
    const header = paymentHeaderFor(plan, signature);
    this.injectFault('exit_after_sign', reservation.intentId);
    // The signature is recorded before the header is stored: a header in payment_signatures
    // therefore always belongs to a payment the ledger knows is signed, and one that was
    // released meanwhile never gets a usable header.
    const recorded = await this.submit(
      {
        type: 'RecordSignature',
        orgId: reservation.orgId,
        actor: WORKER_ACTOR,
        at: new Date(this.now()).toISOString(),
        intentId: reservation.intentId,
        scheme: plan.requirement.scheme,
        payer: signer.address,
        nonce: plan.nonce,
        validAfter: new Date(0).toISOString(),
        validBefore: new Date(plan.validBeforeSec * 1000).toISOString(),
      },
      ['intent_already_refunded', 'payment_already_signed', 'payment_not_found'],
    );
    if (!recorded.ok) {
      logger.info({ intentId: reservation.intentId, code: recorded.code }, 'payment not signed: the ledger refused the signature');
      return { outcome: 'done', signed: false };
    }
    this.injectFault('exit_after_record', reservation.intentId);
    await this.headers.submit({ intentId: reservation.intentId, header });
    logger.info({ intentId: reservation.intentId, network: reservation.network, payer: signer.address, validBeforeSec: plan.validBeforeSec }, 'payment signed');
    return { outcome: 'done', signed: true };
  }

  /** The stored offers of these intents, in one query; an intent without a row is absent from the map. */
  private async storedOffers(intentIds: readonly string[]): Promise<Map<string, StoredOffer>> {
    const offers = new Map<string, StoredOffer>();
    if (intentIds.length === 0) return offers;
    const result = await this.options.pool.query<{ intent_id: string; x402_version: number; requirement_raw: Record<string, unknown>; resource_raw: Record<string, unknown> | null; extensions: Record<string, unknown> | null }>(
      'SELECT intent_id, x402_version, requirement_raw, resource_raw, extensions FROM payment_offers WHERE intent_id = ANY($1::text[])',
      [intentIds],
    );
    for (const row of result.rows) {
      offers.set(row.intent_id, { x402Version: row.x402_version === 1 ? 1 : 2, requirementRaw: row.requirement_raw, resourceRaw: row.resource_raw, extensions: row.extensions });
    }
    return offers;
  }

  /**
   * The headers recorded during one turn, in one statement: the concurrent handlers of a
   * page see their signatures committed together, and share this insert and its commit.
   */
  private async storeHeaders(items: readonly { intentId: string; header: PaymentHeader }[]): Promise<void[]> {
    await this.options.pool.query(
      `INSERT INTO payment_signatures (intent_id, header_name, header_value)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (intent_id) DO NOTHING`,
      [items.map((i) => i.intentId), items.map((i) => i.header.name), items.map((i) => i.header.value)],
    );
    return items.map(() => undefined);
  }

  private async releaseUnsigned(reservation: Reserved['data'], reason: SignRefusal): Promise<void> {
    this.options.logger.warn({ intentId: reservation.intentId, network: reservation.network, reason }, 'refusing to sign; releasing the reservation');
    // A payment that got signed meanwhile (another worker) is not released: that is decided
    // by the ledger, which refuses a never_signed release of a signed payment.
    await this.submit(
      { type: 'Release', orgId: reservation.orgId, actor: WORKER_ACTOR, at: new Date(this.now()).toISOString(), intentId: reservation.intentId, reason, proof: { kind: 'never_signed' } },
      ['release_not_proven', 'intent_already_settled', 'payment_not_found'],
    );
  }

  /** Settles or releases signed payments from chain evidence; a bounded amount of work per call. */
  async reconcileOnce(): Promise<number> {
    const { pool, projection, logger } = this.options;
    await projection.catchUpAll();
    const open = await pool.query<{
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
      pay_to: string | null;
      traceparent: string | null;
    }>(
      `SELECT intent_id, org_id, amount_atomic, asset, network, payer, nonce, valid_before, reported_transaction, session_id, agent_id, pay_to, traceparent
       FROM payments_view WHERE status IN ('signed', 'unknown') AND payer IS NOT NULL AND nonce IS NOT NULL
       ORDER BY updated_at LIMIT ${RECONCILE_CANDIDATES_MAX}`,
    );
    const nowMs = this.now();
    let checked = 0;
    const seen = new Set<string>();
    for (const row of open.rows) {
      seen.add(row.intent_id);
      if (checked >= RECONCILE_CHECKS_PER_TICK_MAX || this.stopping) continue;
      const due = this.nextCheckAtMs.get(row.intent_id);
      if (due !== undefined && due.atMs > nowMs) continue;
      const chain = this.options.chains.get(row.network);
      if (chain === undefined) continue;
      checked += 1;
      const observation = await chain.observe({
        asset: row.asset as Address,
        payer: row.payer as Address,
        nonce: row.nonce as Hex,
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
          this.submit({ type: 'Settle', orgId: row.org_id, actor: WORKER_ACTOR, at, intentId: row.intent_id, amountAtomic: decision.amountAtomic, network: row.network, transaction: decision.transaction, payer: row.payer }, ['intent_already_refunded', 'intent_already_settled']),
        );
        logger.info({ intentId: row.intent_id, transaction: decision.transaction, amountAtomic: decision.amountAtomic.toString() }, 'payment settled from chain evidence');
        this.nextCheckAtMs.delete(row.intent_id);
      } else if (decision.kind === 'release') {
        await inSpan('paybound.settlement', settlementSpan('released', { 'paybound.amount_atomic': row.amount_atomic, 'paybound.chain_time': decision.chainTime }), () =>
          this.submit(
            { type: 'Release', orgId: row.org_id, actor: WORKER_ACTOR, at, intentId: row.intent_id, reason: 'expired_unused', proof: { kind: 'expired_unused', chainTime: decision.chainTime } },
            ['intent_already_settled', 'release_not_proven'],
          ),
        );
        logger.info({ intentId: row.intent_id, chainTime: decision.chainTime }, 'payment released: its authorization expired unused');
        this.nextCheckAtMs.delete(row.intent_id);
      } else {
        if (decision.reason === 'transfer_exceeds_reserved') logger.error({ intentId: row.intent_id }, 'chain shows a transfer above the reserved amount; not recorded');
        const attempt = (due?.attempt ?? 0) + 1;
        this.nextCheckAtMs.set(row.intent_id, { atMs: nowMs + nextCheckDelayMs(attempt, this.options.reconcileIntervalMs, RECONCILE_BACKOFF_MAX_MS), attempt });
      }
    }
    // Forget payments that are no longer open, so the map stays as small as the open set.
    for (const intentId of this.nextCheckAtMs.keys()) if (!seen.has(intentId)) this.nextCheckAtMs.delete(intentId);
    return checked;
  }

  /** Submits a command; the listed domain refusals mean "already decided otherwise" and are returned, not thrown. */
  private async submit(command: WorkerCommand, expected: readonly string[]): Promise<{ ok: true } | { ok: false; code: string }> {
    try {
      await this.options.decisions.submit(command);
      return { ok: true };
    } catch (error) {
      if (error instanceof DomainError && expected.includes(error.code)) return { ok: false, code: error.code };
      throw error;
    }
  }

  private injectFault(point: Exclude<WorkerFault, 'none'>, intentId: string): void {
    if (this.options.fault !== point) return;
    this.faultHits += 1;
    if (this.faultHits < (this.options.faultAfterCount ?? 1)) return;
    // Written synchronously: the log line must be out before the process dies.
    writeSync(2, `${JSON.stringify({ level: 40, time: this.now(), service: 'settlement-worker', intentId, fault: point, msg: 'test-only fault injection: killing the worker' })}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

/** Events are keyed by their place in the log, which is unique and what the checkpoint orders by. */
function eventKey(event: RecordedEvent): string {
  return `${event.transactionId}/${event.globalPosition}`;
}

function reservedFromKafka(message: KafkaMessage): ReservedEvent | undefined {
  const envelope = JSON.parse(message.value?.toString() ?? '{}') as CloudEventEnvelope;
  if (envelope.type !== RESERVED_CLOUD_EVENT_TYPE) return undefined;
  const event = fromCloudEvent(envelope, 'Reserved') as ReservedEvent;
  // The message's own W3C header is the trace context Kafka carries; the envelope's copy is the fallback.
  const traceparent = message.headers?.traceparent?.toString();
  return traceparent === undefined || traceparent === '' ? event : { ...event, metadata: { ...event.metadata, traceparent } };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
