import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import { encodeJson, reviveBigints } from './json-codec.js';

export interface EventMetadata {
  actor: string;
  /** The intent or session the event is about; ties a payment's events together. */
  correlationId: string;
  orgId: string;
  /** W3C traceparent of the request that caused the event, when there was one. */
  traceparent?: string;
}

export interface NewEvent {
  type: string;
  data: unknown;
  metadata: EventMetadata;
  occurredAt: string;
  schemaVersion?: number;
}

export interface RecordedEvent<Data = unknown> {
  eventId: string;
  type: string;
  streamId: string;
  streamVersion: number;
  globalPosition: bigint;
  transactionId: string;
  schemaVersion: number;
  data: Data;
  metadata: EventMetadata;
  occurredAt: string;
}

/** A place in the committed log, in commit order: (transaction id, global position). */
export interface LogPosition {
  transactionId: string;
  globalPosition: bigint;
}

export const LOG_START: LogPosition = { transactionId: '0', globalPosition: 0n };

export class WrongExpectedVersionError extends Error {
  readonly code = 'wrong_expected_version';
  constructor(
    readonly streamId: string,
    readonly expectedVersion: number,
  ) {
    super(`stream ${streamId} is not at version ${expectedVersion}`);
  }
}

type Queryable = Pool | PoolClient;

interface EventRow {
  event_id: string;
  type: string;
  stream_id: string;
  stream_version: string;
  global_position: string;
  transaction_id: string;
  schema_version: number;
  data: unknown;
  metadata: EventMetadata;
  occurred_at: Date;
}

const EVENT_COLUMNS = 'event_id, type, stream_id, stream_version, global_position, transaction_id, schema_version, data, metadata, occurred_at';

/** A limit on every read: pages keep memory and transaction time bounded. */
export const MAX_PAGE_SIZE = 10_000;

export class EventStore {
  constructor(readonly pool: Pool) {}

  /**
   * Appends events to a stream that must be at `expectedVersion` (0 for a new stream), inside
   * the caller's transaction. A stream that moved raises WrongExpectedVersionError, which is
   * what fences off a writer whose view of the stream is stale.
   */
  async append(client: PoolClient, streamId: string, expectedVersion: number, events: readonly NewEvent[]): Promise<RecordedEvent[]> {
    if (events.length === 0) return [];
    const nextVersion = expectedVersion + events.length;
    const moved = await client.query(
      `INSERT INTO streams (stream_id, version) VALUES ($1, $2)
       ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version WHERE streams.version = $3
       RETURNING version`,
      [streamId, nextVersion, expectedVersion],
    );
    if (moved.rowCount !== 1) {
      throw new WrongExpectedVersionError(streamId, expectedVersion);
    }
    const eventIds = events.map(() => randomUUID());
    const result = await client.query<EventRow>(
      `INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata, occurred_at)
       SELECT e.event_id, $1, $2::bigint + e.ord, e.type, e.schema_version, e.data, e.metadata, e.occurred_at
       FROM unnest($3::uuid[], $4::text[], $5::int[], $6::jsonb[], $7::jsonb[], $8::timestamptz[]) WITH ORDINALITY
         AS e(event_id, type, schema_version, data, metadata, occurred_at, ord)
       RETURNING ${EVENT_COLUMNS}`,
      [
        streamId,
        expectedVersion,
        eventIds,
        events.map((e) => e.type),
        events.map((e) => e.schemaVersion ?? 1),
        events.map((e) => encodeJson(e.data)),
        events.map((e) => encodeJson(e.metadata)),
        events.map((e) => e.occurredAt),
      ],
    );
    return result.rows.map(toRecordedEvent).sort((a, b) => a.streamVersion - b.streamVersion);
  }

  /** Events of one stream after `afterVersion`, in stream order. */
  async readStream(db: Queryable, streamId: string, afterVersion = 0, limit = MAX_PAGE_SIZE): Promise<RecordedEvent[]> {
    const result = await db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version LIMIT $3`,
      [streamId, afterVersion, Math.min(limit, MAX_PAGE_SIZE)],
    );
    return result.rows.map(toRecordedEvent);
  }

  /**
   * The next page of the whole log after `after`, in commit order. A bigserial position can
   * commit out of order, so only events of transactions older than the oldest one still
   * running are returned: no later commit can land before them, and nothing is skipped.
   */
  async readAll(db: Queryable, after: LogPosition, limit = 500, types?: readonly string[]): Promise<RecordedEvent[]> {
    const result = await db.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM events
       WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
         AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         AND ($4::text[] IS NULL OR type = ANY($4::text[]))
       ORDER BY transaction_id, global_position
       LIMIT $3`,
      [after.transactionId, after.globalPosition.toString(), Math.min(limit, MAX_PAGE_SIZE), types ?? null],
    );
    return result.rows.map(toRecordedEvent);
  }

  async streamVersion(db: Queryable, streamId: string): Promise<number> {
    const result = await db.query<{ version: string }>('SELECT version FROM streams WHERE stream_id = $1', [streamId]);
    return Number(result.rows[0]?.version ?? 0);
  }

  async loadCheckpoint(db: Queryable, name: string): Promise<LogPosition> {
    const result = await db.query<{ transaction_id: string; global_position: string }>(
      'SELECT transaction_id::text, global_position FROM subscription_checkpoints WHERE name = $1',
      [name],
    );
    const row = result.rows[0];
    return row === undefined ? LOG_START : { transactionId: row.transaction_id, globalPosition: BigInt(row.global_position) };
  }

  async saveCheckpoint(db: Queryable, name: string, position: LogPosition): Promise<void> {
    await db.query(
      `INSERT INTO subscription_checkpoints (name, transaction_id, global_position) VALUES ($1, $2::xid8, $3)
       ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, global_position = EXCLUDED.global_position, updated_at = now()`,
      [name, position.transactionId, position.globalPosition.toString()],
    );
  }

  /** Runs `work` in a transaction on a pooled connection, rolling back on any error. */
  async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const value = await work(client);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

export function positionOf(event: RecordedEvent): LogPosition {
  return { transactionId: event.transactionId, globalPosition: event.globalPosition };
}

function toRecordedEvent(row: EventRow): RecordedEvent {
  return {
    eventId: row.event_id,
    type: row.type,
    streamId: row.stream_id,
    streamVersion: Number(row.stream_version),
    globalPosition: BigInt(row.global_position),
    transactionId: String(row.transaction_id),
    schemaVersion: row.schema_version,
    data: reviveBigints(row.data),
    metadata: row.metadata,
    occurredAt: row.occurred_at.toISOString(),
  };
}
