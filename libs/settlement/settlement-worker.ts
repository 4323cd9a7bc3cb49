import { Kafka, logLevel } from 'kafkajs';
import { cloudEventType, fromCloudEvent, type CloudEventEnvelope } from '../outbox/cloud-event.js';
import { writeSync } from 'node:fs';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Address, Hex } from 'viem';
import type { BudgetCommand } from '../domain/budget/commands.js';
import { DomainError } from '../domain/budget/errors.js';
import { formatUsdMicros } from '../domain/money.js';
import type { Reserved } from '../domain/budget/events.js';
import { positionOf, type EventStore, type LogPosition, type RecordedEvent } from '../eventstore/event-store.js';
import type { BalanceProjection } from '../ledger/balance-projection.js';
import { paymentSpanAttributes, type ObservedDecisions } from '../ledger/decision-telemetry.js';
import { contextOf, inSpan } from '../platform/tracing.js';
import { paymentHeaderFor, planAuthorization, type SignRefusal, type StoredOffer } from './authorization.js';
import type { EvmChainReader } from './chain.js';
import { decideReconciliation, nextCheckDelayMs } from './reconcile.js';
import type { PaymentSigner } from './signer.js';
import type { SigningOutcome, WorkerMetrics } from './worker-metrics.js';

export const WORKER_CHECKPOINT = 'settlement-worker';
const PAGE_SIZE = 200;
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
const WORKER_ACTOR = 'worker:settlement';

export type WorkerFault = 'none' | 'exit_after_sign' | 'exit_after_record';

export interface SettlementWorkerOptions {
  pool: pg.Pool;
  store: EventStore;
  /** The worker's own org command processor, observed: its decisions are counted and traced. */
  decisions: ObservedDecisions;
  projection: BalanceProjection;
  signer: PaymentSigner;
  /** Chain access per CAIP-2 network; a network without one is never signed for. */
  chains: ReadonlyMap<string, EvmChainReader>;
  logger: Logger;
  idleWaitMs: number;
  reconcileIntervalMs: number;
  /** Test-only fault injection: the process kills itself at that point (see main.ts). */
  fault: WorkerFault;
  /** Where Reserved events come from: Kafka (a consumer group) when set, else the Postgres log. */
  kafka?: { brokers: string[]; topic: string } | undefined;
  metrics?: WorkerMetrics | undefined;
  now?: () => number;
}

type ReservedOutcome = 'done' | 'retry_later';

/** How one reservation went: signed, refused (released, or the ledger said no), or not yet decidable. */
type ReservedResult = { outcome: 'done'; signed: boolean } | { outcome: 'retry_later' };

/**
 * The settlement worker: signs every reserved payment it can pay, and settles or releases
 * signed payments from chain evidence. It reads Reserved events from its own checkpoint in
 * the committed log, and writes only through its own org command processor, so budget
 * decisions keep one code path and a second worker or a restart changes nothing: the same
 * intent always yields the same authorization, and every command it sends is idempotent.
 */
export class SettlementWorker {
  private stopping = false;
  private signLoop: Promise<void> | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;
  private readonly nextCheckAtMs = new Map<string, { atMs: number; attempt: number }>();
  private readonly now: () => number;

  constructor(private readonly options: SettlementWorkerOptions) {
    this.now = options.now ?? Date.now;
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
    await this.signLoop;
    await this.reconciling;
  }

  private async runSignLoop(): Promise<void> {
    const { store, pool, logger, idleWaitMs } = this.options;
    let checkpoint = await store.loadCheckpoint(pool, WORKER_CHECKPOINT);
    while (!this.stopping) {
      let handled = 0;
      try {
        const result = await this.signPage(checkpoint);
        checkpoint = result.checkpoint;
        handled = result.handled;
      } catch (error) {
        // Postgres or the chain is unreachable: nothing is signed, and the page is read again.
        logger.warn({ err: { message: (error as Error).message } }, 'signing page failed; retrying');
        await sleep(Math.max(idleWaitMs, 500));
        continue;
      }
      if (handled < PAGE_SIZE) await sleep(idleWaitMs);
    }
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
    await consumer.run({
      eachMessage: async ({ message }) => {
        const envelope = JSON.parse(message.value?.toString() ?? '{}') as CloudEventEnvelope;
        if (envelope.type !== RESERVED_CLOUD_EVENT_TYPE) return;
        const event = fromCloudEvent(envelope, 'Reserved') as RecordedEvent<Reserved['data']>;
        // The message's own W3C header is the trace context Kafka carries; the envelope's copy is the fallback.
        const traceparent = message.headers?.traceparent?.toString();
        if (traceparent !== undefined && traceparent !== '') event.metadata = { ...event.metadata, traceparent };
        // A missing offer row makes the handler wait; it gives up (and releases) after the grace period.
        for (let attempt = 0; attempt < KAFKA_RETRY_ATTEMPTS_MAX && !this.stopping; attempt++) {
          if ((await this.handleReserved(event)) === 'done') return;
          await sleep(KAFKA_RETRY_WAIT_MS);
        }
        // Not handled: throwing makes the consumer deliver the message again rather than skip it.
        throw new Error(`reservation ${event.data.intentId} not handled yet`);
      },
    });
    while (!this.stopping) await sleep(this.options.idleWaitMs * 4);
    await consumer.disconnect();
  }

  /** Handles one page of Reserved events and stores how far it got. */
  async signPage(from: LogPosition): Promise<{ checkpoint: LogPosition; handled: number }> {
    const { store, pool } = this.options;
    const page = (await store.readAll(pool, from, PAGE_SIZE, ['Reserved'])) as RecordedEvent<Reserved['data']>[];
    let checkpoint = from;
    let handled = 0;
    for (const event of page) {
      if (this.stopping) break;
      // An event that must wait (its offer row is not there yet) stops the page there, so the
      // checkpoint never passes a reservation that was not signed or released.
      if ((await this.handleReserved(event)) === 'retry_later') break;
      checkpoint = positionOf(event);
      handled += 1;
    }
    if (handled > 0) await store.saveCheckpoint(pool, WORKER_CHECKPOINT, checkpoint);
    return { checkpoint, handled };
  }

  /**
   * Signs or releases one reservation inside a `paybound.signature` span that continues the
   * trace of the decision that reserved it (its traceparent is stored with the event).
   */
  private async handleReserved(event: RecordedEvent<Reserved['data']>): Promise<ReservedOutcome> {
    const reservation = event.data;
    const attributes = paymentSpanAttributes({ ...reservation, amount: formatUsdMicros(reservation.amountMicros) });
    const startedAt = process.hrtime.bigint();
    let outcome: SigningOutcome = 'refused';
    try {
      return await inSpan('paybound.signature', { parent: contextOf({ traceparent: event.metadata.traceparent }), attributes }, async (span) => {
        const result = await this.signOrRelease(event);
        outcome = result.outcome === 'retry_later' ? 'retry_later' : result.signed ? 'signed' : 'refused';
        span.setAttribute('paybound.outcome', outcome);
        return result.outcome;
      });
    } finally {
      this.options.metrics?.signingSeconds.observe({ outcome }, Number(process.hrtime.bigint() - startedAt) / 1e9);
    }
  }

  private async signOrRelease(event: RecordedEvent<Reserved['data']>): Promise<ReservedResult> {
    const { logger, signer } = this.options;
    const reservation = event.data;
    const stored = await this.storedOffer(reservation.intentId);
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
    await this.options.pool.query(
      'INSERT INTO payment_signatures (intent_id, header_name, header_value) VALUES ($1, $2, $3) ON CONFLICT (intent_id) DO NOTHING',
      [reservation.intentId, header.name, header.value],
    );
    logger.info({ intentId: reservation.intentId, network: reservation.network, payer: signer.address, validBeforeSec: plan.validBeforeSec }, 'payment signed');
    return { outcome: 'done', signed: true };
  }

  private async storedOffer(intentId: string): Promise<StoredOffer | undefined> {
    const result = await this.options.pool.query<{ x402_version: number; requirement_raw: Record<string, unknown>; resource_raw: Record<string, unknown> | null; extensions: Record<string, unknown> | null }>(
      'SELECT x402_version, requirement_raw, resource_raw, extensions FROM payment_offers WHERE intent_id = $1',
      [intentId],
    );
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return { x402Version: row.x402_version === 1 ? 1 : 2, requirementRaw: row.requirement_raw, resourceRaw: row.resource_raw, extensions: row.extensions };
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
  private async submit(command: BudgetCommand, expected: readonly string[]): Promise<{ ok: true } | { ok: false; code: string }> {
    try {
      await this.options.decisions.submit(command, () => undefined);
      return { ok: true };
    } catch (error) {
      if (error instanceof DomainError && expected.includes(error.code)) return { ok: false, code: error.code };
      throw error;
    }
  }

  private injectFault(point: Exclude<WorkerFault, 'none'>, intentId: string): void {
    if (this.options.fault !== point) return;
    // Written synchronously: the log line must be out before the process dies.
    writeSync(2, `${JSON.stringify({ level: 40, time: this.now(), service: 'settlement-worker', intentId, fault: point, msg: 'test-only fault injection: killing the worker' })}\n`);
    process.kill(process.pid, 'SIGKILL');
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
