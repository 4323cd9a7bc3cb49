import { Kafka, logLevel } from 'kafkajs';
import { EVENTS_TOPIC_PARTITIONS } from '../../libs/outbox/kafka-topic.js';

export interface TopicMessage {
  key: string;
  value: Record<string, unknown>;
  headers: Record<string, string>;
  partition: number;
  offset: string;
}

/**
 * Reads a topic from the beginning with a new consumer group until `done(messages)` holds
 * or the time runs out; returns everything read, duplicates included.
 */
export async function readTopic(
  brokers: string,
  topic: string,
  done: (messages: TopicMessage[]) => boolean,
  timeoutMs = 60_000,
): Promise<TopicMessage[]> {
  const kafka = new Kafka({ clientId: 'test-reader', brokers: [brokers], logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `reader-${Date.now()}-${Math.random().toString(36).slice(2)}` });
  const messages: TopicMessage[] = [];
  await ensureTopic(kafka, topic);
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => resolve(), timeoutMs);
      consumer
        .run({
          eachMessage: ({ message, partition }) => {
            const headers: Record<string, string> = {};
            for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
            messages.push({
              key: message.key?.toString() ?? '',
              value: JSON.parse(message.value?.toString() ?? '{}') as Record<string, unknown>,
              headers,
              partition,
              offset: message.offset,
            });
            if (done(messages)) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
    // A short grace period catches duplicates that arrive just after the last new event.
    await new Promise((r) => setTimeout(r, 1_000));
  } finally {
    await consumer.disconnect();
  }
  return messages;
}

/**
 * Creates the topic as the relay would (or finds it) and waits until the broker serves its
 * metadata: subscribing before then fails with "does not host this topic-partition" when the
 * reader wins the race against the relay's first publish.
 */
async function ensureTopic(kafka: Kafka, topic: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: EVENTS_TOPIC_PARTITIONS }], waitForLeaders: true });
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
        if (topics[0]?.partitions.length) return;
        if (Date.now() > deadline) throw new Error(`topic ${topic} has no partitions after 15 s`);
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
}
