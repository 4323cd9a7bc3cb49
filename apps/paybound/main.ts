import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { ConfigError, DEFAULT_ASSETS, loadGovernorConfig, type KnownAsset } from '../governor/config.js';
import { rpcEnvName } from '../settlement-worker/config.js';
import { REDACTED_PATHS, redactUrl } from '../../libs/platform/logger.js';
import { startChild, startWatchdog, type SupervisedChild, type Watchdog } from './children.js';
import { adminToken, ensureDemoAgent } from './demo-setup.js';
import type { X402Kit } from '../../libs/devnet/index.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded-postgres.js';
import { judgePreviousRun, readRunState, writeRunState, type RunPart, type RunState } from './run-state.js';
import { formatProblems, loadStartConfig, StartConfigError, type ConfigProblem, type StartConfig } from './start-config.js';
import { RestartingPart } from './supervision.js';
import type { StopSignal } from './watchdog-protocol.js';
import { DECISION_PATH_NODE_OPTIONS, freePort, isSameProcess, processStartTime } from '../../libs/platform/processes.js';
import { DataKeys, writePrivateFileOnce } from '../../libs/platform/data-keys.js';

// `npm start`: Paybound on one machine with nothing configured. It starts what is not
// given (database, chain, seller), runs the governor, the settlement worker and the demo
// agent as children, starts the database, governor and worker again when one of them dies,
// and on Ctrl-C stops all of it in reverse order. A watchdog process stops everything if
// this supervisor itself is killed; each child writes its own log file in .paybound/logs.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const stateDir = join(repoRoot, '.paybound');
const logsDir = join(stateDir, 'logs');
const runFile = join(stateDir, 'run.json');
const pgPasswordFile = join(stateDir, 'pg-password');
const GOVERNOR_SCRIPT = join(repoRoot, 'dist', 'apps', 'governor', 'main.js');
const WORKER_SCRIPT = join(repoRoot, 'dist', 'apps', 'settlement-worker', 'main.js');
const DEMO_SCRIPT = join(repoRoot, 'dist', 'apps', 'demo-agent', 'main.js');
/** Every stop step is bounded, so Ctrl-C always ends the process. */
const STOP_STEP_TIMEOUT_MS = 15_000;
const DATABASE_CHECK_TIMEOUT_MS = 5_000;
/** Migrations and module start-up; on this 2-core machine it takes about a second. */
const GOVERNOR_READY_TIMEOUT_MS = 60_000;
/** Governor settings passed through from the environment when they are set. */
const GOVERNOR_SETTINGS = ['KAFKA_BROKERS', 'KAFKA_TOPIC', 'PAYBOUND_SIGN_WAIT_MS', 'PAYBOUND_DB_POOL_SIZE', 'PAYBOUND_BATCH_MAX', 'GRPC_PORT', 'PAYBOUND_FETCH_PRIVATE_ADDRESSES', 'PAYBOUND_FETCH_ALLOW', 'PAYBOUND_METRICS_TOKEN', 'PAYBOUND_PAYABLE_NETWORKS', 'PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT'] as const;

/** The OpenTelemetry SDK's own variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME, …), passed to both children. */
function otelSettings(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => entry[0].startsWith('OTEL_') && entry[1] !== undefined));
}
/** The kit's token has 6 decimals, like USDC. */
const LOCAL_ASSET = { decimals: 6, symbol: 'TUSD' } as const;

mkdirSync(logsDir, { recursive: true });
const logger: Logger = pino(
  { name: 'paybound', level: process.env.LOG_LEVEL ?? 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'paybound', pid: process.pid } },
  pino.destination({ dest: join(logsDir, 'paybound.log'), append: true, sync: true, mkdir: true, mode: 0o600 }),
);

/** A line for the person at the terminal; the same fact goes to the structured log. */
function say(line: string, fields: Record<string, unknown> = {}): void {
  console.log(line);
  if (line.trim() !== '') logger.info(fields, line.trim());
}

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}
const started: Stoppable[] = [];
let stopping = false;

// What runs now, as .paybound/run.json says and as the watchdog knows it. The file is this
// run's only once an earlier run's file has been judged (checkPreviousRun).
const runState: RunState = { pid: process.pid, startTime: processStartTime(process.pid), startedAt: new Date().toISOString(), children: [] };
const liveParts = new Map<string, RunPart & { signal: StopSignal }>();
let ownsRunFile = false;
let watchdog: Watchdog | undefined;

function saveRunState(): void {
  if (ownsRunFile) writeRunState(runFile, { ...runState, children: [...liveParts.values()].map(({ name, pid, startTime }) => ({ name, pid, ...(startTime === undefined ? {} : { startTime }) })) });
}

/** A process this run started: recorded in run.json and watched, so that it cannot outlive the run. */
function recordPart(name: string, pid: number, signal: StopSignal): void {
  const startTime = processStartTime(pid);
  liveParts.set(name, { name, pid, signal, ...(startTime === undefined ? {} : { startTime }) });
  watchdog?.watch(name, pid, signal);
  saveRunState();
}

function forgetPart(name: string, pid: number): void {
  watchdog?.unwatch(pid);
  if (liveParts.get(name)?.pid !== pid) return;
  liveParts.delete(name);
  saveRunState();
}

/** Starts the watchdog, and again if it dies, telling it about every part that runs. */
function keepWatchdog(): void {
  const current = startWatchdog(join(logsDir, 'paybound.log'));
  watchdog = current;
  for (const part of liveParts.values()) current.watch(part.name, part.pid, part.signal);
  logger.info({ watchdog: current.pid }, 'watchdog started');
  void current.exited.then((code) => {
    if (stopping || watchdog !== current) return;
    say(`  ! the watchdog exited (${code}); starting a new one`);
    keepWatchdog();
  });
}

async function shutdown(exitCode: number): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  say('\nStopping Paybound…');
  for (const part of [...started].reverse()) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        part.stop(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not stop within ${STOP_STEP_TIMEOUT_MS} ms`)), STOP_STEP_TIMEOUT_MS);
        }),
      ]);
      logger.info({ part: part.name }, 'stopped');
    } catch (error) {
      say(`  ${part.name}: ${(error as Error).message}`, { part: part.name });
    } finally {
      clearTimeout(timer);
    }
  }
  // Whatever did not stop in time is the watchdog's now: with its pipe closed, it stops them.
  watchdog?.release();
  if (ownsRunFile) rmSync(runFile, { force: true });
  ownsRunFile = false;
  say('Stopped. Everything Paybound started has exited.');
  logger.info({ exitCode }, 'exiting');
  process.exit(exitCode);
}

function onSignal(signal: NodeJS.Signals): void {
  if (stopping) {
    console.log(`(${signal} again: already stopping, each step is bounded to ${STOP_STEP_TIMEOUT_MS / 1000} s)`);
    return;
  }
  logger.info({ signal }, 'signal received');
  void shutdown(0);
}
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
// A closed terminal: stop in order rather than die by default and leave it to the watchdog.
process.on('SIGHUP', onSignal);

function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const server = createServer();
    server.once('error', () => resolveFree(false));
    server.listen(port, host, () => server.close(() => resolveFree(true)));
  });
}

async function checkDatabase(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: DATABASE_CHECK_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
  } catch (error) {
    throw new StartConfigError([
      {
        what: `cannot reach the database at ${redactUrl(url)}: ${(error as Error).message}`,
        why: 'nothing is decided or signed without the database (Paybound fails closed)',
        fix: 'start that PostgreSQL or correct DATABASE_URL, or unset DATABASE_URL to use the embedded database',
      },
    ]);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function governorAssets(kit: X402Kit | undefined): string | undefined {
  const assets: KnownAsset[] = [];
  const fromEnv = process.env.PAYBOUND_ASSETS?.trim();
  if (fromEnv !== undefined && fromEnv !== '') {
    try {
      assets.push(...(JSON.parse(fromEnv) as KnownAsset[]));
    } catch {
      // loadGovernorConfig reports the malformed value with its own message.
      return fromEnv;
    }
  }
  if (kit !== undefined) assets.push({ network: kit.network, address: kit.token, ...LOCAL_ASSET });
  return assets.length === 0 ? undefined : JSON.stringify(assets);
}

/** A relative path for the console, so that the block stays short. */
function local(path: string): string {
  return path.startsWith(repoRoot) ? path.slice(repoRoot.length + 1) : path;
}

/**
 * Reads the run file an earlier start left. A run still going, or processes a killed run
 * left behind, stop this start with a clear message; a file from a run that is wholly gone
 * is removed. From here on the file is this run's.
 */
function checkPreviousRun(): void {
  const previous = judgePreviousRun(readRunState(runFile), isSameProcess);
  switch (previous.kind) {
    case 'none':
      break;
    case 'running':
      throw new StartConfigError([
        {
          what: `Paybound is already running from this folder (pid ${previous.pid}${previous.apiUrl === undefined ? '' : `, API at ${previous.apiUrl}`})`,
          why: 'two runs would share one database folder, one demo wallet and the same ports',
          fix: `use that one, or stop it first (Ctrl-C in its terminal, or kill ${previous.pid})`,
        },
      ]);
    case 'leftovers': {
      const problem: ConfigProblem = {
        what: `an earlier npm start (pid ${previous.pid}) was killed and left these running: ${previous.parts.map((part) => `${part.name} (pid ${part.pid})`).join(', ')}`,
        why: 'they may still decide and sign payments, and they hold the database folder and the ports',
        fix: `stop them, then start again: kill ${previous.parts.map((part) => part.pid).join(' ')}`,
      };
      throw new StartConfigError([problem]);
    }
    case 'stale':
      rmSync(runFile, { force: true });
      say(`  note: the last run (pid ${previous.pid}) ended without cleaning up; nothing of it still runs, and its run.json is removed`);
      break;
    default: {
      const _never: never = previous;
      throw new Error(`unknown previous run ${String(_never)}`);
    }
  }
  ownsRunFile = true;
  saveRunState();
}

/** Starts the embedded database, again after it dies, on the same port and data. */
async function startDatabase(port: number): Promise<EmbeddedDatabase> {
  const part = new RestartingPart(
    'the embedded database',
    async () => {
      // Watched from its spawn on, so that a supervisor killed while it starts does not leave it behind.
      let spawned: number | undefined;
      try {
        const database = await startEmbeddedPostgres({
          dataDir: join(stateDir, 'pg'),
          port,
          logFile: join(logsDir, 'postgres.log'),
          passwordFile: pgPasswordFile,
          onSpawn: (pid) => {
            spawned = pid;
            recordPart('embedded PostgreSQL', pid, 'SIGINT');
          },
        });
        for (const note of database.notes) say(`  note: ${note}`);
        return database;
      } catch (error) {
        if (spawned !== undefined) forgetPart('embedded PostgreSQL', spawned);
        throw error;
      }
    },
    partHooks('embedded PostgreSQL', 'SIGINT', '.paybound/logs/postgres.log'),
  );
  const first = await part.start();
  started.push(part);
  return first;
}

function partHooks<P extends SupervisedChild | EmbeddedDatabase>(name: string, signal: StopSignal, logHint: string) {
  return {
    say: (line: string) => say(line),
    started: (part: P) => recordPart(name, part.pid, signal),
    ended: (part: P, code: number | string) => {
      logger.info({ part: name, pid: part.pid, code }, 'part exited');
      forgetPart(name, part.pid);
    },
    keepRunning: () => !stopping,
    logHint,
  };
}

async function main(config: StartConfig): Promise<void> {
  say('Starting Paybound…', { repoRoot });
  checkPreviousRun();
  keepWatchdog();
  if (config.port !== 0 && !(await portFree(config.host, config.port))) {
    throw new StartConfigError([
      { what: `port ${config.port} on ${config.host} is already in use`, why: 'the API, /docs and /dashboard listen on it', fix: `stop what uses it, or start with PORT=${config.port + 1} npm start` },
    ]);
  }

  let databaseUrl = config.databaseUrl;
  let databaseLine: string;
  if (databaseUrl !== undefined) {
    await checkDatabase(databaseUrl);
    databaseLine = `${redactUrl(databaseUrl)} (DATABASE_URL)`;
  } else {
    let port = config.embeddedPgPort;
    if (port !== 0 && !(await portFree('127.0.0.1', port))) {
      say(`  note: port ${port} is taken, so the embedded database uses a free port instead (set PAYBOUND_PG_PORT to choose)`);
      port = 0;
    }
    if (port === 0) port = await freePort();
    const database = await startDatabase(port);
    databaseUrl = database.url;
    databaseLine = `embedded PostgreSQL on 127.0.0.1:${port}, data kept in ${local(join(stateDir, 'pg'))} (pid ${database.pid}; password in ${local(pgPasswordFile)})`;
    say(`  ✓ database      ${databaseLine}`);
  }

  let kit: X402Kit | undefined;
  if (Object.keys(config.rpcUrls).length === 0) {
    // Loaded only when no chain is configured: the kit brings the official @x402 packages.
    const { startX402Kit } = await import('../../libs/devnet/index.js');
    kit = await startX402Kit({ onChainStarted: (pid) => recordPart('local chain (anvil)', pid, 'SIGTERM') });
    const devnet = kit;
    started.push({ name: 'local chain, seller and facilitator', stop: () => devnet.stop() });
    say(`  ✓ local chain   anvil ${kit.rpcUrl} (${kit.network}), test dollar TUSD at ${kit.token}`);
  }

  const admin = adminToken(stateDir, config.adminToken);
  // Webhook secrets and payment headers are sealed at rest with this key, made once and kept.
  const dataKeyFile = process.env.PAYBOUND_DATA_KEY_FILE ?? join(stateDir, 'data-key');
  if (process.env.PAYBOUND_DATA_KEY_FILE === undefined) writePrivateFileOnce(dataKeyFile, DataKeys.generate());
  // The worker's budget commands go to the governor, the org's one writer; this token, new
  // at every start and known only to the two children, is what the governor accepts them with.
  const workerToken = randomBytes(24).toString('base64url');
  const port = config.port === 0 ? await freePort() : config.port;
  const governorEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    DATABASE_URL: databaseUrl,
    HOST: config.host,
    PORT: String(port),
    PAYBOUND_ADMIN_TOKEN: admin.token,
    PAYBOUND_WORKER_TOKEN: workerToken,
    PAYBOUND_DATA_KEY_FILE: dataKeyFile,
    LOG_LEVEL: config.logLevel,
    ...otelSettings(),
  };
  for (const name of GOVERNOR_SETTINGS) {
    const value = process.env[name];
    if (value !== undefined && value.trim() !== '') governorEnv[name] = value;
  }
  const assets = governorAssets(kit);
  if (assets !== undefined) governorEnv.PAYBOUND_ASSETS = assets;
  // The governor refuses offers on networks the worker cannot pay on; the worker's RPC
  // endpoints say which those are, without handing their URLs to the governor.
  const rpcNetworks = DEFAULT_ASSETS.map((a) => a.network).filter((network) => config.rpcUrls[rpcEnvName(network)] !== undefined);
  if (rpcNetworks.length > 0) governorEnv.PAYBOUND_PAYABLE_NETWORKS ??= [...new Set([...rpcNetworks, ...(JSON.parse(assets ?? '[]') as KnownAsset[]).map((a) => a.network)])].join(',');
  // The local demo seller listens on loopback, which pay-and-fetch refuses by default: its
  // host and port, and nothing else private (not the chain's RPC, not the worker's metrics),
  // are allowed.
  if (kit !== undefined) governorEnv.PAYBOUND_FETCH_ALLOW = [governorEnv.PAYBOUND_FETCH_ALLOW, new URL(kit.seller.url).host].filter((entry) => entry !== undefined).join(',');
  // Checked here first, so a mistake is reported before anything else is started.
  const governorConfig = loadGovernorConfig(governorEnv);
  // The governor runs as its own process, as in production: NestJS aborts the process when
  // a module cannot be built, and this supervisor must outlive that to restart it.
  const governorLog = join(logsDir, 'governor.log');
  const governor = { url: `http://${config.host}:${port}` };
  const governorPart = new RestartingPart(
    'the governor',
    async () => {
      const child = startChild({ name: 'governor', script: GOVERNOR_SCRIPT, nodeOptions: DECISION_PATH_NODE_OPTIONS, env: governorEnv, output: { logFile: governorLog } });
      recordPart('governor', child.pid, 'SIGTERM');
      try {
        await waitUntilReady(governor.url, child, governorLog);
      } catch (error) {
        await child.stop();
        forgetPart('governor', child.pid);
        throw error;
      }
      return child;
    },
    partHooks('governor', 'SIGTERM', '.paybound/logs/governor.log'),
  );
  await governorPart.start();
  started.push(governorPart);
  say(`  ✓ governor      ${governor.url} (pid ${governorPart.pid}), metrics at ${governor.url}/metrics`);

  const { agent, created } = await ensureDemoAgent(governor.url, admin.token, stateDir);
  say(`  ✓ demo agent    ${agent.agentId} in org ${agent.orgId} / team ${agent.teamId}${created ? ' (created; key saved in .paybound/demo-agent.json)' : ''}`);

  let workerLine: string;
  let workerMetricsUrl: string | null = null;
  if (existsSync(WORKER_SCRIPT)) {
    const metricsPort = process.env.PAYBOUND_WORKER_METRICS_PORT ?? String(await freePort());
    const workerEnv: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: databaseUrl,
      LOG_LEVEL: config.logLevel,
      PAYBOUND_METRICS_PORT: metricsPort,
      PAYBOUND_GOVERNOR_URL: governor.url,
      PAYBOUND_WORKER_TOKEN: workerToken,
      PAYBOUND_DATA_KEY_FILE: dataKeyFile,
      ...otelSettings(),
      ...config.rpcUrls,
    };
    if (config.kafkaBrokers !== undefined) workerEnv.KAFKA_BROKERS = config.kafkaBrokers;
    for (const name of ['PAYBOUND_KEYSTORE_FILE', 'PAYBOUND_KEYSTORE_PASSWORD', 'PAYBOUND_KEYSTORE_PASSWORD_FILE', 'PAYBOUND_DEV_PRIVATE_KEY_FILE', 'PAYBOUND_WALLET_FLOORS', 'PAYBOUND_WALLET_CHECK_INTERVAL_MS', 'PAYBOUND_WORKER_SIGN_CONCURRENCY', 'PAYBOUND_WORKER_POLL_FALLBACK_MS', 'PAYBOUND_METRICS_TOKEN', 'PAYBOUND_METRICS_OPEN'] as const) {
      const value = process.env[name];
      if (value !== undefined) workerEnv[name] = value;
    }
    if (assets !== undefined) workerEnv.PAYBOUND_ASSETS = assets;
    if (kit !== undefined) {
      workerEnv[rpcEnvName(kit.network)] = kit.rpcUrl;
      // Anvil's account #1 from its published test mnemonic: public, funded only on this
      // local chain with the test dollar. Never a real wallet.
      // Handed over in a file of the owner's, not in the environment, which stays readable in /proc/<pid>/environ.
      const keyFile = join(stateDir, 'dev-wallet.key');
      rmSync(keyFile, { force: true });
      writePrivateFileOnce(keyFile, `${kit.payer.privateKey}\n`);
      workerEnv.PAYBOUND_DEV_PRIVATE_KEY_FILE = keyFile;
      // The dashboard's wallet panel follows the local chain closely; a $1 floor shows the alert.
      workerEnv.PAYBOUND_WALLET_CHECK_INTERVAL_MS ??= '2000';
      workerEnv.PAYBOUND_WALLET_FLOORS ??= JSON.stringify([{ network: kit.network, asset: kit.token, floorAtomic: '1000000' }]);
    } else if (process.env.PAYBOUND_DEV_PRIVATE_KEY !== undefined) {
      workerEnv.PAYBOUND_DEV_PRIVATE_KEY = process.env.PAYBOUND_DEV_PRIVATE_KEY;
    }
    const workerPart = new RestartingPart(
      'the settlement worker',
      () => Promise.resolve(startChild({ name: 'settlement worker', script: WORKER_SCRIPT, nodeOptions: DECISION_PATH_NODE_OPTIONS, env: workerEnv, output: { logFile: join(logsDir, 'settlement-worker.log') } })),
      partHooks('settlement worker', 'SIGTERM', '.paybound/logs/settlement-worker.log (payments are held, not signed, until it is back)'),
    );
    await workerPart.start();
    started.push(workerPart);
    workerMetricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const metricsUrl = workerEnv.PAYBOUND_METRICS_TOKEN !== undefined || workerEnv.PAYBOUND_METRICS_OPEN === 'true' ? workerMetricsUrl : 'off (set PAYBOUND_METRICS_TOKEN)';
    workerLine =
      kit === undefined
        ? `pid ${workerPart.pid}, metrics at ${metricsUrl}`
        : `pid ${workerPart.pid}, metrics at ${metricsUrl}, wallet ${kit.payer.address} = anvil's PUBLIC dev account #1 (a published test key; local chain only)`;
  } else {
    workerLine = `not built yet (${local(WORKER_SCRIPT)} is missing): payments are held but not signed`;
  }
  say(`  ${existsSync(WORKER_SCRIPT) ? '✓' : '!'} worker        ${workerLine}`);

  const demoUrl = kit?.seller.dataUrl ?? config.demoUrl;
  Object.assign(runState, {
    apiUrl: governor.url,
    docsUrl: `${governor.url}/docs`,
    dashboardUrl: `${governor.url}/dashboard`,
    demoUrl: demoUrl ?? null,
    chainRpcUrl: kit?.rpcUrl ?? null,
    workerMetricsUrl,
    network: kit?.network ?? null,
    token: kit?.token ?? null,
    readyAt: new Date().toISOString(),
  });
  saveRunState();

  const readySec = process.uptime().toFixed(1);
  logger.info({ readySec, url: governor.url }, 'ready');
  const lines = [
    '',
    `Paybound is running (ready in ${readySec} s)`,
    '',
    `  API          ${governor.url}/v1`,
    `  API docs     ${governor.url}/docs`,
    `  Dashboard    ${governor.url}/dashboard   (sign in with the admin token in .paybound/admin-token)`,
    `  Events       ${config.kafkaBrokers === undefined ? 'delivered from the Postgres store (set KAFKA_BROKERS for Kafka)' : `Kafka ${config.kafkaBrokers}, topic ${governorConfig.kafkaTopic}`}`,
    ...(kit === undefined ? [] : [`  Demo seller  ${kit.seller.dataUrl}   ($0.01 per call, x402; the one private address pay-and-fetch may reach)`]),
    `  Logs         .paybound/logs/ (JSON: paybound, governor, settlement-worker, postgres)`,
  ];
  if (admin.created) lines.push('', `  Admin token (shown once; saved in .paybound/admin-token):`, `    ${admin.token}`);
  lines.push('', `  Run the demo agent again: npm run demo.   Stop: Ctrl-C.`, '');
  for (const line of lines) console.log(line);

  if (config.demo && demoUrl !== undefined) {
    const demo = startChild({
      name: 'demo agent',
      script: DEMO_SCRIPT,
      env: { PATH: process.env.PATH ?? '', PAYBOUND_URL: governor.url, PAYBOUND_AGENT_KEY: agent.apiKey, PAYBOUND_DEMO_URL: demoUrl },
      output: 'console',
    });
    started.push(demo);
    recordPart('demo agent', demo.pid, 'SIGTERM');
    void demo.exited.then(() => {
      forgetPart('demo agent', demo.pid);
      if (!stopping) console.log(`\nThe demo is over; Paybound keeps running. Watch ${governor.url}/dashboard, or press Ctrl-C to stop.\n`);
    });
  }
}

/** Polls /ready until the governor answers, bounded; an early exit shows the end of its log. */
async function waitUntilReady(url: string, child: SupervisedChild, logFile: string): Promise<void> {
  let exitCode: number | string | undefined;
  void child.exited.then((code) => {
    exitCode = code;
  });
  const deadline = Date.now() + GOVERNOR_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitCode !== undefined) {
      const tail = existsSync(logFile) ? readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-5).join('\n    ') : '';
      throw new Error(`the governor exited (${exitCode}) before it was ready; the end of .paybound/logs/governor.log:\n    ${tail}`);
    }
    try {
      const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(2_000) });
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the governor was not ready within ${GOVERNOR_READY_TIMEOUT_MS / 1000} s; see .paybound/logs/governor.log`);
}


try {
  await main(loadStartConfig());
} catch (error) {
  if (error instanceof StartConfigError) {
    console.error(`\n${formatProblems(error.problems)}`);
    logger.error({ problems: error.problems }, 'configuration rejected');
    await shutdown(2);
  } else if (error instanceof ConfigError) {
    console.error(`\nPaybound cannot start: ${error.message}\n`);
    logger.error({ err: { message: error.message } }, 'configuration rejected');
    await shutdown(2);
  } else {
    console.error(`\nPaybound failed to start: ${(error as Error).message}\n  The details are in .paybound/logs/paybound.log.\n`);
    logger.fatal({ err: { message: (error as Error).message, stack: (error as Error).stack } }, 'start failed');
    await shutdown(1);
  }
}
