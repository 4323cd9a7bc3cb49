import type pg from 'pg';
import type { Logger } from 'pino';
import type { EventStore } from '../eventstore/event-store.js';
import type { PgListener } from '../platform/pg-listener.js';
import type { EvmChainReader } from './chain.js';
import { KafkaReservationSource } from './kafka-reservations.js';
import { postgresPaymentHeaders, type PaymentHeaderStore } from './payment-headers.js';
import { PostgresReservationSource } from './postgres-reservations.js';
import { Reconciler } from './reconciler.js';
import { ReservationSigning, type SigningFaults } from './reservation-signing.js';
import type { PaymentSigner } from './signer.js';
import type { WorkerDecisions } from './worker-decisions.js';
import type { WorkerMetrics } from './worker-metrics.js';

export { WORKER_CHECKPOINT } from './postgres-reservations.js';

export interface SettlementWorkerOptions {
  pool: pg.Pool;
  store: EventStore;
  /** Where its budget commands are decided: the governor (GovernorDecisions), or a processor of its own. */
  decisions: WorkerDecisions;
  signer: PaymentSigner;
  /** Chain access per CAIP-2 network; a network without one is never signed for. */
  chains: ReadonlyMap<string, EvmChainReader>;
  logger: Logger;
  /** See PostgresReservationSourceOptions.idleWaitMs. */
  idleWaitMs: number;
  reconcileIntervalMs: number;
  /** Reservations handled at once at most: signing, recording the signature, storing the header. */
  signConcurrencyMax?: number;
  /** See PostgresReservationSourceOptions.wakeups; unused with Kafka. */
  wakeups?: { connectionString: string; pollFallbackMs: number } | undefined;
  /** Where Reserved events come from: Kafka (a consumer group) when set, else the Postgres log. */
  kafka?: { brokers: string[]; topic: string } | undefined;
  /** Where headers are left for the governor; payment_signatures in the clear by default. */
  headers?: PaymentHeaderStore;
  /** Test-only fault injection, built by the application (apps/settlement-worker/faults.ts). */
  faults?: SigningFaults | undefined;
  metrics?: WorkerMetrics | undefined;
  now?: () => number;
}

/**
 * The settlement worker: signs every reserved payment it can pay, and settles or releases
 * signed payments from chain evidence. It is three parts: a source of Reserved events (the
 * committed log from its checkpoint, or a Kafka consumer group), the signing they go
 * through, and the reconciler. It records outcomes only as budget commands (decided by the
 * governor, or by a processor of its own), so budget decisions keep one code path, and a
 * second worker or a restart changes nothing: the same intent always yields the same
 * authorization, and every command it sends is idempotent.
 */
export class SettlementWorker {
  readonly signing: ReservationSigning;
  readonly reconciler: Reconciler;
  private readonly source: PostgresReservationSource | KafkaReservationSource;

  constructor(options: SettlementWorkerOptions) {
    const { pool, store, decisions, chains, logger, metrics, now } = options;
    this.signing = new ReservationSigning({
      pool,
      decisions,
      signer: options.signer,
      chains,
      headers: options.headers ?? postgresPaymentHeaders(pool, undefined),
      logger,
      ...(options.signConcurrencyMax === undefined ? {} : { signConcurrencyMax: options.signConcurrencyMax }),
      metrics,
      faults: options.faults,
      ...(now === undefined ? {} : { now }),
    });
    this.source =
      options.kafka === undefined
        ? new PostgresReservationSource({ pool, store, signing: this.signing, logger, idleWaitMs: options.idleWaitMs, wakeups: options.wakeups, ...(now === undefined ? {} : { now }) })
        : new KafkaReservationSource({ brokers: options.kafka.brokers, topic: options.kafka.topic, signing: this.signing, logger, idleWaitMs: options.idleWaitMs });
    this.reconciler = new Reconciler({ pool, store, decisions, chains, logger, intervalMs: options.reconcileIntervalMs, metrics, ...(now === undefined ? {} : { now }) });
  }

  /** The Postgres source's listener, for tests that take its connection away. */
  get notificationListener(): PgListener | undefined {
    return this.source instanceof PostgresReservationSource ? this.source.notificationListener : undefined;
  }

  start(): void {
    this.source.start();
    this.reconciler.start();
  }

  async stop(): Promise<void> {
    this.signing.stop();
    await Promise.all([this.source.stop(), this.reconciler.stop()]);
  }

  /** Settles or releases signed payments from chain evidence; a bounded amount of work per call. */
  reconcileOnce(): Promise<number> {
    return this.reconciler.reconcileOnce();
  }
}
