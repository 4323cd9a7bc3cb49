import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, rmSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';

import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../apps/paybound/embedded-postgres.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';
import { DECISION_PATH_NODE_OPTIONS, freePort, sleep } from '../platform/processes.js';
import { startX402Kit, type X402Kit } from './index.js';
import { repoRoot } from './repo-root.js';

// A whole Paybound for a test session in another language: embedded PostgreSQL, anvil with
// the test dollar, the official x402 seller and facilitator, the governor and the
// settlement worker, the parts `npm start` runs, each on a free loopback port. It prints
// one JSON line saying where everything is, and stops it all, in reverse order and by PID,
// when its stdin closes (the test runner ended or died) or on SIGTERM / SIGINT.
//
//   node dist/libs/devnet/stack-cli.js [--state-dir DIR]
//
// The state folder (database files, one log per process) is new for every run and removed
// at stop unless PAYBOUND_STACK_KEEP=1, so a failed run's logs can be read afterwards.

const GOVERNOR_SCRIPT = join(repoRoot, 'dist', 'apps', 'governor', 'main.js');
const WORKER_SCRIPT = join(repoRoot, 'dist', 'apps', 'settlement-worker', 'main.js');
/** Migrations and module start-up take about a second here; the bound is for a loaded box. */
const READY_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 100;
/** How long a process gets after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Every stop step is bounded, so the launcher always exits. */
const STOP_STEP_TIMEOUT_MS = 15_000;
/** The end of a process's output kept in memory, to see its ready line and report a failed start. */
const OUTPUT_TAIL_CHARS = 16_000;
/** The kit's token has 6 decimals, like USDC. */
const LOCAL_ASSET = { decimals: 6, symbol: 'TUSD' } as const;

interface Stoppable {
  name: string;
  stop(): Promise<void>;
}

interface NodeChild extends Stoppable {
  pid: number;
  tail(): string;
  exitCode(): number | string | null;
}

const started: Stoppable[] = [];
let stopping = false;
/** Removed at stop; set once it exists. */
let stateDirToRemove: string | undefined;

function log(line: string): void {
  process.stderr.write(`stack: ${line}\n`);
}

/** Starts a built Node script with its output appended to a log file and its tail kept for readiness checks. */
function startNode(name: string, script: string, env: Record<string, string>, logFile: string): NodeChild {
  const out: WriteStream = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = spawn(process.execPath, [...DECISION_PATH_NODE_OPTIONS, script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${name} could not be started (spawn failed)`);
  let tail = '';
  const keep = (chunk: Buffer): void => {
    out.write(chunk);
    tail = (tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exit: number | string | null = null;
  const exited = new Promise<void>((resolveExit) =>
    child.once('exit', (code, signal) => {
      exit = code ?? signal ?? 'unknown';
      out.end();
      resolveExit();
    }),
  );
  return {
    name,
    pid,
    tail: () => tail,
    exitCode: () => exit,
    stop: async () => {
      if (exit !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Polls until `ready()` holds, bounded; a process that exits first fails with the end of its output. */
async function waitFor(child: NodeChild, what: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode() !== null) throw new Error(`${child.name} exited (${String(child.exitCode())}) before ${what}:\n${child.tail().slice(-3_000)}`);
    if (await ready()) return;
    await sleep(READY_POLL_MS);
  }
  throw new Error(`${child.name} was not ${what} within ${READY_TIMEOUT_MS} ms:\n${child.tail().slice(-3_000)}`);
}

async function answers(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

function parseArgs(argv: readonly string[]): { stateDir: string | undefined } {
  let stateDir: string | undefined;
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === '--state-dir' && argv[i + 1] !== undefined) {
      stateDir = argv[i + 1];
      i += 1;
    } else {
      throw new Error(`unknown argument ${argv[i]}; usage: stack-cli.js [--state-dir DIR]`);
    }
  }
  return { stateDir };
}

async function stopAll(exitCode: number): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  // A stop asked for while starting waits for the start to settle, so nothing it is still
  // starting is left running; each start step is bounded, and so is this wait.
  await Promise.race([startup.catch(() => undefined), sleep(4 * READY_TIMEOUT_MS)]);
  for (const part of [...started].reverse()) {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        part.stop(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`did not stop within ${STOP_STEP_TIMEOUT_MS} ms`)), STOP_STEP_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      log(`${part.name}: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
  if (stateDirToRemove !== undefined && process.env.PAYBOUND_STACK_KEEP !== '1') rmSync(stateDirToRemove, { recursive: true, force: true });
  log('stopped');
  process.exit(exitCode);
}

async function main(): Promise<void> {
  for (const script of [GOVERNOR_SCRIPT, WORKER_SCRIPT]) {
    if (!existsSync(script)) throw new Error(`${script} is missing; run \`npm run build\` first`);
  }
  const args = parseArgs(process.argv.slice(2));
  const base = join(repoRoot, '.cache', 'stack');
  mkdirSync(base, { recursive: true });
  const stateDir = args.stateDir ?? mkdtempSync(join(base, 'run-'));
  mkdirSync(stateDir, { recursive: true });
  // mkdtemp makes it private (0700); under root, Postgres runs as the postgres user and must enter it.
  chmodSync(stateDir, 0o755);
  // A folder the caller named is theirs to keep; one made here is removed at stop.
  if (args.stateDir === undefined) stateDirToRemove = stateDir;
  const logsDir = join(stateDir, 'logs');
  mkdirSync(logsDir, { recursive: true });

  // The runner closes our stdin when it ends, even when it is killed: that is the signal to
  // stop. A runner killed mid-start also leaves stdout without a reader, and the ready line
  // then fails with EPIPE; that, and any other fault, stops what was started instead of
  // ending this process with its children left running.
  process.stdin.on('end', () => void stopAll(0));
  process.stdin.on('error', () => void stopAll(0));
  process.stdin.resume();
  process.stdout.on('error', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));
  process.once('SIGINT', () => void stopAll(0));
  process.on('uncaughtException', (error) => {
    log(`unexpected: ${error.message}`);
    void stopAll(1);
  });

  const database: EmbeddedDatabase = await startEmbeddedPostgres({
    dataDir: join(stateDir, 'pg'),
    port: await freePort(),
    logFile: join(logsDir, 'postgres.log'),
    passwordFile: join(stateDir, 'pg-password'),
  });
  started.push({ name: 'embedded PostgreSQL', stop: () => database.stop() });

  const kit: X402Kit = await startX402Kit();
  started.push({ name: 'anvil, seller and facilitator', stop: () => kit.stop() });

  const adminToken = `pb_admin_${randomBytes(32).toString('base64url')}`;
  const workerToken = randomBytes(24).toString('base64url');
  const assets = JSON.stringify([{ network: kit.network, address: kit.token, ...LOCAL_ASSET }]);
  const port = await freePort();
  const governorUrl = `http://127.0.0.1:${port}`;
  const governor = startNode(
    'governor',
    GOVERNOR_SCRIPT,
    {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: database.url,
      HOST: '127.0.0.1',
      PORT: String(port),
      PAYBOUND_ADMIN_TOKEN: adminToken,
      PAYBOUND_WORKER_TOKEN: workerToken,
      PAYBOUND_ASSETS: assets,
      // The kit's seller listens on loopback, which pay-and-fetch refuses unless allowed.
      PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
      // The catalog is synced from the kit facilitator's x402 discovery list, which names the seller.
      PAYBOUND_DISCOVERY_URLS: kit.facilitator.url,
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'info',
    },
    join(logsDir, 'governor.log'),
  );
  started.push(governor);
  await waitFor(governor, 'ready', () => answers(`${governorUrl}/ready`));

  const metricsPort = await freePort();
  const worker = startNode(
    'settlement worker',
    WORKER_SCRIPT,
    {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
      PAYBOUND_METRICS_PORT: String(metricsPort),
      PAYBOUND_GOVERNOR_URL: governorUrl,
      PAYBOUND_WORKER_TOKEN: workerToken,
      PAYBOUND_ASSETS: assets,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
      // Anvil's account #1 from its published test mnemonic: funded only on this local chain.
      PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
      PAYBOUND_WALLET_CHECK_INTERVAL_MS: '2000',
    },
    join(logsDir, 'settlement-worker.log'),
  );
  started.push(worker);
  await waitFor(worker, 'ready', () => Promise.resolve(worker.tail().includes('settlement worker ready')));

  const ready = {
    governorUrl,
    adminToken,
    sellerUrl: kit.seller.url,
    sellerDataUrl: kit.seller.dataUrl,
    priceAtomic: '10000',
    chainRpcUrl: kit.rpcUrl,
    chainId: kit.chainId,
    network: kit.network,
    tokenAddress: kit.token,
    tokenDecimals: LOCAL_ASSET.decimals,
    payerAddress: kit.payer.address,
    payeeAddress: kit.seller.payTo,
    facilitatorUrl: kit.facilitator.url,
    stateDir,
    logsDir,
    pids: { launcher: process.pid, postgres: database.pid, governor: governor.pid, worker: worker.pid },
  };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  log(`ready: governor ${governorUrl}, seller ${kit.seller.dataUrl}, logs in ${logsDir}`);

  // A part that dies while tests run would make every later failure puzzling: stop at once.
  void (async () => {
    while (!stopping) {
      for (const child of [governor, worker]) {
        if (child.exitCode() !== null && !stopping) {
          log(`${child.name} exited (${String(child.exitCode())}); stopping the rest. The end of its output:\n${child.tail().slice(-2_000)}`);
          void stopAll(1);
          return;
        }
      }
      await sleep(500);
    }
  })();
}

const startup = main();
startup.catch(async (error: unknown) => {
  log(`failed to start: ${(error as Error).message}`);
  await stopAll(1);
});
