import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { createPublicClient, http, type Address, type Hex, type PublicClient } from 'viem';

import { startAnvil, type AnvilHandle } from '../libs/devnet/anvil.js';
import { compileKitContracts } from '../libs/devnet/compile.js';
import { deployKit, kitChain } from '../libs/devnet/deploy.js';
import type { SellerMode } from '../libs/devnet/seller.js';
import { DataKeys, writePrivateFileOnce } from '../libs/platform/data-keys.js';
import { DECISION_PATH_NODE_OPTIONS, freePort } from '../libs/platform/processes.js';
import { startKafkaCluster, type KafkaCluster } from './kafka-cluster.js';
import { startChaosPostgres, type ChaosPostgres } from './postgres.js';
import { answers, ManagedProcess } from './processes.js';
import { startTcpProxy, type TcpProxy } from './proxy.js';
import { builtEntry, repoRoot } from './repo.js';

// The deployment the chaos run attacks, as it would run on several machines: two governors
// behind a round-robin proxy, two settlement workers in one Kafka consumer group, a
// three-node Kafka cluster, one PostgreSQL primary, anvil with the official x402 facilitator,
// and sellers that behave well, fail, hang or settle late. Every process is started from its
// built entry point with its environment, as an operator would start it.

export const NETWORK = 'eip155:31337';
export const TOPIC = 'paybound.events.v1';
/** Test-only tokens of a private run; neither guards anything outside it. */
const ADMIN_TOKEN = 'chaos-admin-token-not-a-secret';
const WORKER_TOKEN = 'chaos-worker-token-not-a-secret';
const METRICS_TOKEN = 'chaos-metrics-token-not-a-secret';
const READY_TIMEOUT_MS = 90_000;
/** The advisory lock key the outbox relay holds while it relays (libs/outbox/kafka-relay.ts): how the run finds the relay's leader. */
const RELAY_LOCK_KEY = 0x6b61_666b;

export type SellerKind = 'normal' | 'premium' | 'fail_502_before' | 'fail_502_after' | 'hang_before' | 'hang_after' | 'late';

interface SellerSpec {
  mode: SellerMode;
  priceAtomic: string;
  settleDelayMs: number;
}

export interface TopologyOptions {
  dataDir: string;
  governorCount: number;
  workerCount: number;
  kafkaNodes: number;
  /** Bounds each call a governor makes to a seller; the hanging and late sellers outlast it. */
  fetchTimeoutMs: number;
  payerFundsAtomic: bigint;
  /** Keep PostgreSQL's data folder after the run, for a post-mortem. */
  keepData: boolean;
}

export interface SellerHandle {
  readonly kind: SellerKind;
  /** Stable across restarts: a forwarder on a fixed port in front of the seller process. */
  readonly dataUrl: string;
  readonly priceAtomic: bigint;
  readonly process: ManagedProcess;
  /** Connections open to it now, through its forwarder. */
  activeConnections(): number;
  restart(): Promise<void>;
}

export interface Topology {
  readonly postgres: ChaosPostgres;
  readonly kafka: KafkaCluster;
  readonly anvil: AnvilHandle;
  readonly publicClient: PublicClient;
  readonly token: Address;
  readonly payer: Address;
  readonly payTo: Address;
  readonly facilitator: ManagedProcess;
  readonly sellers: ReadonlyMap<SellerKind, SellerHandle>;
  readonly governors: readonly ManagedProcess[];
  readonly workers: readonly ManagedProcess[];
  /** The agents' and workers' entry point: round-robin over the governors. */
  readonly proxy: TcpProxy;
  /** Each governor's and each worker's own network link to PostgreSQL, which a partition cuts. */
  readonly databaseLinks: { readonly governors: readonly TcpProxy[]; readonly workers: readonly TcpProxy[] };
  readonly adminToken: string;
  readonly logDir: string;
  /** Index of the governor that holds the outbox relay's lock now, if any. */
  relayLeader(): Promise<number | undefined>;
  stop(): Promise<void>;
}

export function sellerSpecs(fetchTimeoutMs: number): Record<SellerKind, SellerSpec> {
  return {
    normal: { mode: 'normal', priceAtomic: '10000', settleDelayMs: 0 },
    premium: { mode: 'normal', priceAtomic: '50000', settleDelayMs: 0 },
    fail_502_before: { mode: 'fail_502_before_settle', priceAtomic: '20000', settleDelayMs: 0 },
    fail_502_after: { mode: 'fail_502_after_settle', priceAtomic: '20000', settleDelayMs: 0 },
    hang_before: { mode: 'hang_before_settle', priceAtomic: '10000', settleDelayMs: 0 },
    hang_after: { mode: 'hang_after_settle', priceAtomic: '10000', settleDelayMs: 0 },
    // Settles on chain well after the governor stopped waiting for the seller's answer.
    late: { mode: 'normal', priceAtomic: '30000', settleDelayMs: fetchTimeoutMs + 3_000 },
  };
}

function nodeProcess(name: string, entry: string, env: Record<string, string>, logDir: string, ready: (output: string) => Promise<boolean> | boolean, nodeOptions: readonly string[] = []): ManagedProcess {
  return new ManagedProcess({
    name,
    command: process.execPath,
    args: [...nodeOptions, builtEntry(entry)],
    env: { PATH: process.env.PATH ?? '', ...env },
    cwd: repoRoot,
    logFile: join(logDir, `${name}.log`),
    ready,
    readyTimeoutMs: READY_TIMEOUT_MS,
  });
}

/** The URL a child printed in its ready line ({"msg": "...", "url": "..."}). */
function printedUrl(output: string, msg: string): string | undefined {
  for (const line of output.split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      return (JSON.parse(line) as { url?: string }).url;
    } catch {
      // Not our line.
    }
  }
  return undefined;
}

export async function startTopology(options: TopologyOptions, log: (line: string) => void): Promise<Topology> {
  const logDir = join(options.dataDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  try {
    // Anvil first and alone: its readiness wait is short, and three JVMs starting at once
    // can starve it on two cores.
    log('starting anvil, then PostgreSQL and the Kafka cluster');
    const anvil = await startAnvil();
    stops.push(() => anvil.stop());
    const artifacts = await compileKitContracts();
    const [postgresStart, kafkaStart] = await Promise.allSettled([startChaosPostgres(join(options.dataDir, 'pg'), options.keepData), startKafkaCluster(join(options.dataDir, 'kafka'), options.kafkaNodes)]);
    if (postgresStart.status === 'fulfilled') stops.push(() => postgresStart.value.stop());
    if (kafkaStart.status === 'fulfilled') stops.push(() => kafkaStart.value.stop());
    if (postgresStart.status === 'rejected') throw postgresStart.reason;
    if (kafkaStart.status === 'rejected') throw kafkaStart.reason;
    const postgres = postgresStart.value;
    const kafka = kafkaStart.value;
    log('deploying the token, starting the facilitator and the sellers');
    const deployment = await deployKit(anvil.rpcUrl, artifacts, { payerFundsAtomic: options.payerFundsAtomic });
    const publicClient = createPublicClient({ chain: kitChain(anvil.rpcUrl), transport: http(anvil.rpcUrl) }) as PublicClient;

    const facilitator = nodeProcess('facilitator', 'chaos/facilitator-main.js', { CHAOS_RPC_URL: anvil.rpcUrl, CHAOS_FACILITATOR_KEY: deployment.facilitatorKey }, logDir, (out) => printedUrl(out, 'chaos facilitator ready') !== undefined);
    await facilitator.start();
    stops.push(() => facilitator.close());
    const facilitatorUrl = printedUrl(facilitator.output(), 'chaos facilitator ready')!;

    const sellers = new Map<SellerKind, SellerHandle>();
    const specs = sellerSpecs(options.fetchTimeoutMs);
    await Promise.all(
      (Object.entries(specs) as [SellerKind, SellerSpec][]).map(async ([kind, spec]) => {
        const child = nodeProcess(
          `seller-${kind}`,
          'chaos/seller-main.js',
          {
            CHAOS_FACILITATOR_URL: facilitatorUrl,
            CHAOS_TOKEN: deployment.token,
            CHAOS_PAY_TO: deployment.payTo,
            CHAOS_PRICE_ATOMIC: spec.priceAtomic,
            CHAOS_SELLER_MODE: spec.mode,
            CHAOS_SETTLE_DELAY_MS: String(spec.settleDelayMs),
            CHAOS_HANG_MAX_MS: String(options.fetchTimeoutMs * 3),
          },
          logDir,
          (out) => printedUrl(out, 'chaos seller ready') !== undefined,
        );
        await child.start();
        const backendOf = () => ({ host: '127.0.0.1', port: Number(new URL(printedUrl(child.output(), 'chaos seller ready')!).port) });
        const forwarder = await startTcpProxy([backendOf()]);
        stops.push(() => child.close(), () => forwarder.close());
        sellers.set(kind, {
          kind,
          dataUrl: `${forwarder.url}/data`,
          priceAtomic: BigInt(spec.priceAtomic),
          process: child,
          activeConnections: () => forwarder.activeConnections(),
          async restart() {
            await child.start();
            forwarder.setBackends([backendOf()]);
          },
        });
      }),
    );

    // Secrets at rest are sealed as a deployment would seal them: one data key file that
    // the governors and workers share, and the worker's key read from a private file, never
    // from the environment.
    const dataKeyFile = join(options.dataDir, 'data-keys');
    writePrivateFileOnce(dataKeyFile, DataKeys.generate());
    const workerKeyFile = join(options.dataDir, 'worker-key');
    // Anvil's public development key for the payer, derived at run time: never a real key.
    rmSync(workerKeyFile, { force: true });
    writePrivateFileOnce(workerKeyFile, `${deployment.payer.privateKey}\n`);

    // Each governor and worker reaches PostgreSQL over a link of its own, so that a partition
    // can cut one process off the database while the others carry on.
    const databaseTarget = { host: '127.0.0.1', port: Number(new URL(postgres.url).port) };
    const databaseLink = async (): Promise<TcpProxy> => {
      const link = await startTcpProxy([databaseTarget]);
      stops.push(() => link.close());
      return link;
    };
    const viaLink = (link: TcpProxy): string => {
      const url = new URL(postgres.url);
      url.port = String(link.port);
      return url.toString();
    };
    const governorLinks: TcpProxy[] = [];
    for (let index = 0; index < options.governorCount; index++) governorLinks.push(await databaseLink());
    const workerLinks: TcpProxy[] = [];
    for (let index = 0; index < options.workerCount; index++) workerLinks.push(await databaseLink());

    const assets = JSON.stringify([{ network: NETWORK, address: deployment.token, decimals: 6, symbol: 'TUSD' }]);
    const governorPorts: number[] = [];
    while (governorPorts.length < options.governorCount) {
      const port = await freePort();
      if (!governorPorts.includes(port)) governorPorts.push(port);
    }
    const governors = governorPorts.map((port, index) =>
      nodeProcess(
        `governor-${index + 1}`,
        'apps/governor/main.js',
        {
          DATABASE_URL: viaLink(governorLinks[index]!),
          PGAPPNAME: `chaos-governor-${index + 1}`,
          HOST: '127.0.0.1',
          PORT: String(port),
          KAFKA_BROKERS: kafka.brokers,
          KAFKA_TOPIC: TOPIC,
          PAYBOUND_ADMIN_TOKEN: ADMIN_TOKEN,
          PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
          PAYBOUND_ASSETS: assets,
          PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
          PAYBOUND_FETCH_TIMEOUT_MS: String(options.fetchTimeoutMs),
          PAYBOUND_DATA_KEY_FILE: dataKeyFile,
          LOG_LEVEL: 'warn',
        },
        logDir,
        () => answers(`http://127.0.0.1:${port}/ready`),
        DECISION_PATH_NODE_OPTIONS,
      ),
    );
    log('starting the governors and the settlement workers');
    // One at a time: each migrates the database at start, under a lock, and the first does the work.
    for (const governor of governors) {
      await governor.start();
      stops.push(() => governor.close());
    }
    const proxy = await startTcpProxy(governorPorts.map((port) => ({ host: '127.0.0.1', port })));
    stops.push(() => proxy.close());

    const workers: ManagedProcess[] = [];
    for (let index = 0; index < options.workerCount; index++) {
      const metricsPort = await freePort();
      const worker = nodeProcess(
        `worker-${index + 1}`,
        'apps/settlement-worker/main.js',
        {
          DATABASE_URL: viaLink(workerLinks[index]!),
          PGAPPNAME: `chaos-worker-${index + 1}`,
          KAFKA_BROKERS: kafka.brokers,
          KAFKA_TOPIC: TOPIC,
          PAYBOUND_GOVERNOR_URL: proxy.url,
          PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
          RPC_URL_EIP155_31337: anvil.rpcUrl,
          PAYBOUND_DEV_PRIVATE_KEY_FILE: workerKeyFile,
          PAYBOUND_DATA_KEY_FILE: dataKeyFile,
          PAYBOUND_METRICS_PORT: String(metricsPort),
          PAYBOUND_METRICS_TOKEN: METRICS_TOKEN,
          LOG_LEVEL: 'warn',
        },
        logDir,
        () => answers(`http://127.0.0.1:${metricsPort}/metrics`, METRICS_TOKEN),
        DECISION_PATH_NODE_OPTIONS,
      );
      await worker.start();
      stops.push(() => worker.close());
      workers.push(worker);
    }

    // Bounded: the observer must not hang while the database is frozen.
    const pool = new pg.Pool({ connectionString: postgres.url, max: 1, application_name: 'chaos-observer', query_timeout: 5_000, connectionTimeoutMillis: 5_000 });
    pool.on('error', () => undefined);
    stops.push(() => pool.end());
    return {
      postgres,
      kafka,
      anvil,
      publicClient,
      token: deployment.token,
      payer: deployment.payer.address,
      payTo: deployment.payTo,
      facilitator,
      sellers,
      governors,
      workers,
      proxy,
      databaseLinks: { governors: governorLinks, workers: workerLinks },
      adminToken: ADMIN_TOKEN,
      logDir,
      async relayLeader() {
        const result = await pool
          .query<{ application_name: string }>(
            `SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = $1`,
            [RELAY_LOCK_KEY],
          )
          .catch(() => undefined);
        const name = result?.rows[0]?.application_name;
        const match = name === undefined ? null : /^chaos-governor-(\d+)$/.exec(name);
        return match === null ? undefined : Number(match[1]) - 1;
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

export type { Hex };
