import type { Pool, PoolClient } from 'pg';
import { positionOf, type EventStore, type LogPosition, type RecordedEvent } from './event-store.js';

// The one way to consume the log: read it in order from a checkpoint, in pages of bounded
// size, handle each page, and store the checkpoint after it: in the same transaction as the
// effect when the effect is in PostgreSQL, right after it otherwise (at least once). Every
// consumer (the outbox relay, the webhook dispatcher, the settlement worker's sources, the
// balance projection) goes through it, so the commit-order rule below lives in one place.
//
// Two kinds of log, one interface:
// - the whole log, in commit order: a bigserial position can commit out of order, so a page
//   holds only events of transactions older than the oldest one still running (readAll);
// - one stream, in version order: versions are gapless and commit in order, so the version
//   is the checkpoint (the balance projection per org; a per-stream tail such as a live feed).

type Queryable = Pool | PoolClient;

/** A log that can be read in pages from a position. */
export interface LogReader<Position> {
  readonly description: string;
  /** The next events after `after`, at most `limit` of them, in the log's order. */
  readPage(db: Queryable, after: Position, limit: number): Promise<RecordedEvent[]>;
  /** The position just past `event`: where the next page starts. */
  positionAfter(event: RecordedEvent): Position;
}

/** Where a consumer has got to. `load` inside a transaction may lock the checkpoint for it. */
export interface CheckpointStore<Position> {
  load(db: Queryable): Promise<Position>;
  save(db: Queryable, position: Position): Promise<void>;
}

/** The whole committed log (of some event types), in commit order. */
export interface CommittedLogReader extends LogReader<LogPosition> {
  /**
   * Whether events come after `after` that a page may still hold back behind an older open
   * transaction. A consumer that has read everything it could and gets true should look
   * again soon: that transaction may end without appending, and so wake nobody.
   */
  hasEventsAfter(db: Queryable, after: LogPosition): Promise<boolean>;
  /** The furthest position a page can reach now, for a consumer that skips what it does not need. */
  head(db: Queryable): Promise<LogPosition | undefined>;
}

export function committedLog(store: EventStore, types?: readonly string[]): CommittedLogReader {
  return {
    description: types === undefined ? 'the log' : `the log (${types.join(', ')})`,
    readPage: (db, after, limit) => store.readAll(db, after, limit, types),
    positionAfter: positionOf,
    hasEventsAfter: (db, after) => store.hasEventsAfter(db, after, types),
    head: (db) => store.headPosition(db),
  };
}

/** One stream, in version order; the position is the last version read (0 before the first). */
export function streamLog(store: EventStore, streamId: string): LogReader<number> {
  return {
    description: `stream ${streamId}`,
    readPage: (db, afterVersion, limit) => store.readStream(db, streamId, afterVersion, limit),
    positionAfter: (event) => event.streamVersion,
  };
}

/** A checkpoint of the whole log, by name, in `subscription_checkpoints`. */
export function namedCheckpoint(store: EventStore, name: string): CheckpointStore<LogPosition> {
  return {
    load: (db) => store.loadCheckpoint(db, name),
    save: (db, position) => store.saveCheckpoint(db, name, position),
  };
}

export interface LogSubscriptionOptions<Position> {
  reader: LogReader<Position>;
  checkpoint: CheckpointStore<Position>;
  /** Events per page at most: pages keep memory and transaction time bounded. */
  pageSize: number;
  /**
   * Taken in the page's transaction before the checkpoint is read (`handlePageInTransaction`
   * only). When it answers false another process has the page: nothing is read.
   */
  tryLock?: (client: PoolClient) => Promise<boolean>;
}

export interface PageOutcome {
  /** Events read and handled: a full page means there may be more right now. */
  readCount: number;
  /** False when `tryLock` answered that another process has the page. */
  locked: boolean;
}

/** A consumer of a log: one page at a time, from its checkpoint. */
export class LogSubscription<Position> {
  constructor(
    private readonly store: EventStore,
    readonly options: LogSubscriptionOptions<Position>,
  ) {
    if (!Number.isInteger(options.pageSize) || options.pageSize < 1) throw new Error(`LogSubscription: page size ${options.pageSize}`);
  }

  /**
   * Reads the next page and hands it to `handle` inside the transaction that then stores the
   * checkpoint: the effect and the checkpoint commit together or not at all, so each event
   * takes effect exactly once, whatever crashes. `handle` may move the checkpoint elsewhere
   * by returning a position (e.g. past events it had no use for); it is called with an empty
   * page too, so that it can. `skipTo`, asked first, may move the checkpoint without reading
   * at all (a consumer with nothing to do for the events so far).
   */
  async handlePageInTransaction(
    handle: (client: PoolClient, page: readonly RecordedEvent[], from: Position) => Promise<Position | void>,
    skipTo?: (client: PoolClient, from: Position) => Promise<Position | undefined>,
  ): Promise<PageOutcome> {
    const { reader, checkpoint, pageSize, tryLock } = this.options;
    return this.store.transaction(async (client) => {
      if (tryLock !== undefined && !(await tryLock(client))) return { readCount: 0, locked: false };
      const from = await checkpoint.load(client);
      const skipped = await skipTo?.(client, from);
      if (skipped !== undefined) {
        await checkpoint.save(client, skipped);
        return { readCount: 0, locked: true };
      }
      const page = await reader.readPage(client, from, pageSize);
      const moved = await handle(client, page, from);
      const last = page.at(-1);
      const to = moved ?? (last === undefined ? undefined : reader.positionAfter(last));
      if (to !== undefined) await checkpoint.save(client, to);
      return { readCount: page.length, locked: true };
    });
  }

  /**
   * Reads the next page and hands it to `handle`, whose effect is outside PostgreSQL (Kafka):
   * the checkpoint is stored once `handle` has resolved, so a crash in between hands the page
   * again (at least once); `handle` must make a repeat harmless. Returns how many were read.
   */
  async handlePage(handle: (page: readonly RecordedEvent[]) => Promise<void>): Promise<number> {
    const { reader, checkpoint, pageSize } = this.options;
    const from = await checkpoint.load(this.store.pool);
    const page = await reader.readPage(this.store.pool, from, pageSize);
    const last = page.at(-1);
    if (last === undefined) return 0;
    await handle(page);
    await checkpoint.save(this.store.pool, reader.positionAfter(last));
    return page.length;
  }
}

/**
 * A reader that keeps its place in memory and stores no checkpoint: a live tail of a stream
 * (or of the log) from where its consumer starts, e.g. a feed that began from a projection.
 */
export class LogTail<Position> {
  constructor(
    private readonly reader: LogReader<Position>,
    private after: Position,
  ) {}

  get position(): Position {
    return this.after;
  }

  /** The next page after the current place, which then moves past it. */
  async next(db: Queryable, limit: number): Promise<RecordedEvent[]> {
    const page = await this.reader.readPage(db, this.after, limit);
    const last = page.at(-1);
    if (last !== undefined) this.after = this.reader.positionAfter(last);
    return page;
  }
}

