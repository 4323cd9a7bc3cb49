import { performance } from 'node:perf_hooks';
import { Kafka, logLevel } from 'kafkajs';
import { EventStore } from '../libs/eventstore/event-store.js';
import { defaultMigrationsDirectory, migrate } from '../libs/eventstore/migrate.js';
import { OrgCommandProcessor } from '../libs/ledger/org-command-processor.js';
import { ensureTopic, startKafkaBroker } from '../test/support/kafka-broker.js';
import { registerCleanup } from './cleanup.js';
import { assertDurableCommits, createBenchDatabase } from './database.js';
import { runClosedLoop } from './load.js';
import { startGovernorProcess } from './processes.js';
import { benchClock, payboundDecider, setUpPaybound } from './paybound.js';
import { formatTable, summarizeLatencies } from './stats.js';
import { spreadWorkload } from './workload.js';

// The outbox relay to Kafka: a governor process runs with KAFKA_BROKERS set and relays the
// committed log; this process writes N reservations into the governor's database through
// OrgCommandProcessor (closed loop, spread over 1,000 orgs) and a Kafka consumer on the
// topic notes when each Reserved event arrives. Lag = arrival on the topic − the moment the
// writer's commit was acknowledged (both read from this process's monotonic clock).

export interface RelayBenchConfig {
  adminUrl: string;
  eventCount: number;
  concurrency: number;
}

export interface RelayRow {
  events: number;
  writtenPerSec: number;
  publishedPerSec: number;
  lagMsP50: number;
  lagMsP99: number;
  lagMsMax: number;
  duplicates: number;
  missing: number;
}

const TOPIC = 'paybound.events.v1';
const ARRIVAL_TIMEOUT_MS = 60_000;
const RESERVED_TYPE = 'paybound.reserved.v1';

export function readRelayConfig(adminUrl: string): RelayBenchConfig {
  const eventCount = Number(process.env.BENCH_RELAY_EVENTS ?? '20000');
  if (!Number.isInteger(eventCount) || eventCount < 100 || eventCount > 200_000) throw new Error('BENCH_RELAY_EVENTS must be an integer in 100..200000');
  const concurrency = Number(process.env.BENCH_RELAY_CONCURRENCY ?? '64');
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 4_096) throw new Error('BENCH_RELAY_CONCURRENCY must be an integer in 1..4096');
  return { adminUrl, eventCount, concurrency };
}

export async function runRelayBench(config: RelayBenchConfig, fail: (label: string, message: string) => void): Promise<RelayRow> {
  console.log(`\nrelay bench: ${config.eventCount} reservations over 1,000 orgs, ${config.concurrency} in flight, outbox relay in a governor process to a local Kafka broker`);
  const brokerStartedAt = Date.now();
  const broker = await startKafkaBroker();
  const destroyBroker = registerCleanup(`kafka broker pid ${broker.pid}`, () => broker.destroy());
  console.log(`  kafka broker up in ${((Date.now() - brokerStartedAt) / 1_000).toFixed(1)} s at ${broker.brokers}`);
  const database = await createBenchDatabase(config.adminUrl, 20);
  const dropDatabase = registerCleanup(`database ${database.name}`, () => database.drop());
  try {
    await assertDurableCommits(database.pool);
    await migrate(database.pool, defaultMigrationsDirectory());
    // The topic as the relay would create it (3 partitions keyed by org), made up front so
    // that the consumer is assigned its partitions before the first event is written.
    await ensureTopic(broker.brokers, TOPIC, 3);

    const arrivals = new Map<string, number>();
    let messageCount = 0;
    let duplicates = 0;
    const kafka = new Kafka({ clientId: 'bench-relay-reader', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `bench-relay-${Date.now()}`, maxWaitTimeInMs: 20, minBytes: 1 });
    const stopConsumer = registerCleanup('kafka consumer', () => consumer.disconnect());
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: TOPIC, fromBeginning: true });
      let assigned = false;
      consumer.on(consumer.events.GROUP_JOIN, () => (assigned = true));
      await consumer.run({
        eachBatch: async ({ batch }) => {
          const nowMs = performance.now();
          for (const message of batch.messages) {
            messageCount += 1;
            const value = JSON.parse(message.value?.toString() ?? '{}') as { type?: string; data?: { intentId?: string } };
            const intentId = value.data?.intentId;
            if (value.type !== RESERVED_TYPE || intentId === undefined) continue;
            if (arrivals.has(intentId)) duplicates += 1;
            else arrivals.set(intentId, nowMs);
          }
          await Promise.resolve();
        },
      });
      await waitFor(() => assigned, 30_000, 'the consumer joined its group');

      const governor = await startGovernorProcess({
        DATABASE_URL: database.url,
        KAFKA_BROKERS: broker.brokers,
        KAFKA_TOPIC: TOPIC,
        PAYBOUND_ADMIN_TOKEN: 'bench-admin-token',
        PAYBOUND_SIGN_WAIT_MS: '0',
        LOG_LEVEL: 'warn',
      });
      const stopGovernor = registerCleanup(`governor pid ${governor.pid}`, () => governor.stop());
      try {
        const workload = spreadWorkload(config.eventCount);
        const store = new EventStore(database.pool);
        const processor = new OrgCommandProcessor(store);
        const clock = benchClock(Date.now());
        await setUpPaybound(processor, workload, clock);
        // The setup events (orgs, agents, sessions) go out first; start measuring once they have.
        const setupEventCount = workload.orgCount * (1 + 2 * workload.agentsPerOrg);
        await waitFor(() => messageCount >= setupEventCount, ARRIVAL_TIMEOUT_MS, `${setupEventCount} setup events reached the topic`);

        const runTag = 'relay';
        const decide = payboundDecider(processor, workload, clock, runTag);
        const committedAt = new Map<string, number>();
        const written = await runClosedLoop(async (intentIndex) => {
          const outcome = await decide(intentIndex);
          committedAt.set(`${runTag}-${intentIndex}`, performance.now());
          return outcome;
        }, workload.intentCount, config.concurrency);
        if (written.failed > 0) fail('relay', `${written.failed} reservations failed, e.g. ${written.failureSamples.join('; ')}`);
        if (written.accepted !== workload.intentCount) fail('relay', `${written.accepted} of ${workload.intentCount} reservations accepted`);

        await waitFor(() => arrivals.size >= committedAt.size, ARRIVAL_TIMEOUT_MS, 'every reservation reached the topic').catch((error: unknown) =>
          fail('relay', String(error)),
        );
        const lags: number[] = [];
        let firstCommitMs = Infinity;
        let lastArrivalMs = 0;
        let missing = 0;
        for (const [intentId, commitMs] of committedAt) {
          firstCommitMs = Math.min(firstCommitMs, commitMs);
          const arrivalMs = arrivals.get(intentId);
          if (arrivalMs === undefined) {
            missing += 1;
            continue;
          }
          lastArrivalMs = Math.max(lastArrivalMs, arrivalMs);
          lags.push(arrivalMs - commitMs);
        }
        if (duplicates > 0) fail('relay', `${duplicates} Reserved events arrived twice`);
        const lag = summarizeLatencies(lags);
        const row: RelayRow = {
          events: committedAt.size,
          writtenPerSec: written.issued / (written.elapsedMs / 1_000),
          // From the first acknowledged commit to the last arrival: the rate the relay sustained
          // end to end, including any backlog it had to catch up at the end.
          publishedPerSec: lags.length / ((lastArrivalMs - firstCommitMs) / 1_000),
          lagMsP50: lag.latencyMsP50,
          lagMsP99: lag.latencyMsP99,
          lagMsMax: lag.latencyMsMax,
          duplicates,
          missing,
        };
        console.log(`  ${formatRelayRow(row).join('  ')}`);
        return row;
      } finally {
        await stopGovernor();
      }
    } finally {
      await stopConsumer();
    }
  } finally {
    await dropDatabase();
    await destroyBroker();
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const RELAY_HEADER = ['events', 'written/s', 'published/s', 'lag p50 ms', 'lag p99 ms', 'lag max ms', 'duplicates', 'missing'];

function formatRelayRow(row: RelayRow): string[] {
  return [
    String(row.events),
    row.writtenPerSec.toFixed(0),
    row.publishedPerSec.toFixed(0),
    row.lagMsP50.toFixed(1),
    row.lagMsP99.toFixed(1),
    row.lagMsMax.toFixed(1),
    String(row.duplicates),
    String(row.missing),
  ];
}

export function printRelayTable(rows: readonly RelayRow[]): void {
  const cells = rows.map(formatRelayRow);
  console.log(`\n${formatTable(RELAY_HEADER, cells, false)}\n`);
  console.log(`Markdown:\n\n${formatTable(RELAY_HEADER, cells, true)}\n`);
}
