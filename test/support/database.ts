import { inject } from 'vitest';
import pg from 'pg';
import { EventStore } from '../../libs/eventstore/event-store.js';
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
