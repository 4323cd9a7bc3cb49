import { inject } from 'vitest';
import pg from 'pg';
import { EventStore, LOG_START, positionOf, type RecordedEvent } from '../../libs/eventstore/event-store.js';
import { defaultMigrationsDirectory, migrate } from '../../libs/eventstore/migrate.js';
import { createTestDatabase } from './postgres.js';

export interface TestDatabase {
  url: string;
  pool: pg.Pool;
  store: EventStore;
  drop(): Promise<void>;
}

/** A new, migrated database on the run's Postgres; dropped by `drop()`. */
export async function freshDatabase(prefix: string, poolSize = 10): Promise<TestDatabase> {
  const database = await createTestDatabase(inject('pgAdminUrl'), prefix);
  const pool = new pg.Pool({ connectionString: database.url, max: poolSize });
  // Dropping the database terminates any connection still closing; that is expected here.
  pool.on('error', () => undefined);
  await migrate(pool, defaultMigrationsDirectory());
  return {
    url: database.url,
    pool,
    store: new EventStore(pool),
    drop: async () => {
      await pool.end();
      await database.drop();
    },
  };
}

const LOG_SETTLE_TIMEOUT_MS = 30_000;

/**
 * The whole log as a subscriber reads it, once every committed event is deliverable. A
 * subscriber only reads below the oldest open transaction, so right after a burst the
 * newest events can be held back for a moment by a transaction still running elsewhere.
 */
export async function readWholeLog(db: TestDatabase): Promise<RecordedEvent[]> {
  const deadline = Date.now() + LOG_SETTLE_TIMEOUT_MS;
  for (;;) {
    const committed = Number((await db.pool.query<{ count: string }>('SELECT count(*) FROM events')).rows[0]?.count ?? 0);
    const events: RecordedEvent[] = [];
    let after = LOG_START;
    for (let page = 0; page < 10_000; page++) {
      const batch = await db.store.readAll(db.pool, after, 5_000);
      if (batch.length === 0) break;
      events.push(...batch);
      after = positionOf(batch.at(-1)!);
    }
    if (events.length >= committed) return events;
    if (Date.now() > deadline) throw new Error(`only ${events.length} of ${committed} committed events became readable within ${LOG_SETTLE_TIMEOUT_MS} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
