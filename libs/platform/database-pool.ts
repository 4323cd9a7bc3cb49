import pg from 'pg';
import type { Logger } from 'pino';

/**
 * A pool whose lost connections fail the work on them, never the process.
 *
 * A connection that dies while its client is checked out of the pool (a network partition
 * ended by a reset, a failover, a terminated backend) makes the client emit 'error'. pg-pool
 * listens for that only while the client is idle, so a checked-out client had no listener and
 * Node ended the process on the unhandled 'error' event: the chaos run's partitions killed
 * governors and workers this way. The query in flight fails with the same error, and the code
 * that checked the client out handles it (a client that failed is not put back in the pool);
 * the event itself only needs a listener.
 */
export function createDatabasePool(config: pg.PoolConfig, logger: Logger): pg.Pool {
  const pool = new pg.Pool(config);
  pool.on('error', (error) => logger.warn({ err: { message: error.message } }, 'idle database connection failed'));
  pool.on('connect', (client) => client.on('error', (error) => logger.warn({ err: { message: error.message } }, 'database connection lost while in use')));
  return pool;
}
