import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { fetch, type Dispatcher } from 'undici';
import { afterAttempt, type RetrySchedule } from '../domain/webhooks/webhooks.js';
import type { EventStore, RecordedEvent } from '../eventstore/event-store.js';
import { BackgroundLoop } from '../platform/background-loop.js';
import { toCloudEvent } from '../outbox/cloud-event.js';
import { processDataKeys, type DataKeys } from '../platform/data-keys.js';
import { openWebhookSecret, sealStoredWebhookSecrets, signWebhook } from './signature.js';

export interface WebhookSenderOptions {
  pool: Pool;
  store: EventStore;
  logger: Logger;
  schedule: RetrySchedule;
  /** Bounds one POST, from connecting to the response status. */
  timeoutMs: number;
  /** The outbound HTTP client; the governor's refuses private addresses unless allowed. */
  dispatcher: Dispatcher;
  /** Throws for a URL that must not be called (a literal private address); checked before connecting. */
  assertDestination?: (url: URL) => void;
  now: () => Date;
  random?: () => number;
  /** Requests in flight from this process at once. */
  concurrency?: number;
  /** Requests in flight to one endpoint at once, so a slow endpoint cannot take every slot. */
  perEndpointConcurrency?: number;
  pollIntervalMs?: number;
  metrics?: WebhookMetrics;
  /** The keys secrets are sealed with; by default the process's (PAYBOUND_DATA_KEY_FILE). */
  dataKeys?: DataKeys | undefined;
}

export class WebhookMetrics {
  readonly attempts: Counter<'result'>;
  readonly attemptSeconds: Histogram;

  constructor(registry: Registry, pool: Pool) {
    const registers = [registry];
    this.attempts = new Counter({ name: 'paybound_webhook_attempts_total', help: 'Webhook POSTs by what they led to: delivered, retrying (will be tried again) or failed (no attempts left)', labelNames: ['result'], registers });
    this.attemptSeconds = new Histogram({ name: 'paybound_webhook_attempt_duration_seconds', help: 'One webhook POST, from connecting to the response status', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers });
    new Gauge({
      name: 'paybound_webhook_deliveries_pending',
      help: 'Webhook deliveries waiting for a first or further attempt, over all endpoints',
      registers,
      async collect() {
        const result = await pool.query<{ count: string }>(`SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'`);
        this.set(Number(result.rows[0]?.count ?? 0));
      },
    });
  }
}

interface ClaimedRow {
  delivery_id: string;
  endpoint_id: string;
  event_id: string;
  attempts: number;
  url: string;
  secret: string;
  secret_key_id: string | null;
  previous_secret: string | null;
  previous_secret_key_id: string | null;
  previous_secret_expires_at: Date | null;
}

interface AttemptResult {
  httpStatus: number | null;
  error: string | null;
}

const CONCURRENCY_DEFAULT = 16;
const PER_ENDPOINT_CONCURRENCY_DEFAULT = 4;
const POLL_INTERVAL_MS = 250;
const CLAIM_BACKOFF_MS_MAX = 5_000;
/** A claim outlives the request by this much, so only a crashed sender's claim runs out. */
const LEASE_MARGIN_MS = 10_000;
const ERROR_CHARS_MAX = 500;
const USER_AGENT = 'Paybound-Webhooks/1';

/**
 * Sends pending webhook deliveries. A delivery is claimed with a lease in one statement
 * (FOR UPDATE SKIP LOCKED, so several governors share the work), the POST happens with no
 * connection or transaction held, and the result is recorded only if the claim is still
 * this sender's: the attempt count it claimed at fences off a sender whose lease ran out.
 */
export class WebhookSender extends BackgroundLoop {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly stopping = new AbortController();
  private readonly concurrency: number;
  private readonly perEndpoint: number;
  private readonly dataKeys: DataKeys | undefined;

  constructor(private readonly options: WebhookSenderOptions) {
    super();
    this.concurrency = options.concurrency ?? CONCURRENCY_DEFAULT;
    this.perEndpoint = options.perEndpointConcurrency ?? PER_ENDPOINT_CONCURRENCY_DEFAULT;
    this.dataKeys = 'dataKeys' in options ? options.dataKeys : processDataKeys();
  }

  /** Stops claiming, aborts the requests in flight (they are recorded as failed attempts and retried later) and waits for them. */
  override async stop(): Promise<void> {
    await super.stop();
    this.stopping.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  protected async run(): Promise<void> {
    const keys = this.dataKeys;
    if (keys !== undefined) {
      // Secrets stored in the clear (before sealing began) or under an older key are sealed anew.
      await sealStoredWebhookSecrets(this.options.pool, keys).then(
        (count) => {
          if (count > 0) this.options.logger.info({ count, keyId: keys.currentKeyId }, 'webhook secrets sealed with the current data key');
        },
        (error: unknown) => this.options.logger.warn({ err: { message: (error as Error).message } }, 'sealing stored webhook secrets failed; they are tried again at the next start'),
      );
    }
    const pollMs = this.options.pollIntervalMs ?? POLL_INTERVAL_MS;
    let waitMs = pollMs;
    while (this.running) {
      let claimed = 0;
      const free = this.concurrency - this.inFlight.size;
      if (free > 0) {
        try {
          claimed = await this.claimAndSend(free);
          waitMs = pollMs;
        } catch (error) {
          // The database is away: nothing can be claimed or recorded, so wait longer each time.
          this.options.logger.warn({ err: { message: (error as Error).message }, retryInMs: waitMs }, 'webhook sender: claim failed, retrying');
          await this.sleep(waitMs);
          waitMs = Math.min(waitMs * 2, CLAIM_BACKOFF_MS_MAX);
          continue;
        }
      }
      // More may be due while there are free slots; otherwise wait for a slot, new work or the poll.
      if (claimed > 0 && this.inFlight.size < this.concurrency) continue;
      await this.sleep(pollMs);
    }
  }

  private async claimAndSend(slots: number): Promise<number> {
    const now = this.options.now();
    const leaseUntil = new Date(now.getTime() + this.options.timeoutMs + LEASE_MARGIN_MS);
    const claimed = await this.options.pool.query<ClaimedRow>(CLAIM_SQL, [now, slots, this.perEndpoint, leaseUntil]);
    if (claimed.rows.length === 0) return 0;
    const events = new Map((await this.options.store.readByIds(this.options.pool, claimed.rows.map((r) => r.event_id))).map((e) => [e.eventId, e]));
    for (const row of claimed.rows) {
      const event = events.get(row.event_id);
      const sending: Promise<void> = (event === undefined ? this.record(row, now, 0, { httpStatus: null, error: 'event_not_found' }) : this.send(row, event))
        .catch((error: unknown) => this.options.logger.warn({ err: { message: (error as Error).message }, deliveryId: row.delivery_id }, 'webhook sender: could not record an attempt'))
        .finally(() => {
          this.inFlight.delete(sending);
          this.wake();
        });
      this.inFlight.add(sending);
    }
    return claimed.rows.length;
  }

  private async send(row: ClaimedRow, event: RecordedEvent): Promise<void> {
    const startedAt = this.options.now();
    const timestampSec = Math.floor(startedAt.getTime() / 1000);
    const body = JSON.stringify(toCloudEvent(event));
    const current = openWebhookSecret(this.dataKeys, { value: row.secret, keyId: row.secret_key_id }, row.endpoint_id);
    const secrets =
      row.previous_secret !== null && row.previous_secret_expires_at !== null && row.previous_secret_expires_at > startedAt
        ? [current, openWebhookSecret(this.dataKeys, { value: row.previous_secret, keyId: row.previous_secret_key_id }, row.endpoint_id)]
        : [current];
    const started = performance.now();
    const timeout = AbortSignal.timeout(this.options.timeoutMs);
    let result: AttemptResult;
    try {
      this.options.assertDestination?.(new URL(row.url));
      const response = await fetch(row.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/cloudevents+json; charset=utf-8',
          'user-agent': USER_AGENT,
          'paybound-webhook-id': event.eventId,
          'paybound-webhook-timestamp': String(timestampSec),
          'paybound-webhook-attempt': String(row.attempts),
          'paybound-signature': signWebhook(secrets, timestampSec, body),
        },
        body,
        // A redirect is not followed: it counts as a failed attempt, like any status but 2xx.
        redirect: 'manual',
        signal: AbortSignal.any([timeout, this.stopping.signal]),
        dispatcher: this.options.dispatcher,
      });
      // Only the status matters; the body is not read.
      await response.body?.cancel().catch(() => undefined);
      result = { httpStatus: response.status, error: null };
    } catch (error) {
      result = { httpStatus: null, error: describeFailure(error, timeout.aborted, this.stopping.signal.aborted, this.options.timeoutMs) };
    }
    await this.record(row, startedAt, Math.round(performance.now() - started), result);
  }

  private async record(row: ClaimedRow, startedAt: Date, durationMs: number, result: AttemptResult): Promise<void> {
    const now = this.options.now();
    const next = afterAttempt(row.attempts, result.httpStatus, now.getTime(), this.options.schedule, (this.options.random ?? Math.random)());
    const nextAttemptAt = next.status === 'pending' ? new Date(next.nextAttemptAtMs) : null;
    const recorded = await this.options.pool.query(RECORD_SQL, [row.delivery_id, row.attempts, next.status, nextAttemptAt, result.httpStatus, result.error, now, startedAt, durationMs]);
    if (recorded.rowCount === 0) {
      this.options.logger.info({ deliveryId: row.delivery_id, attempt: row.attempts }, 'webhook sender: the delivery moved on during the attempt (claim ran out, retried or endpoint deleted); attempt not recorded');
      return;
    }
    this.options.metrics?.attempts.inc({ result: next.status === 'pending' ? 'retrying' : next.status });
    this.options.metrics?.attemptSeconds.observe(durationMs / 1_000);
    const log = { deliveryId: row.delivery_id, endpointId: row.endpoint_id, eventId: row.event_id, attempt: row.attempts, httpStatus: result.httpStatus, error: result.error, status: next.status, nextAttemptAt };
    if (next.status === 'failed') this.options.logger.warn(log, 'webhook delivery failed: no more attempts');
    else if (next.status === 'pending') this.options.logger.info(log, 'webhook attempt failed; retrying later');
  }
}

/** A short, stable account of why a request failed, without anything the request carried. */
function describeFailure(error: unknown, timedOut: boolean, stopping: boolean, timeoutMs: number): string {
  if (timedOut) return `timeout: no response within ${timeoutMs} ms`;
  if (stopping) return 'aborted: the governor stopped';
  let detail = error instanceof Error ? error.message : String(error);
  for (let cause: unknown = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (cause.name === 'DestinationNotAllowedError') {
      detail = `destination_not_allowed: ${cause.message}`;
      break;
    }
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') {
      detail = `${code}: ${cause.message}`;
      break;
    }
  }
  return detail.slice(0, ERROR_CHARS_MAX);
}

// Due deliveries of live endpoints, oldest first, at most $3 in flight per endpoint (counting
// the unexpired claims of every governor), $2 in all. Each endpoint's candidates are locked
// with SKIP LOCKED, so two governors claiming at once take different rows; the claim is the
// lease and the attempt count, written in the same statement.
const CLAIM_SQL = `
WITH busy AS (
  SELECT endpoint_id, count(*)::int AS in_flight FROM webhook_deliveries
  WHERE status = 'pending' AND lease_expires_at IS NOT NULL AND lease_expires_at > $1 GROUP BY endpoint_id
), locked AS (
  SELECT d.delivery_id, d.endpoint_id, d.next_attempt_at
  FROM webhook_endpoints e
  LEFT JOIN busy b ON b.endpoint_id = e.endpoint_id
  CROSS JOIN LATERAL (
    SELECT delivery_id, endpoint_id, next_attempt_at FROM webhook_deliveries d
    WHERE d.endpoint_id = e.endpoint_id AND d.status = 'pending' AND d.next_attempt_at <= $1
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at <= $1)
    ORDER BY d.next_attempt_at, d.delivery_id LIMIT $3
    FOR UPDATE SKIP LOCKED
  ) d
  WHERE e.enabled AND e.deleted_at IS NULL AND COALESCE(b.in_flight, 0) < $3
    AND EXISTS (SELECT 1 FROM webhook_deliveries due WHERE due.status = 'pending' AND due.next_attempt_at <= $1)
), chosen AS (
  SELECT l.delivery_id FROM (
    SELECT l.*, row_number() OVER (PARTITION BY l.endpoint_id ORDER BY l.next_attempt_at, l.delivery_id) + COALESCE(b.in_flight, 0) AS slot
    FROM locked l LEFT JOIN busy b ON b.endpoint_id = l.endpoint_id
  ) l
  WHERE l.slot <= $3 ORDER BY l.next_attempt_at, l.delivery_id LIMIT $2
)
UPDATE webhook_deliveries d SET attempts = d.attempts + 1, lease_expires_at = $4, last_attempt_at = $1
FROM chosen, webhook_endpoints e
WHERE d.delivery_id = chosen.delivery_id AND e.endpoint_id = d.endpoint_id
RETURNING d.delivery_id, d.endpoint_id, d.event_id, d.attempts, e.url, e.secret, e.secret_key_id, e.previous_secret, e.previous_secret_key_id, e.previous_secret_expires_at`;

// The attempt's outcome and its history row, only while the claim made at this attempt
// count is still the delivery's (a manual retry or a newer claim moved it on otherwise).
const RECORD_SQL = `
WITH updated AS (
  UPDATE webhook_deliveries SET
    status = $3,
    next_attempt_at = COALESCE($4, next_attempt_at),
    lease_expires_at = NULL,
    last_http_status = $5,
    last_error = $6,
    delivered_at = CASE WHEN $3 = 'delivered' THEN $7 ELSE delivered_at END
  WHERE delivery_id = $1 AND attempts = $2 AND status = 'pending' AND lease_expires_at IS NOT NULL
  RETURNING delivery_id
)
INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, http_status, error)
SELECT delivery_id, $2, $8, $9, $5, $6 FROM updated`;
