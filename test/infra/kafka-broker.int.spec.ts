import { describe, it, expect, inject } from 'vitest';
import { Kafka, Partitioners, logLevel, type Consumer } from 'kafkajs';
import { ensureTopic, startKafkaBroker } from '../support/kafka-broker.js';

// The first consumer group on a fresh broker creates __consumer_offsets, and kafkajs logs the
// "coordinator is loading" retries as errors; they are expected, so only real failures show.
function client(brokers: string): Kafka {
  return new Kafka({ clientId: 'kafka-broker-int', brokers: [brokers], logLevel: logLevel.NOTHING });
}

async function produce(brokers: string, topic: string, messages: { key: string; value: string }[]): Promise<void> {
  const producer = client(brokers).producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

async function consume(brokers: string, topic: string, count: number, timeoutMs = 30_000): Promise<string[]> {
  const consumer: Consumer = client(brokers).consumer({ groupId: `g-${topic}-${Date.now()}` });
  const values: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((done, fail) => {
      const timer = setTimeout(() => fail(new Error(`got ${values.length} of ${count} messages`)), timeoutMs);
      void consumer.run({
        eachMessage: ({ message }) => {
          values.push(message.value?.toString() ?? '');
          if (values.length >= count) {
            clearTimeout(timer);
            done();
          }
          return Promise.resolve();
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return values;
}

describe('test Kafka broker', () => {
  it('round-trips messages through the shared broker', async () => {
    const brokers = inject('kafkaBrokers');
    const topic = `infra-roundtrip-${Date.now()}`;
    await ensureTopic(brokers, topic, 3);

    // One key keeps the three messages on one partition, so their order is defined.
    await produce(brokers, topic, [
      { key: 'k', value: 'one' },
      { key: 'k', value: 'two' },
      { key: 'k', value: 'three' },
    ]);

    expect(await consume(brokers, topic, 3)).toEqual(['one', 'two', 'three']);
  });

  it('keeps messages across a stop and start of its own broker', async () => {
    const broker = await startKafkaBroker();
    try {
      const topic = 'infra-restart';
      await ensureTopic(broker.brokers, topic, 1);
      await produce(broker.brokers, topic, [{ key: 'k', value: 'before-restart' }]);
      const pidBefore = broker.pid;

      await broker.stop();
      await broker.start();

      expect(broker.pid).not.toBe(pidBefore);
      expect(await consume(broker.brokers, topic, 1)).toEqual(['before-restart']);
    } finally {
      await broker.destroy();
    }
  });
});
