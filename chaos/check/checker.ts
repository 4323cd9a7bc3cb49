import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { parseAbiItem, type Address, type PublicClient } from 'viem';

import { builtEntry, repoRoot } from '../repo.js';
import type { ApiRecord } from '../workload.js';
import { judgeApi, type ApiFigures } from './api.js';
import { judgeChain, type ChainFigures } from './chain.js';
import { LedgerJudge, type LedgerFigures } from './ledger.js';
import { Violations, type ChainLog, type LogEvent } from './model.js';
import { compareTable, PROJECTION_TABLES, type TableComparison } from './projection.js';
import { indexEvent, TopicJudge, type IndexedEvent, type TopicFigures } from './topic.js';

// The checker: reads the evidence straight from its sources (the events table with SQL, the
// token's logs from the chain, the topic from offset 0), and hands it to the judges. It never
// asks the governor's API, and it reads the projections only to compare them with a rebuild.

const run = promisify(execFile);
const EVENT_PAGE = 5_000;
const BLOCK_WINDOW = 5_000n;
const TOPIC_READ_TIMEOUT_MS = 10 * 60_000;
const PROJECTION_CATCH_UP_TIMEOUT_MS = 3 * 60_000;
const AUTHORIZATION_USED = parseAbiItem('event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)');
const TRANSFER = parseAbiItem('event Transfer(address indexed from, address indexed to, uint256 value)');

export interface CheckInputs {
  databaseUrl: string;
  adminUrl: string;
  publicClient: PublicClient;
  token: Address;
  payer: Address;
  kafkaBrokers: string;
  topic: string;
  records: readonly ApiRecord[];
}

export interface CheckFigures {
  ledger: LedgerFigures;
  chain: ChainFigures;
  topic: TopicFigures;
  api: ApiFigures;
  projection: { tables: TableComparison[]; rebuildMs: number; events: number };
  durationMs: number;
}

export interface CheckResult {
  figures: CheckFigures;
  violations: Violations;
}

export async function runChecker(inputs: CheckInputs, log: (line: string) => void): Promise<CheckResult> {
  const startedAt = Date.now();
  const violations = new Violations();
  const pool = new pg.Pool({ connectionString: inputs.databaseUrl, max: 2, application_name: 'chaos-checker' });
  try {
    log('checker: reading the event log in commit order');
    const ledger = new LedgerJudge(violations);
    const index = new Map<string, IndexedEvent>();
    await readLog(pool, (event) => {
      ledger.apply(event);
      index.set(event.eventId, indexEvent(event));
    });
    ledger.finish();
    log(`checker: ${ledger.figures.events} events, ${ledger.figures.intents} intents; reading the chain`);
    const chain = judgeChain(await readChainLogs(inputs.publicClient, inputs.token), inputs.payer, ledger.intents, violations);
    log(`checker: ${chain.authorizationsUsed} authorizations used on chain; reading the topic from the beginning`);
    const topicJudge = new TopicJudge(index, violations);
    await readTopic(inputs.kafkaBrokers, inputs.topic, (message) => topicJudge.add(message));
    const topic = topicJudge.finish();
    const api = judgeApi(inputs.records, ledger.intents, violations);
    log(`checker: ${topic.messages} messages on the topic; rebuilding the projections from the log`);
    const projection = await checkProjection(pool, inputs, violations, log);
    return { figures: { ledger: ledger.figures, chain, topic, api, projection, durationMs: Date.now() - startedAt }, violations };
  } finally {
    await pool.end();
  }
}

/** Every event, in commit order, in pages; `data` as stored. */
async function readLog(pool: pg.Pool, onEvent: (event: LogEvent) => void): Promise<number> {
  let after = { transactionId: '0', globalPosition: '0' };
  let count = 0;
  for (;;) {
    // Output columns get names of their own: ORDER BY would otherwise sort by their text.
    const page = await pool.query<{ tx: string; gp: string; event_id: string; stream_id: string; stream_version: string; type: string; schema_version: number; org_id: string | null; data: Record<string, unknown> }>(
      `SELECT e.transaction_id::text AS tx, e.global_position::text AS gp, e.event_id, e.stream_id, e.stream_version::text AS stream_version, e.type, e.schema_version,
              e.metadata->>'orgId' AS org_id, e.data
       FROM events e WHERE (e.transaction_id, e.global_position) > ($1::xid8, $2::bigint)
       ORDER BY e.transaction_id, e.global_position LIMIT ${EVENT_PAGE}`,
      [after.transactionId, after.globalPosition],
    );
    for (const row of page.rows) {
      onEvent({ eventId: row.event_id, streamId: row.stream_id, streamVersion: Number(row.stream_version), type: row.type, schemaVersion: row.schema_version, orgId: row.org_id ?? '', data: row.data });
    }
    count += page.rows.length;
    const last = page.rows.at(-1);
    if (last === undefined || page.rows.length < EVENT_PAGE) return count;
    after = { transactionId: last.tx, globalPosition: last.gp };
  }
}

/** Every AuthorizationUsed and Transfer the token ever emitted, in block windows. */
export async function readChainLogs(client: PublicClient, token: Address): Promise<ChainLog[]> {
  const latest = await client.getBlockNumber();
  const logs: ChainLog[] = [];
  for (let from = 0n; from <= latest; from += BLOCK_WINDOW) {
    const to = from + BLOCK_WINDOW - 1n > latest ? latest : from + BLOCK_WINDOW - 1n;
    const found = await client.getLogs({ address: token, events: [AUTHORIZATION_USED, TRANSFER], fromBlock: from, toBlock: to, strict: true });
    for (const entry of found) {
      const base = { transaction: (entry.transactionHash ?? '').toLowerCase(), blockNumber: entry.blockNumber ?? 0n, logIndex: entry.logIndex ?? 0 };
      if (entry.eventName === 'AuthorizationUsed') {
        logs.push({ ...base, kind: 'AuthorizationUsed', from: entry.args.authorizer.toLowerCase(), to: '', valueAtomic: 0n, nonce: entry.args.nonce.toLowerCase() });
      } else {
        logs.push({ ...base, kind: 'Transfer', from: entry.args.from.toLowerCase(), to: entry.args.to.toLowerCase(), valueAtomic: entry.args.value, nonce: '' });
      }
    }
  }
  return logs.sort((a, b) => (a.blockNumber === b.blockNumber ? a.logIndex - b.logIndex : a.blockNumber < b.blockNumber ? -1 : 1));
}

/** Reads every partition from offset 0 to its end with a fresh consumer group. */
export async function readTopic(brokers: string, topic: string, onMessage: (message: { partition: number; offset: string; key: string; value: string }) => void): Promise<void> {
  const kafka = new Kafka({ clientId: 'chaos-checker', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    for (const partition of await admin.fetchTopicOffsets(topic)) {
      if (BigInt(partition.high) > BigInt(partition.low)) ends.set(partition.partition, BigInt(partition.high) - 1n);
    }
  } finally {
    await admin.disconnect();
  }
  if (ends.size === 0) return;
  const consumer = kafka.consumer({ groupId: `chaos-checker-${Date.now()}`, maxBytes: 16 * 1024 * 1024 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Set<number>();
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the topic was not read to its end within ${TOPIC_READ_TIMEOUT_MS} ms`)), TOPIC_READ_TIMEOUT_MS);
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            const end = ends.get(batch.partition);
            for (const message of batch.messages) {
              if (end !== undefined && BigInt(message.offset) > end) break;
              onMessage({ partition: batch.partition, offset: message.offset, key: message.key?.toString() ?? '', value: message.value?.toString() ?? '' });
              if (end !== undefined && BigInt(message.offset) >= end) done.add(batch.partition);
            }
            if (done.size >= ends.size) {
              clearTimeout(timer);
              resolve();
            }
            return Promise.resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
}

/** Waits for the live projection to catch up, rebuilds one from a copy of the log, and compares. */
async function checkProjection(pool: pg.Pool, inputs: CheckInputs, violations: Violations, log: (line: string) => void): Promise<{ tables: TableComparison[]; rebuildMs: number; events: number }> {
  const deadline = Date.now() + PROJECTION_CATCH_UP_TIMEOUT_MS;
  for (;;) {
    const behind = await pool.query<{ count: string }>(
      `SELECT count(*) FROM streams s LEFT JOIN projection_checkpoints p USING (stream_id) WHERE s.stream_id LIKE 'org-%' AND s.version > COALESCE(p.version, 0)`,
    );
    if (Number(behind.rows[0]?.count ?? 0) === 0) break;
    if (Date.now() > deadline) {
      // A projection that cannot apply an event stops that org on record: name what stopped it.
      const failures = await pool.query<{ stream_id: string; stream_version: string; event_type: string; error: string }>(
        'SELECT stream_id, stream_version::text, event_type, error FROM projection_failures ORDER BY stream_id LIMIT 5',
      );
      const stopped = failures.rows.map((row) => `${row.stream_id} at v${row.stream_version} (${row.event_type}): ${row.error.slice(0, 200)}`).join('; ');
      violations.add({ invariant: 'projection', detail: `${behind.rows[0]?.count} org streams were still ahead of the live projection after ${PROJECTION_CATCH_UP_TIMEOUT_MS} ms${stopped === '' ? '' : `; stopped by ${stopped}`}` });
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }

  const scratchName = `${new URL(inputs.databaseUrl).pathname.slice(1)}_rebuild`;
  const admin = new pg.Client({ connectionString: inputs.adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${scratchName} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${scratchName}`);
  } finally {
    await admin.end();
  }
  const scratchUrl = new URL(inputs.databaseUrl);
  scratchUrl.pathname = `/${scratchName}`;
  const env = { PATH: process.env.PATH ?? '', DATABASE_URL: scratchUrl.toString(), LOG_LEVEL: 'warn' };
  await run(process.execPath, [builtEntry('libs/eventstore/migrate-cli.js')], { env, cwd: repoRoot });
  const scratch = new pg.Pool({ connectionString: scratchUrl.toString(), max: 1 });
  let copied = 0;
  try {
    // The log is copied as it is, row for row, ids and positions included.
    for (const table of ['streams', 'events'] as const) {
      const order = table === 'events' ? 'global_position' : 'stream_id';
      let after: string | null = null;
      for (;;) {
        const page: pg.QueryResult<{ rows: string | null; last: string | null }> = await pool.query(
          `SELECT json_agg(t ORDER BY ${order})::text AS rows, max(${order})::text AS last
           FROM (SELECT * FROM ${table} WHERE $1::text IS NULL OR ${order} > ${table === 'events' ? '$1::bigint' : '$1::text'} ORDER BY ${order} LIMIT ${EVENT_PAGE}) t`,
          [after],
        );
        const row = page.rows[0];
        if (row?.rows == null || row.last === null) break;
        const inserted = await scratch.query(`INSERT INTO ${table} SELECT * FROM json_populate_recordset(NULL::${table}, $1::json)`, [row.rows]);
        if (table === 'events') copied += inserted.rowCount ?? 0;
        after = row.last;
      }
    }
    const rebuildStartedAt = Date.now();
    log(`checker: ${copied} events copied; running the projection rebuild`);
    await run(process.execPath, [builtEntry('apps/governor/rebuild-projections.js')], { env, cwd: repoRoot, maxBuffer: 1024 * 1024 });
    const rebuildMs = Date.now() - rebuildStartedAt;
    const tables: TableComparison[] = [];
    for (const table of PROJECTION_TABLES) {
      const [live, rebuilt] = await Promise.all([tableRows(pool, table.name, table.key), tableRows(scratch, table.name, table.key)]);
      tables.push(compareTable(table.name, live, rebuilt, violations));
    }
    return { tables, rebuildMs, events: copied };
  } finally {
    await scratch.end();
  }
}

async function tableRows(db: pg.Pool, table: string, key: readonly string[]): Promise<Map<string, string>> {
  const result = await db.query<{ k: string; r: string }>(`SELECT concat_ws('|', ${key.join(', ')}) AS k, to_jsonb(t)::text AS r FROM ${table} t`);
  return new Map(result.rows.map((row) => [row.k, row.r]));
}
