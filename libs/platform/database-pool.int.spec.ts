import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { createDatabasePool } from './database-pool.js';

// A connection lost while its client is checked out (what a healed network partition, a
// failover or a terminated backend does) must fail the work on it, not the process: the
// chaos run's partitions killed governors and workers on an unhandled 'error' event.

describe('the database pool', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('pool_lost');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('survives a connection lost while checked out, and serves the next query on a new one', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => {
      uncaught.push(error);
    };
    process.on('uncaughtException', onUncaught);
    const pool = createDatabasePool({ connectionString: db.url, max: 2 }, pino({ level: 'silent' }));
    try {
      const client = await pool.connect();
      const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const inFlight = client.query('SELECT pg_sleep(10)').then(
        () => undefined,
        (error: Error) => error,
      );
      await db.pool.query('SELECT pg_terminate_backend($1)', [pid]);
      const failure = await inFlight;
      expect(failure).toBeInstanceOf(Error);
      // The 'error' event comes with the connection's end; give it its turn.
      await new Promise((resolve) => setTimeout(resolve, 200));
      client.release(failure);
      expect(uncaught).toEqual([]);
      expect((await pool.query<{ one: number }>('SELECT 1 AS one')).rows[0]?.one).toBe(1);
    } finally {
      process.off('uncaughtException', onUncaught);
      await pool.end();
    }
  });

  it('is needed: a plain pg pool leaves a checked-out client without a listener for that event', async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    const guarded = createDatabasePool({ connectionString: db.url, max: 1 }, pino({ level: 'silent' }));
    try {
      const plain = await pool.connect();
      const safe = await guarded.connect();
      expect(plain.listenerCount('error')).toBe(0);
      expect(safe.listenerCount('error')).toBeGreaterThan(0);
      plain.release();
      safe.release();
    } finally {
      await pool.end();
      await guarded.end();
    }
  });
});
