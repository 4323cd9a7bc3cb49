import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  name: string;
  /** Connection URL of the new database, for processes the bench starts. */
  url: string;
  pool: pg.Pool;
  /** Ends the pool and drops the database; safe to call twice. */
  drop(): Promise<void>;
}

// Every database a run creates is remembered until it is dropped, so that a failing run
// still cleans up after itself (see dropAllBenchDatabases).
const openDatabases = new Set<BenchDatabase>();

/** A new, empty database on the admin URL's server, with a pool of `poolSize` connections. */
export async function createBenchDatabase(adminUrl: string, poolSize: number): Promise<BenchDatabase> {
  const name = `paybound_bench_${randomBytes(6).toString('hex')}`;
  await withAdmin(adminUrl, (admin) => admin.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: poolSize });
  // An idle connection that the server closes (the drop below forces that) must not crash
  // the process; errors of queries in progress still reach their callers.
  pool.on('error', () => undefined);
  let dropped = false;
  const database: BenchDatabase = {
    name,
    url: url.toString(),
    pool,
    drop: async () => {
      if (dropped) return;
      dropped = true;
      openDatabases.delete(database);
      await pool.end().catch(() => undefined);
      await withAdmin(adminUrl, (admin) => admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
  openDatabases.add(database);
  return database;
}

export async function dropAllBenchDatabases(): Promise<void> {
  for (const database of [...openDatabases]) await database.drop().catch(() => undefined);
}

async function withAdmin<T>(adminUrl: string, work: (admin: pg.Client) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    return await work(admin);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

export interface ServerFacts {
  postgresVersion: string;
  synchronousCommit: string;
  fsync: string;
}

/**
 * Both implementations must be measured with durable commits: a figure taken with
 * synchronous_commit or fsync off says nothing about a ledger. Throws when they are off.
 */
export async function assertDurableCommits(pool: pg.Pool): Promise<ServerFacts> {
  const show = async (setting: string): Promise<string> => {
    const result = await pool.query<Record<string, string>>(`SHOW ${setting}`);
    const value = result.rows[0]?.[setting];
    if (value === undefined) throw new Error(`SHOW ${setting} returned nothing`);
    return value;
  };
  const facts: ServerFacts = {
    postgresVersion: await show('server_version'),
    synchronousCommit: await show('synchronous_commit'),
    fsync: await show('fsync'),
  };
  if (facts.synchronousCommit !== 'on') throw new Error(`synchronous_commit is ${facts.synchronousCommit}, expected on`);
  if (facts.fsync !== 'on') throw new Error(`fsync is ${facts.fsync}, expected on`);
  return facts;
}
