import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVENTS_TOPIC_PARTITIONS } from '../../libs/outbox/kafka-topic.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, readWholeLog, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { startKafkaBroker, type KafkaBroker } from '../support/kafka-broker.js';
import { readTopic } from '../support/kafka-reader.js';
import { sampleValue, scrape } from '../support/prometheus.js';

const ADMIN = 'test-admin-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const TOPIC = 'paybound.events.v1';


describe('outbox relay to Kafka through a broker outage', () => {
  let db: TestDatabase;
  let broker: KafkaBroker;
  const governors: GovernorProcess[] = [];

  beforeAll(async () => {
    db = await freshDatabase('outage');
    // Its own broker: this test stops it, which must not disturb the shared one.
    broker = await startKafkaBroker();
    const env = {
      DATABASE_URL: db.url,
      KAFKA_BROKERS: broker.brokers,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      // The test reads the relay's counters from /metrics.
      PAYBOUND_METRICS_OPEN: 'true',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    };
    // Two governors: only one may relay at a time, or events would go out twice.
    governors.push(await spawnGovernor(env), await spawnGovernor(env));
  });

  afterAll(async () => {
    await Promise.all(governors.map((g) => g.stop()));
    await broker.destroy();
    await db.drop();
  });

  it('keeps deciding while Kafka is down and publishes every event exactly once afterwards', async () => {
    const [a, b] = governors as [GovernorProcess, GovernorProcess];
    const key = await seedAgent(a.url, ADMIN, { orgId: 'org-k', agentId: 'agent-k' }, { org: '100.00' });
    const session = await call<{ id: string }>(a.url, 'POST', '/v1/sessions', { key, body: { limit: '0.60' } });
    const offer = paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO });
    const pay = (g: GovernorProcess, i: number) =>
      call(g.url, 'POST', `/v1/sessions/${session.body.id}/payments`, { key, body: { paymentRequired: offer, url: `http://127.0.0.1/d/${i}` } });

    const before = await Promise.all(Array.from({ length: 20 }, (_, i) => pay(i % 2 ? a : b, i)));
    expect(before.every((r) => r.status === 202)).toBe(true);
    // Either governor reports the outbox lag, whichever of them relays.
    const lagOf = async (g: GovernorProcess) => {
      const samples = await scrape(`${g.url}/metrics`);
      return { events: sampleValue(samples, 'paybound_outbox_lag_events'), seconds: sampleValue(samples, 'paybound_outbox_lag_seconds'), publishErrors: sampleValue(samples, 'paybound_kafka_publish_errors_total') };
    };
    const lagDrained = async () => {
      for (let attempt = 0; attempt < 300; attempt += 1) {
        const lags = await Promise.all(governors.map(lagOf));
        if (lags.every((lag) => lag.events === 0 && lag.seconds === 0)) return;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`outbox lag did not reach 0: ${JSON.stringify(await Promise.all(governors.map(lagOf)))}`);
    };
    await lagDrained();
    const publishedBeforeOutage = (await readWholeLog(db)).length;

    await broker.stop();
    const started = performance.now();
    const during = await Promise.all(Array.from({ length: 60 }, (_, i) => pay(i % 2 ? a : b, 100 + i)));
    const duringMs = performance.now() - started;
    console.log(`[outage] 60 decisions with Kafka down took ${duringMs.toFixed(0)} ms`);
    // The session allows 60 payments of $0.01: 40 more are accepted, then the limit refuses.
    expect(during.filter((r) => r.status === 202)).toHaveLength(40);
    expect(during.filter((r) => r.status === 403)).toHaveLength(20);
    // Everything decided during the outage waits in the outbox, and the metrics say so.
    const waitingCount = (await readWholeLog(db)).length - publishedBeforeOutage;
    expect(waitingCount).toBeGreaterThanOrEqual(60);
    await new Promise((r) => setTimeout(r, 1_100));
    const lags = await Promise.all(governors.map(lagOf));
    for (const lag of lags) expect({ events: lag.events, oldestWaitingAtLeastASecond: lag.seconds >= 1 }).toEqual({ events: waitingCount, oldestWaitingAtLeastASecond: true });
    // The relay's client retries inside each send before it reports a failure.
    let publishErrors = 0;
    for (let attempt = 0; attempt < 150 && publishErrors === 0; attempt += 1) {
      publishErrors = (await Promise.all(governors.map(lagOf))).reduce((sum, lag) => sum + lag.publishErrors, 0);
      if (publishErrors === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(publishErrors).toBeGreaterThan(0);
    console.log(`[outage] outbox lag with Kafka down: ${lags[0]!.events} events, oldest ${lags[0]!.seconds.toFixed(1)} s; Kafka publish errors ${publishErrors}`);

    await broker.start();
    const after = await Promise.all(Array.from({ length: 5 }, (_, i) => pay(a, 200 + i)));
    expect(after.every((r) => r.status === 403)).toBe(true);

    const stored = await readWholeLog(db);
    const storedIds = new Set(stored.map((e) => e.eventId));
    const messages = await readTopic(broker.brokers, TOPIC, (m) => new Set(m.map((x) => String(x.value.id))).size >= storedIds.size, 90_000);
    const ids = messages.map((m) => String(m.value.id));
    expect(ids.length).toBe(new Set(ids).size);
    expect(new Set(ids)).toEqual(storedIds);

    // One org's events stay in one partition, in stream order, as CloudEvents keyed by org.
    const orgMessages = messages.filter((m) => m.key === 'org-k');
    expect(new Set(orgMessages.map((m) => m.partition)).size).toBe(1);
    const versions = orgMessages.map((m) => Number(m.value.streamversion));
    expect(versions).toEqual([...versions].sort((x, y) => x - y));
    const reserved = messages.find((m) => m.value.type === 'paybound.reserved.v1');
    expect(reserved?.value).toMatchObject({ specversion: '1.0', source: 'urn:paybound:governor', orgid: 'org-k', datacontenttype: 'application/json' });
    expect(reserved?.value.data).toMatchObject({ amountMicros: '10000', amountAtomic: '10000', sessionId: session.body.id });
    expect(reserved?.headers.ce_id).toBe(reserved?.value.id);
    // The relay created the topic with the partitions the workers and FinOps count on.
    const admin = new Kafka({ clientId: 'outage-test', brokers: broker.brokers.split(','), logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: [TOPIC] });
      expect(metadata.topics[0]?.partitions).toHaveLength(EVENTS_TOPIC_PARTITIONS);
      expect(EVENTS_TOPIC_PARTITIONS).toBe(12);
    } finally {
      await admin.disconnect();
    }
    await lagDrained();
  });
});
