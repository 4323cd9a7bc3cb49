import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';

import { freePort, importEmbeddedPostgres } from '../libs/platform/processes.js';
import { childPids, signalPid } from './processes.js';

// The run's own PostgreSQL primary: a private embedded cluster, never a shared server, because
// the run freezes it with SIGSTOP, which must only ever reach processes this run started.

export interface ChaosPostgres {
  readonly url: string;
  readonly adminUrl: string;
  readonly postmasterPid: number;
  /** SIGSTOP to the postmaster and every backend: the database stops answering, connections stay open. */
  freeze(): number[];
  /** SIGCONT to what `freeze` stopped. */
  thaw(pids: readonly number[]): void;
  stop(): Promise<void>;
}

const DATABASE = 'paybound_chaos';

export async function startChaosPostgres(dataDir: string, keepData = false): Promise<ChaosPostgres> {
  // Under root the server runs as the postgres OS user, which must be able to reach the folder.
  mkdirSync(dirname(dataDir), { recursive: true });
  chmodSync(dirname(dataDir), 0o755);
  const EmbeddedPostgres = await importEmbeddedPostgres();
  const port = await freePort();
  const logs: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: 'postgres',
    // Kept for a post-mortem when asked; otherwise removed when the server stops.
    persistent: keepData,
    // Postgres refuses to run as root; the library then runs it as the postgres OS user.
    createPostgresUser: userInfo().uid === 0,
    // Two governors (20 connections each), two workers, listeners, the relay's lock and the
    // checker: well above the default of 100 once governors restart and old sessions linger.
    // fsync is off because nothing here loses power; a freeze (SIGSTOP) is what is tested.
    postgresFlags: ['-c', 'fsync=off', '-c', 'max_connections=300', '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: unknown) => void logs.push(String(message)),
    onError: (message: unknown) => void logs.push(String(message)),
  });
  try {
    if (!existsSync(join(dataDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (error) {
    throw new Error(`embedded Postgres failed to start: ${String(error)}\n${logs.slice(-20).join('')}`);
  }
  const postmasterPid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  // A run that ends abruptly must not leave its database running: thawed first, in case it
  // was frozen, then asked for a fast shutdown, which it completes on its own.
  const onExit = (): void => {
    signalPid(postmasterPid, 'SIGCONT');
    signalPid(postmasterPid, 'SIGINT');
  };
  process.once('exit', onExit);
  const adminUrl = `postgres://postgres:postgres@127.0.0.1:${port}/postgres`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/${DATABASE}`,
    adminUrl,
    postmasterPid,
    freeze() {
      // The postmaster first, so it forks no backend that the list below would miss.
      signalPid(postmasterPid, 'SIGSTOP');
      const backends = childPids(postmasterPid);
      for (const pid of backends) signalPid(pid, 'SIGSTOP');
      return [postmasterPid, ...backends];
    },
    thaw(pids) {
      for (const pid of [...pids].reverse()) signalPid(pid, 'SIGCONT');
    },
    stop: async () => {
      process.removeListener('exit', onExit);
      signalPid(postmasterPid, 'SIGCONT');
      await server.stop();
    },
  };
}
