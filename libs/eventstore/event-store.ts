import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Pool, PoolClient, QueryResult } from 'pg';
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
  /** `data` and `metadata` as JSON, when already encoded (see `storableEvent`): not encoded again. */
  readonly encoded?: { readonly data: string; readonly metadata: string };
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

/** A stream a fenced commit found elsewhere than expected: moved by another writer, or its expected head never committed. */
export interface StaleStream {
  streamId: string;
  expectedVersion: number;
  version: number;
}

/** A fenced commit wrote nothing because these streams were not at their expected version or head. */
export class StaleStreamsError extends WrongExpectedVersionError {
  constructor(readonly staleStreams: readonly StaleStream[]) {
    super(staleStreams[0]?.streamId ?? '', staleStreams[0]?.expectedVersion ?? 0);
    this.name = 'StaleStreamsError';
  }
}

/**
 * Events for one stream, ready for a fenced commit (migration 018): ids chosen and the JSON
 * encoded once, so that a retry resends exactly the same events.
 */
export interface PreparedAppend {
  readonly streamId: string;
  readonly expectedVersion: number;
  /**
   * The id of the event at `expectedVersion` when the batch that wrote it is not yet known to
   * have committed; null when `expectedVersion` is known to be committed (or is 0).
   */
  readonly expectedHeadEventId: string | null;
  readonly events: readonly NewEvent[];
  readonly eventIds: readonly string[];
  /** This append's entry of the batch's `streams` and its `events` entries, encoded. */
  readonly streamJson: string;
  readonly eventsJson: string;
}

/** Events in one fenced commit at most; callers batch far below it. */
export const MAX_EVENTS_PER_COMMIT = 10_000;

// Raised by paybound_append_fenced (migration 018).
const STALE_STREAMS_SQLSTATE = 'PB409';

/** Chooses the events' ids and encodes them for `commitFenced`. */
export function prepareAppend(streamId: string, expectedVersion: number, expectedHeadEventId: string | null, events: readonly NewEvent[]): PreparedAppend {
  assert(Number.isSafeInteger(expectedVersion) && expectedVersion >= 0, `prepareAppend: expected version ${expectedVersion} of ${streamId}`);
  assert(expectedVersion > 0 || expectedHeadEventId === null, `prepareAppend: ${streamId} at version 0 has no head event`);
  assert(events.length <= MAX_EVENTS_PER_COMMIT, `prepareAppend: ${events.length} events for ${streamId}`);
  const streamIdJson = JSON.stringify(streamId);
  const eventIds = events.map(() => randomUUID());
  const eventsJson = events
    .map(
      (event, index) =>
        `{"i":"${eventIds[index] ?? ''}","s":${streamIdJson},"v":${expectedVersion + index + 1},"t":${JSON.stringify(event.type)},` +
        `"sv":${event.schemaVersion ?? 1},"d":${event.encoded?.data ?? encodeJson(event.data)},"m":${event.encoded?.metadata ?? encodeJson(event.metadata)},"o":${JSON.stringify(event.occurredAt)}}`,
    )
    .join(',');
  const streamJson = `{"id":${streamIdJson},"v":${expectedVersion},"n":${events.length},"h":${expectedHeadEventId === null ? 'null' : JSON.stringify(expectedHeadEventId)}}`;
  return { streamId, expectedVersion, expectedHeadEventId, events, eventIds, streamJson, eventsJson };
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

  /**
   * Commits appends to several streams in one statement and one round trip, on a pooled
   * connection outside any transaction: the orgs' advisory locks, the fence (every stream at
   * its expected version and head) and the events together, committed when this resolves.
   * A stale stream raises StaleStreamsError and nothing is written; any other error leaves
   * the outcome to the database (a lost connection may have committed).
   */
  async commitFenced(lockNamespace: number, lockKeys: readonly number[], appends: readonly PreparedAppend[]): Promise<RecordedEvent[][]> {
    const client = await this.pool.connect();
    let reusable = false;
    try {
      // In an open transaction the call would not commit, and callers would be answered early.
      assert.equal(client.getTransactionStatus(), 'I', 'commitFenced: pooled connection is inside a transaction');
      const result = await client.query<FencedRow>({
        name: 'paybound_append_fenced',
        text: 'SELECT global_positions, xact_id FROM paybound_append_fenced($1, $2, $3)',
        values: [lockNamespace, lockKeys, fencedBatchJson(appends)],
      });
      assert.equal(client.getTransactionStatus(), 'I', 'commitFenced: the implicit transaction did not end');
      reusable = true;
      return recordedFromFenced(appends, result.rows[0]);
    } catch (error) {
      const stale = staleStreamsOf(error);
      // A fence failure leaves the connection as it was; after anything else it is not trusted.
      reusable = stale !== undefined;
      throw stale ?? error;
    } finally {
      client.release(!reusable);
    }
  }

  /**
   * Appends inside the caller's open transaction on `client` and commits it, in one round
   * trip (a simple-protocol query of two statements; the batch goes as an escaped literal).
   * A stale stream raises StaleStreamsError before COMMIT runs; the caller must roll back.
   */
  async commitFencedInTransaction(client: PoolClient, lockNamespace: number, lockKeys: readonly number[], appends: readonly PreparedAppend[]): Promise<RecordedEvent[][]> {
    assert.equal(client.getTransactionStatus(), 'T', 'commitFencedInTransaction: no open transaction');
    assert(Number.isSafeInteger(lockNamespace) && lockKeys.every((key) => Number.isSafeInteger(key)), 'commitFencedInTransaction: lock keys must be integers');
    let results: QueryResult<FencedRow>[];
    try {
      results = (await client.query(
        `SELECT global_positions, xact_id FROM paybound_append_fenced(${lockNamespace}, '{${lockKeys.join(',')}}'::int4[], ${client.escapeLiteral(fencedBatchJson(appends))}::jsonb); COMMIT`,
      )) as unknown as QueryResult<FencedRow>[];
    } catch (error) {
      throw staleStreamsOf(error) ?? error;
    }
    assert.equal(client.getTransactionStatus(), 'I', 'commitFencedInTransaction: COMMIT did not end the transaction');
    return recordedFromFenced(appends, results[0]?.rows[0]);
  }

  /** The current version of each of the given streams; a stream with no events is at 0. */
  async streamVersions(db: Queryable, streamIds: readonly string[]): Promise<Map<string, number>> {
    const result = await db.query<{ stream_id: string; version: string }>('SELECT stream_id, version FROM streams WHERE stream_id = ANY($1::text[])', [streamIds]);
    const versions = new Map<string, number>(streamIds.map((id) => [id, 0]));
    for (const row of result.rows) versions.set(row.stream_id, Number(row.version));
    return versions;
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

  /**
   * The last position readAll can reach right now (undefined for an empty log): a reader
   * with nothing to do for the events before it can move its checkpoint there unread.
   */
  async headPosition(db: Queryable): Promise<LogPosition | undefined> {
    const result = await db.query<{ transaction_id: string; global_position: string }>(
      `SELECT transaction_id::text, global_position FROM events
       WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { transactionId: row.transaction_id, globalPosition: BigInt(row.global_position) };
  }

  /** The events with these ids, in log order; an id that names no event is left out. */
  async readByIds(db: Queryable, eventIds: readonly string[]): Promise<RecordedEvent[]> {
    if (eventIds.length > MAX_PAGE_SIZE) throw new Error(`readByIds: at most ${MAX_PAGE_SIZE} ids per read`);
    const result = await db.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM events WHERE event_id = ANY($1::uuid[]) ORDER BY global_position`, [eventIds]);
    return result.rows.map(toRecordedEvent);
  }

  /**
   * Whether committed events come after `after`, whether `readAll` returns them already or
   * still holds them back behind an older transaction. A reader that has read everything it
   * could and gets true should look again soon rather than wait for a wake-up: the older
   * transaction may append nothing when it ends, and so wake nobody. (Asking only about the
   * held-back ones would race: the older transaction can end between the two queries.)
   */
  async hasEventsAfter(db: Queryable, after: LogPosition, types?: readonly string[]): Promise<boolean> {
    const result = await db.query<{ found: boolean }>(
      `SELECT EXISTS (
         SELECT 1 FROM events
         WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
           AND ($3::text[] IS NULL OR type = ANY($3::text[]))
       ) AS found`,
      [after.transactionId, after.globalPosition.toString(), types ?? null],
    );
    return result.rows[0]?.found === true;
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

interface FencedRow {
  global_positions: string[];
  xact_id: string;
}

function fencedBatchJson(appends: readonly PreparedAppend[]): string {
  assert(appends.length > 0, 'fenced commit of no stream');
  assert(new Set(appends.map((a) => a.streamId)).size === appends.length, 'fenced commit: a stream appears twice');
  const eventCount = appends.reduce((n, a) => n + a.events.length, 0);
  assert(eventCount <= MAX_EVENTS_PER_COMMIT, `fenced commit of ${eventCount} events`);
  const events = appends.filter((a) => a.events.length > 0).map((a) => a.eventsJson);
  return `{"streams":[${appends.map((a) => a.streamJson).join(',')}],"events":[${events.join(',')}]}`;
}

function recordedFromFenced(appends: readonly PreparedAppend[], row: FencedRow | undefined): RecordedEvent[][] {
  assert(row !== undefined, 'paybound_append_fenced returned no row');
  const eventCount = appends.reduce((n, a) => n + a.events.length, 0);
  assert.equal(row.global_positions.length, eventCount, 'paybound_append_fenced returned a position per event');
  let eventIndex = 0;
  return appends.map((append) =>
    append.events.map((event, index): RecordedEvent => {
      const position = row.global_positions[eventIndex];
      eventIndex += 1;
      return {
        eventId: append.eventIds[index] ?? '',
        type: event.type,
        streamId: append.streamId,
        streamVersion: append.expectedVersion + index + 1,
        globalPosition: BigInt(position ?? 0),
        transactionId: row.xact_id,
        schemaVersion: event.schemaVersion ?? 1,
        data: event.data,
        metadata: event.metadata,
        occurredAt: new Date(event.occurredAt).toISOString(),
      };
    }),
  );
}

function staleStreamsOf(error: unknown): StaleStreamsError | undefined {
  const { code, detail } = error as { code?: unknown; detail?: unknown };
  if (code !== STALE_STREAMS_SQLSTATE) return undefined;
  const listed = typeof detail === 'string' ? (JSON.parse(detail) as StaleStream[]) : [];
  return new StaleStreamsError(listed.map((s) => ({ streamId: String(s.streamId), expectedVersion: Number(s.expectedVersion), version: Number(s.version) })));
}

export function positionOf(event: RecordedEvent): LogPosition {
  return { transactionId: event.transactionId, globalPosition: event.globalPosition };
}

/** Commit order of two log positions: negative when `a` comes first, 0 when they are the same. */
export function comparePositions(a: LogPosition, b: LogPosition): number {
  const byTransaction = BigInt(a.transactionId) - BigInt(b.transactionId);
  if (byTransaction !== 0n) return byTransaction < 0n ? -1 : 1;
  return a.globalPosition === b.globalPosition ? 0 : a.globalPosition < b.globalPosition ? -1 : 1;
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
