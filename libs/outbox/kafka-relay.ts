import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { PoolClient } from 'pg';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { EventStore, LogPosition } from '../eventstore/event-store.js';
import { committedLog, LogSubscription, namedCheckpoint } from '../eventstore/log-subscription.js';
import { BackgroundLoop } from '../platform/background-loop.js';
import { toCloudEvent } from './cloud-event.js';
import { EVENTS_TOPIC_PARTITIONS } from './kafka-topic.js';

export interface KafkaRelayOptions {
  brokers: string[];
  topic: string;
  pageSize?: number;
  idleWaitMs?: number;
  clientId?: string;
}

const CHECKPOINT = 'kafka-relay';
/** Lag counts stop here, so a scrape during a long outage stays one bounded query. */
const LAG_COUNT_MAX = 1_000_000;
// Only one process relays at a time, so that pages go out in commit order exactly once.
const RELAY_LOCK_KEY = 0x6b61_666b; // "kafk"
const BACKOFF_MS_MAX = 5_000;

/**
 * The outbox relay: reads the committed log from its checkpoint in pages and publishes each
 * page to Kafka as CloudEvents keyed by org, then stores the checkpoint. Decisions never
 * wait for it: when Kafka is down the events wait in the log, and the relay resumes from
 * the checkpoint when Kafka is back. The producer is idempotent, so its own retries cannot
 * duplicate a message.
 */
export class KafkaOutboxRelay extends BackgroundLoop {
  private lockClient: PoolClient | undefined;
  private producer: Producer | undefined;
  private readonly kafka: Kafka;
  private readonly subscription: LogSubscription<LogPosition>;
  private topicReady = false;

  constructor(
    private readonly store: EventStore,
    private readonly options: KafkaRelayOptions,
    private readonly logger: Logger,
    private readonly metrics?: RelayMetrics,
  ) {
    super();
    this.subscription = new LogSubscription(store, { reader: committedLog(store), checkpoint: namedCheckpoint(store, CHECKPOINT), pageSize: options.pageSize ?? 500 });
    this.kafka = new Kafka({
      clientId: options.clientId ?? 'paybound-relay',
      brokers: options.brokers,
      connectionTimeout: 2_000,
      requestTimeout: 10_000,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
      logLevel: logLevel.NOTHING,
    });
  }

  protected async run(): Promise<void> {
    let backoffMs = 100;
    while (this.running) {
      try {
        if (!(await this.holdLeadership())) {
          await this.sleep(1_000);
          continue;
        }
        const published = await this.publishNextPage();
        backoffMs = 100;
        if (published === 0) await this.sleep(this.options.idleWaitMs ?? 100);
      } catch (error) {
        this.metrics?.publishErrors.inc();
        this.logger.warn({ err: { message: (error as Error).message }, backoffMs }, 'kafka relay: publish failed, retrying');
        await this.resetProducer();
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, BACKOFF_MS_MAX);
      }
    }
    await this.resetProducer();
    await this.releaseLeadership();
  }

  /** Publishes one page; the checkpoint moves only after Kafka acknowledged all of it. */
  private async publishNextPage(): Promise<number> {
    const published = await this.subscription.handlePage(async (page) => {
      const producer = await this.connectedProducer();
      await producer.send({
        topic: this.options.topic,
        acks: -1,
        messages: page.map((event) => ({
          // Org events are keyed by org, so each org stays in order; org-less ones (wallets) by stream.
          key: event.metadata.orgId === '' ? event.streamId : event.metadata.orgId,
          value: JSON.stringify(toCloudEvent(event)),
          headers: {
            'content-type': 'application/cloudevents+json',
            ce_id: event.eventId,
            ...(event.metadata.traceparent === undefined ? {} : { traceparent: event.metadata.traceparent }),
          },
        })),
      });
    });
    this.metrics?.published.inc(published);
    return published;
  }

  private async connectedProducer(): Promise<Producer> {
    if (this.producer !== undefined) return this.producer;
    if (!this.topicReady) {
      const admin = this.kafka.admin();
      await admin.connect();
      try {
        await admin.createTopics({ topics: [{ topic: this.options.topic, numPartitions: EVENTS_TOPIC_PARTITIONS }], waitForLeaders: true });
      } finally {
        await admin.disconnect();
      }
      this.topicReady = true;
    }
    const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
    await producer.connect();
    this.producer = producer;
    return producer;
  }

  private async resetProducer(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    await producer?.disconnect().catch(() => undefined);
  }

  /** A session-level advisory lock on a dedicated connection: held until released or the connection dies. */
  private async holdLeadership(): Promise<boolean> {
    if (this.lockClient !== undefined) return true;
    const client = await this.store.pool.connect();
    const result = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [RELAY_LOCK_KEY]);
    if (result.rows[0]?.locked === true) {
      client.on('error', () => {
        this.lockClient = undefined;
      });
      this.lockClient = client;
      this.logger.info('kafka relay: this process relays the outbox');
      return true;
    }
    client.release();
    return false;
  }

  private async releaseLeadership(): Promise<void> {
    const client = this.lockClient;
    this.lockClient = undefined;
    if (client === undefined) return;
    await client.query('SELECT pg_advisory_unlock($1)', [RELAY_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
}

/** What is in the log but not yet on Kafka: how many events (up to a bound) and the age of the oldest. */
export async function outboxLag(store: EventStore): Promise<{ events: number; seconds: number }> {
  const result = await store.pool.query<{ events: string; seconds: number | null }>(
    `WITH checkpoint AS (
       SELECT COALESCE((SELECT transaction_id FROM subscription_checkpoints WHERE name = $1), '0'::xid8) AS transaction_id,
              COALESCE((SELECT global_position FROM subscription_checkpoints WHERE name = $1), 0) AS global_position
     ), waiting AS (
       SELECT e.occurred_at FROM events e, checkpoint c
       WHERE (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)
       ORDER BY e.transaction_id, e.global_position LIMIT $2
     )
     SELECT count(*) AS events, EXTRACT(EPOCH FROM now() - min(occurred_at))::float8 AS seconds FROM waiting`,
    [CHECKPOINT, LAG_COUNT_MAX],
  );
  const row = result.rows[0];
  return { events: Number(row?.events ?? 0), seconds: Math.max(0, row?.seconds ?? 0) };
}

export class RelayMetrics {
  readonly published: Counter;
  readonly publishErrors: Counter;

  constructor(registry: Registry, store: EventStore) {
    const registers = [registry];
    this.published = new Counter({ name: 'paybound_kafka_published_events_total', help: 'Events this process published to Kafka', registers });
    this.publishErrors = new Counter({ name: 'paybound_kafka_publish_errors_total', help: 'Failed attempts to publish a page of events to Kafka (retried)', registers });
    // Read from the database at scrape time, so every governor reports the same lag
    // whichever of them holds the relay's lock.
    let lag: Promise<{ events: number; seconds: number }> | undefined;
    const currentLag = () => (lag ??= outboxLag(store).finally(() => (lag = undefined)));
    new Gauge({
      name: 'paybound_outbox_lag_events',
      help: `Events committed but not yet published to Kafka (counted up to ${LAG_COUNT_MAX})`,
      registers,
      async collect() {
        this.set((await currentLag()).events);
      },
    });
    new Gauge({
      name: 'paybound_outbox_lag_seconds',
      help: 'Age of the oldest event not yet published to Kafka; 0 when none waits',
      registers,
      async collect() {
        this.set((await currentLag()).seconds);
      },
    });
  }
}
