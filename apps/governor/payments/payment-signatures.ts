import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import type { Logger } from 'pino';
import { Coalescer } from '../../../libs/platform/concurrency.js';
import { processDataKeys } from '../../../libs/platform/data-keys.js';
import { openPaymentHeader } from '../../../libs/settlement/payment-headers.js';
import { PgListener } from '../../../libs/platform/pg-listener.js';
import { inSpan } from '../../../libs/platform/tracing.js';
import type { PaymentHeader } from '../../../libs/x402/headers.js';
import type { GovernorConfig } from '../config.js';
import { GOVERNOR_CONFIG, LOGGER } from '../http/tokens.js';

/** Migration 017 notifies the intent id here when a header is stored or a payment closes without one. */
export const PAYMENT_SIGNAL_CHANNEL = 'paybound_payment_signal';
/** Requests waiting for a header at once; beyond, a request does not wait (see `waitFor`). */
const WAITERS_MAX_DEFAULT = 10_000;
/**
 * How often every waiter is checked without being told to. Notifications are lost while the
 * listener reconnects (it re-checks everyone once it listens again) and could be lost by a
 * bug or an operator's trigger change, so this is a slow safety net, not the usual path.
 */
const FALLBACK_CHECK_INTERVAL_MS_DEFAULT = 1_000;
/** Intents checked in one query at most. */
const CHECK_BATCH_MAX = 500;

export type SignatureWait =
  | { kind: 'signed'; header: PaymentHeader }
  | { kind: 'not_signed'; status: string; reason: string | null }
  | { kind: 'timeout' };

type CheckResult = Exclude<SignatureWait, { kind: 'timeout' }> | undefined;

export interface SignatureWaitersOptions {
  pool: pg.Pool;
  logger: Logger;
  /** The listening connection's database; without one, waiters rely on the fallback check alone. */
  connectionString: string | undefined;
  waitersMax?: number;
  fallbackCheckIntervalMs?: number;
  listenerReconnectDelayMsMin?: number;
}

interface Waiter {
  intentId: string;
  finish: (result: SignatureWait) => void;
}

/**
 * The governor waits for the settlement worker's header without polling per request: one
 * listening connection per process hears the intent id of every stored header (or closed
 * payment), and each notification costs one query for the waiters of that turn together.
 * A waiter is registered before its first check, so a header stored in between is not
 * missed: the first check or the notification that follows it finds it.
 */
export class SignatureWaiters {
  private readonly waiters = new Map<string, Set<Waiter>>();
  private waiterCount = 0;
  private readonly waitersMax: number;
  private readonly fallbackCheckIntervalMs: number;
  private readonly listener: PgListener | undefined;
  private readonly checks: Coalescer<string, CheckResult>;
  private fallbackTimer: NodeJS.Timeout | undefined;
  private fallbackRunning = false;
  private lastFullWarningMs = 0;

  constructor(private readonly options: SignatureWaitersOptions) {
    this.waitersMax = options.waitersMax ?? WAITERS_MAX_DEFAULT;
    this.fallbackCheckIntervalMs = options.fallbackCheckIntervalMs ?? FALLBACK_CHECK_INTERVAL_MS_DEFAULT;
    this.checks = new Coalescer((intentIds) => this.checkMany(intentIds), CHECK_BATCH_MAX);
    this.listener =
      options.connectionString === undefined
        ? undefined
        : new PgListener({
            connectionString: options.connectionString,
            applicationName: 'paybound-governor-signature-waiters',
            channels: [PAYMENT_SIGNAL_CHANNEL],
            logger: options.logger,
            onNotification: (_channel, intentId) => this.signalled(intentId),
            onListening: () => this.checkAllWaiting(),
            ...(options.listenerReconnectDelayMsMin === undefined ? {} : { reconnectDelayMsMin: options.listenerReconnectDelayMsMin }),
          });
  }

  /** Requests waiting now; for tests and health. */
  get waitingCount(): number {
    return this.waiterCount;
  }

  /** The listener, for tests that take its connection away. */
  get notificationListener(): PgListener | undefined {
    return this.listener;
  }

  start(): void {
    this.listener?.start();
    this.fallbackTimer = setInterval(() => this.checkAllWaiting(), this.fallbackCheckIntervalMs);
    this.fallbackTimer.unref();
  }

  /** Stops listening; requests still waiting are answered as timed out, so none hangs. */
  async stop(): Promise<void> {
    if (this.fallbackTimer !== undefined) clearInterval(this.fallbackTimer);
    await this.listener?.stop();
    for (const set of [...this.waiters.values()]) for (const waiter of [...set]) waiter.finish({ kind: 'timeout' });
  }

  /**
   * Resolves once the header exists, the payment was closed without one (the worker refused
   * and released it, or it was rejected), or `timeoutMs` passed. With `waitersMax` requests
   * already waiting, it checks once and does not wait: the caller answers as on a timeout
   * (sign-only: 202 to be polled; pay-and-fetch: release if still unsigned), so overload
   * degrades to answers that are safe rather than to unbounded memory.
   */
  async waitFor(intentId: string, timeoutMs: number): Promise<SignatureWait> {
    if (timeoutMs <= 0) return (await this.checks.submit(intentId)) ?? { kind: 'timeout' };
    if (this.waiterCount >= this.waitersMax) {
      this.warnFull();
      return (await this.checks.submit(intentId)) ?? { kind: 'timeout' };
    }
    return new Promise<SignatureWait>((resolve) => {
      let finished = false;
      const waiter: Waiter = {
        intentId,
        finish: (result) => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          this.remove(waiter);
          resolve(result);
        },
      };
      const timer = setTimeout(() => waiter.finish({ kind: 'timeout' }), timeoutMs);
      this.add(waiter);
      void this.check([intentId]);
    });
  }

  private add(waiter: Waiter): void {
    let set = this.waiters.get(waiter.intentId);
    if (set === undefined) {
      set = new Set();
      this.waiters.set(waiter.intentId, set);
    }
    set.add(waiter);
    this.waiterCount += 1;
  }

  private remove(waiter: Waiter): void {
    const set = this.waiters.get(waiter.intentId);
    if (set === undefined || !set.delete(waiter)) return;
    this.waiterCount -= 1;
    if (set.size === 0) this.waiters.delete(waiter.intentId);
  }

  private signalled(intentId: string): void {
    if (this.waiters.has(intentId)) void this.check([intentId]);
  }

  private checkAllWaiting(): void {
    // One sweep at a time: a slow database must not pile sweeps of every waiter on each other.
    if (this.fallbackRunning || this.waiters.size === 0) return;
    this.fallbackRunning = true;
    void this.check([...this.waiters.keys()]).finally(() => {
      this.fallbackRunning = false;
    });
  }

  /** Checks the intents (batched with every other check of this turn) and finishes their waiters. */
  private check(intentIds: readonly string[]): Promise<void> {
    return Promise.all(
      intentIds.map(async (intentId) => {
        let result: CheckResult;
        try {
          result = await this.checks.submit(intentId);
        } catch (error) {
          // The waiter stays; the next notification or fallback sweep checks again.
          this.options.logger.warn({ err: { message: (error as Error).message } }, 'checking for a payment header failed');
          return;
        }
        if (result === undefined) return;
        for (const waiter of [...(this.waiters.get(intentId) ?? [])]) waiter.finish(result);
      }),
    ).then(() => undefined);
  }

  private async checkMany(intentIds: string[]): Promise<CheckResult[]> {
    const result = await this.options.pool.query<{ intent_id: string; header_name: string | null; header_value: string | null; header_key_id: string | null; status: string | null; reason: string | null }>(
      `SELECT q.intent_id, s.header_name, s.header_value, s.header_key_id, p.status, p.reason FROM unnest($1::text[]) AS q(intent_id)
       LEFT JOIN payment_signatures s USING (intent_id) LEFT JOIN payments_view p USING (intent_id)`,
      [intentIds],
    );
    const byIntent = new Map(result.rows.map((row) => [row.intent_id, row]));
    return intentIds.map((intentId): CheckResult => {
      const row = byIntent.get(intentId);
      if (row?.header_name != null && row.header_value != null) {
        return { kind: 'signed', header: openPaymentHeader(processDataKeys(), { intent_id: intentId, header_name: row.header_name, header_value: row.header_value, header_key_id: row.header_key_id }) };
      }
      if (row?.status === 'refunded' || row?.status === 'rejected') return { kind: 'not_signed', status: row.status, reason: row.reason };
      return undefined;
    });
  }

  private warnFull(): void {
    const nowMs = Date.now();
    if (nowMs - this.lastFullWarningMs < 10_000) return;
    this.lastFullWarningMs = nowMs;
    this.options.logger.warn({ waitersMax: this.waitersMax }, 'too many requests waiting for a payment header; answering without waiting');
  }
}

/**
 * The governor's side of signing: it never signs, it waits for the settlement worker's
 * header in `payment_signatures`. The worker stores a header only after the ledger recorded
 * the signature, so a header found here always belongs to a signed payment.
 */
@Injectable()
export class PaymentSignatures implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly waiters: SignatureWaiters;

  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(GOVERNOR_CONFIG) config: GovernorConfig,
    @Inject(LOGGER) logger: Logger,
  ) {
    this.waiters = new SignatureWaiters({ pool, logger, connectionString: config.databaseUrl });
    // Read now, so that a data key file that cannot be read stops the start, not a payment.
    if (processDataKeys() === undefined) logger.warn('PAYBOUND_DATA_KEY_FILE is not set: webhook secrets and payment headers are stored in the clear');
  }

  onApplicationBootstrap(): void {
    this.waiters.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.waiters.stop();
  }

  async headerFor(intentId: string): Promise<PaymentHeader | undefined> {
    const result = await this.pool.query<{ intent_id: string; header_name: string; header_value: string; header_key_id: string | null }>(
      'SELECT intent_id, header_name, header_value, header_key_id FROM payment_signatures WHERE intent_id = $1',
      [intentId],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : openPaymentHeader(processDataKeys(), row);
  }

  /** The wait is a span of its own, so a trace shows how long the payment waited for its signature. */
  waitFor(intentId: string, timeoutMs: number): Promise<SignatureWait> {
    return inSpan('paybound.signature_wait', { attributes: { 'paybound.intent.id': intentId } }, async (span) => {
      const waited = await this.waiters.waitFor(intentId, timeoutMs);
      span.setAttribute('paybound.outcome', waited.kind);
      return waited;
    });
  }
}
