import { Kafka, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import { EVENTS_TOPIC_PARTITIONS } from '../outbox/kafka-topic.js';
import { cloudEventType, fromCloudEvent, type CloudEventEnvelope } from '../outbox/cloud-event.js';
import type { StoredPaymentOffer } from './rail-authorization.js';
import { OFFER_GRACE_MS, type ReservationSigning, type ReservedEvent } from './reservation-signing.js';
import { finishedPrefixLength, type HandlingOutcome } from './sign-window.js';

const KAFKA_GROUP_ID = 'paybound-settlement-worker';
const RESERVED_CLOUD_EVENT_TYPE = cloudEventType('Reserved');
const KAFKA_RETRY_WAIT_MS = 200;
const KAFKA_RETRY_ATTEMPTS_MAX = Math.ceil((OFFER_GRACE_MS * 2) / KAFKA_RETRY_WAIT_MS);

export interface KafkaReservationSourceOptions {
  brokers: string[];
  topic: string;
  signing: ReservationSigning;
  logger: Logger;
  /** How often a stopped consumer checks that it should end. */
  idleWaitMs: number;
}

/**
 * Reserved events from Kafka, as one member of the `paybound-settlement-worker` group. An
 * offset is committed only after its event is handled; a redelivery after a crash is
 * harmless, because the same intent always yields the same authorization.
 */
export class KafkaReservationSource {
  private stopping = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: KafkaReservationSourceOptions) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    const { brokers, topic, logger } = this.options;
    const kafka = new Kafka({ clientId: 'paybound-settlement-worker', brokers, logLevel: logLevel.NOTHING, retry: { retries: 8, maxRetryTime: 5_000 } });
    const consumer = kafka.consumer({ groupId: KAFKA_GROUP_ID });
    // The topic appears when the governor's relay first publishes; until then, keep trying.
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        break;
      } catch (error) {
        logger.warn({ err: { message: (error as Error).message }, attempt }, 'kafka source not ready; retrying');
        await consumer.disconnect().catch(() => undefined);
        await sleep(Math.min(attempt * 500, 5_000));
      }
    }
    if (this.stopping) return;
    await this.consume(consumer);
    while (!this.stopping) await sleep(this.options.idleWaitMs * 4);
    await consumer.disconnect();
  }

  /**
   * eachBatch rather than eachMessage, which handles one message at a time per partition:
   * the Reserved events of a batch are handled concurrently (within the signing limit, which
   * every partition shares), and the offset is resolved only over the finished messages at
   * the start of the batch.
   */
  private async consume(consumer: Consumer): Promise<void> {
    const { signing } = this.options;
    await consumer.run({
      partitionsConsumedConcurrently: EVENTS_TOPIC_PARTITIONS,
      eachBatchAutoResolve: false,
      eachBatch: async (payload) => {
        const { batch } = payload;
        const heartbeat = (): Promise<void> => payload.heartbeat();
        const live = (): boolean => payload.isRunning() && !payload.isStale() && !this.stopping;
        const events = batch.messages.map(reservedFromKafka);
        const offers = await signing.storedOffers(events.flatMap((event) => (event === undefined ? [] : [event.data.intentId])));
        const outcomes = await Promise.all(
          events.map((event) => (event === undefined ? Promise.resolve<HandlingOutcome>('done') : this.handle(event, offers.get(event.data.intentId), heartbeat, live))),
        );
        signing.warnFailures(outcomes);
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
  }

  /** One Reserved event from Kafka; a missing offer row makes it wait, and it gives up (and releases) after the grace period. */
  private async handle(event: ReservedEvent, prefetched: StoredPaymentOffer | undefined, heartbeat: () => Promise<void>, live: () => boolean): Promise<HandlingOutcome> {
    for (let attempt = 0; attempt < KAFKA_RETRY_ATTEMPTS_MAX; attempt++) {
      if (!live()) return 'not_started';
      const outcome = await this.options.signing.handle(event, attempt === 0 ? { prefetched } : 'fetch');
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
