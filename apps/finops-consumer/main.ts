import { Kafka, logLevel, type EachMessagePayload } from 'kafkajs';
import pg from 'pg';
import { z } from 'zod';
import { createDatabasePool } from '../../libs/platform/database-pool.js';
import { createLogger, redactUrl } from '../../libs/platform/logger.js';
import { changeOf, parseMessage, type FinopsChange } from './fold.js';

// An example FinOps consumer of paybound.events.v1: daily spend per agent and per endpoint
// in its own Postgres schema. It stays exact through crashes and redeliveries because each
// applied event's id is stored in the same transaction as the spend it adds; Kafka offsets
// are only a bookmark, committed lazily, and a redelivered event changes nothing.

const configSchema = z.object({
  KAFKA_BROKERS: z.string().trim().min(1, 'KAFKA_BROKERS is required, such as 127.0.0.1:9092'),
  KAFKA_TOPIC: z.string().trim().min(1).default('paybound.events.v1'),
  FINOPS_DATABASE_URL: z.string().url({ message: 'FINOPS_DATABASE_URL must be a postgres:// URL' }),
  FINOPS_SCHEMA: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'FINOPS_SCHEMA must be a lower-case SQL identifier').default('finops'),
  FINOPS_GROUP_ID: z.string().trim().min(1).max(255).default('paybound-finops'),
  /** Offsets are a bookmark, so committing them rarely costs only redelivery, never accuracy. */
  FINOPS_COMMIT_INTERVAL_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /** How long the broker waits for a silent member before giving its partitions to others. */
  FINOPS_SESSION_TIMEOUT_MS: z.coerce.number().int().min(6_000).max(300_000).default(30_000),
  FINOPS_DB_POOL_SIZE: z.coerce.number().int().min(1).max(20).default(3),
});

type FinopsConfig = z.infer<typeof configSchema>;

function loadConfig(env: NodeJS.ProcessEnv): FinopsConfig {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new Error(`invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Spend of a payment whose reservation this consumer never saw (the topic was truncated before it started). */
const UNKNOWN_ENDPOINT = '(unknown)';
const SCHEMA_LOCK_KEY = 0x6669_6e6f; // "fino"

/** Creates the consumer's tables if they are missing; an example app carries no migrations. */
async function ensureTables(pool: pg.Pool, schema: string): Promise<void> {
  const s = `"${schema}"`;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Two instances starting together would otherwise race on CREATE … IF NOT EXISTS.
    await client.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK_KEY]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.processed_events (
      event_id text PRIMARY KEY,
      type text NOT NULL,
      processed_at timestamptz NOT NULL DEFAULT now())`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.payment_endpoints (
      org_id text NOT NULL,
      intent_id text NOT NULL,
      agent_id text NOT NULL,
      endpoint text NOT NULL,
      PRIMARY KEY (org_id, intent_id))`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.daily_agent_spend (
      day date NOT NULL,
      org_id text NOT NULL,
      agent_id text NOT NULL,
      spent_micros bigint NOT NULL,
      payments integer NOT NULL,
      PRIMARY KEY (day, org_id, agent_id))`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${s}.daily_endpoint_spend (
      day date NOT NULL,
      org_id text NOT NULL,
      endpoint text NOT NULL,
      spent_micros bigint NOT NULL,
      payments integer NOT NULL,
      PRIMARY KEY (day, org_id, endpoint))`);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

type Applied = 'applied' | 'duplicate';

/**
 * Applies one change and records its event id in one transaction. The id goes in first: a
 * second delivery (or a second instance during a rebalance) finds it there, or waits on the
 * first one's row lock and then finds it, and adds nothing.
 */
async function apply(pool: pg.Pool, schema: string, change: Extract<FinopsChange, { kind: 'remember_endpoint' | 'add_spend' }>, type: string): Promise<Applied> {
  const s = `"${schema}"`;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const recorded = await client.query(`INSERT INTO ${s}.processed_events (event_id, type) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING`, [change.eventId, type]);
    if (recorded.rowCount === 0) {
      await client.query('ROLLBACK');
      return 'duplicate';
    }
    if (change.kind === 'remember_endpoint') {
      await client.query(
        `INSERT INTO ${s}.payment_endpoints (org_id, intent_id, agent_id, endpoint) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, intent_id) DO NOTHING`,
        [change.orgId, change.intentId, change.agentId, change.endpoint],
      );
    } else {
      const known = await client.query<{ endpoint: string }>(`SELECT endpoint FROM ${s}.payment_endpoints WHERE org_id = $1 AND intent_id = $2`, [change.orgId, change.intentId]);
      const endpoint = known.rows[0]?.endpoint ?? UNKNOWN_ENDPOINT;
      const amount = change.amountMicros.toString();
      await client.query(
        `INSERT INTO ${s}.daily_agent_spend (day, org_id, agent_id, spent_micros, payments) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (day, org_id, agent_id) DO UPDATE SET spent_micros = daily_agent_spend.spent_micros + EXCLUDED.spent_micros, payments = daily_agent_spend.payments + 1`,
        [change.day, change.orgId, change.agentId, amount],
      );
      await client.query(
        `INSERT INTO ${s}.daily_endpoint_spend (day, org_id, endpoint, spent_micros, payments) VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (day, org_id, endpoint) DO UPDATE SET spent_micros = daily_endpoint_spend.spent_micros + EXCLUDED.spent_micros, payments = daily_endpoint_spend.payments + 1`,
        [change.day, change.orgId, endpoint, amount],
      );
    }
    await client.query('COMMIT');
    return 'applied';
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger('finops-consumer');
  const pool = createDatabasePool({ connectionString: config.FINOPS_DATABASE_URL, max: config.FINOPS_DB_POOL_SIZE }, logger);
  await ensureTables(pool, config.FINOPS_SCHEMA);

  const brokers = config.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter((b) => b !== '');
  const kafka = new Kafka({ clientId: 'paybound-finops', brokers, logLevel: logLevel.WARN });
  const consumer = kafka.consumer({ groupId: config.FINOPS_GROUP_ID, sessionTimeout: config.FINOPS_SESSION_TIMEOUT_MS });
  const counts = { applied: 0, duplicate: 0, ignored: 0, invalid: 0 };
  /** The next offset to read per partition, once its message is in Postgres. */
  const resolved = new Map<string, { topic: string; partition: number; offset: string }>();

  const commit = async (): Promise<void> => {
    if (resolved.size === 0) return;
    const offsets = [...resolved.values()];
    resolved.clear();
    try {
      await consumer.commitOffsets(offsets);
    } catch (error) {
      // A partition taken away by a rebalance refuses the commit; its new owner rereads and dedupes.
      logger.warn({ err: error }, 'offset commit failed; the events will be redelivered and skipped');
    }
  };

  let stopping = false;
  let inFlight: Promise<void> = Promise.resolve();
  const applyMessage = async ({ topic, partition, message }: EachMessagePayload): Promise<void> => {
    const parsed = parseMessage(message.value?.toString('utf8') ?? '');
    const change: FinopsChange = 'invalid' in parsed ? { kind: 'invalid', eventId: `offset:${partition}:${message.offset}`, reason: parsed.invalid } : changeOf(parsed);
    switch (change.kind) {
      case 'ignore':
        counts.ignored += 1;
        break;
      case 'invalid':
        counts.invalid += 1;
        logger.warn({ eventId: change.eventId, reason: change.reason, partition, offset: message.offset }, 'message skipped: it breaks the contract');
        break;
      case 'remember_endpoint':
      case 'add_spend': {
        const type = 'invalid' in parsed ? '' : parsed.type;
        const outcome = await apply(pool, config.FINOPS_SCHEMA, change, type);
        counts[outcome] += 1;
        if (outcome === 'duplicate') logger.info({ eventId: change.eventId, type }, 'event already processed; skipped');
        else logger.debug({ eventId: change.eventId, type }, 'event applied');
        break;
      }
      default: {
        const _never: never = change;
        throw new Error('unknown change');
      }
    }
    resolved.set(`${topic}:${partition}`, { topic, partition, offset: (BigInt(message.offset) + 1n).toString() });
  };
  // While stopping, messages are left unread (and so uncommitted) for the next run.
  const handle = (payload: EachMessagePayload): Promise<void> => {
    if (stopping) return Promise.resolve();
    inFlight = applyMessage(payload);
    return inFlight;
  };

  let ready = false;
  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    if (!ready) logger.info({ topic: config.KAFKA_TOPIC, groupId: config.FINOPS_GROUP_ID, schema: config.FINOPS_SCHEMA, database: redactUrl(config.FINOPS_DATABASE_URL), partitions: event.payload.memberAssignment }, 'finops consumer ready');
    ready = true;
  });
  await consumer.connect();
  await consumer.subscribe({ topic: config.KAFKA_TOPIC, fromBeginning: true });
  await consumer.run({ autoCommit: false, eachMessage: handle });
  const committer = setInterval(() => void commit(), config.FINOPS_COMMIT_INTERVAL_MS);

  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    clearInterval(committer);
    // Offsets can only be committed while the consumer runs: finish the message in hand,
    // commit, then stop.
    await inFlight.catch(() => undefined);
    await commit();
    await consumer.stop();
    await consumer.disconnect();
    await pool.end();
    logger.info(counts, 'finops consumer stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((error: unknown) => {
  process.stderr.write(`finops consumer failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
