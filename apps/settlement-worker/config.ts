import { closeSync, readFileSync } from 'node:fs';
import type { Hex } from 'viem';
import { z } from 'zod';
import { DataKeyError, readPrivateFile } from '../../libs/platform/data-keys.js';
import { decryptKeystore, KeystoreError } from '../../libs/settlement/keystore.js';
import type { WalletFloorSetting } from '../../libs/settlement/wallet-monitor.js';

// The worker's configuration, read once at start. Key material is taken out of the
// environment as soon as it is read, so nothing the process starts later can inherit it; but
// the environment a process started with stays readable in /proc/<pid>/environ, so the
// production paths take the key from a file or an inherited file descriptor instead.

export class WorkerConfigError extends Error {}

/** Test-only fault injection: the process kills itself at that point (see faults.ts). */
export type WorkerFault = 'none' | 'exit_after_sign' | 'exit_after_record';

const KEY_VARIABLES = ['PAYBOUND_KEYSTORE_PASSWORD', 'PAYBOUND_DEV_PRIVATE_KEY'] as const;
/** A key or password read from a descriptor or a file is this long at most. */
const SECRET_BYTES_MAX = 4_096;

const workerSchema = z.object({
  DATABASE_URL: z.string().url({ message: 'DATABASE_URL must be a postgres:// URL' }),
  PAYBOUND_KEYSTORE_FILE: z.string().trim().min(1).optional(),
  PAYBOUND_KEYSTORE_PASSWORD: z.string().optional(),
  PAYBOUND_DEV_PRIVATE_KEY: z.string().optional(),
  PAYBOUND_WORKER_IDLE_WAIT_MS: z.coerce.number().int().min(5).max(100).default(25),
  /** Reads of the log without a notification, at the latest; notifications are lost while the listener reconnects. */
  PAYBOUND_WORKER_POLL_FALLBACK_MS: z.coerce.number().int().min(100).max(60_000).default(1_000),
  PAYBOUND_WORKER_SIGN_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(32),
  PAYBOUND_RECONCILE_INTERVAL_MS: z.coerce.number().int().min(50).max(60_000).default(250),
  PAYBOUND_LOG_LOOKBACK_BLOCKS: z.coerce.number().int().min(1).max(10_000_000).default(50_000),
  PAYBOUND_DB_POOL_SIZE: z.coerce.number().int().min(2).max(50).default(5),
  /** The governor that decides the worker's budget commands; without, the worker decides them itself. */
  PAYBOUND_GOVERNOR_URL: z.string().trim().url({ message: 'PAYBOUND_GOVERNOR_URL must be the governor\'s http(s) base URL' }).optional(),
  /** Shared with the governor, which accepts the worker's commands only with it. */
  PAYBOUND_WORKER_TOKEN: z.string().trim().min(16, 'PAYBOUND_WORKER_TOKEN must be at least 16 characters').optional(),
  PAYBOUND_GOVERNOR_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(10_000),
  KAFKA_BROKERS: z.string().trim().optional(),
  KAFKA_TOPIC: z.string().trim().min(1).default('paybound.events.v1'),
  PAYBOUND_WALLET_CHECK_INTERVAL_MS: z.coerce.number().int().min(100).max(3_600_000).default(15_000),
  PAYBOUND_WALLET_FLOORS: z
    .string()
    .default('[]')
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' });
        return z.NEVER;
      }
    })
    .pipe(
      z
        .array(
          z
            .object({
              network: z.string().regex(/^eip155:[0-9]{1,12}$/, 'must be an eip155 CAIP-2 network'),
              asset: z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be the token address'),
              floorAtomic: z.string().regex(/^[0-9]{1,78}$/, 'must be atomic units as a decimal string').nullable().default(null),
              nativeFloorWei: z.string().regex(/^[0-9]{1,78}$/, 'must be wei as a decimal string').nullable().default(null),
            })
            .strict(),
        )
        .max(100),
    ),
  /** GET /metrics (Prometheus) listens here; 0 picks a free port. */
  PAYBOUND_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  PAYBOUND_METRICS_HOST: z.string().trim().min(1).default('127.0.0.1'),
  PAYBOUND_METRICS_TOKEN: z.string().trim().optional(),
  /** Serves /metrics without a token: only where the port is reachable by nothing untrusted. */
  PAYBOUND_METRICS_OPEN: z.enum(['true', 'false']).default('false'),
  /** Connecting to the database, a statement, and a transaction left idle: each gives up after this. */
  PAYBOUND_DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  PAYBOUND_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
  PAYBOUND_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(15_000),
  /** Test-only fault injection; see apps/settlement-worker/main.ts. */
  PAYBOUND_WORKER_FAULT: z.enum(['none', 'exit_after_sign', 'exit_after_record']).default('none'),
  /** Test-only: the fault strikes the n-th time its point is reached. */
  PAYBOUND_WORKER_FAULT_AFTER: z.coerce.number().int().min(1).max(10_000).default(1),
});

export interface WorkerConfig {
  databaseUrl: string;
  /** RPC URLs keyed by variable name: RPC_URL_<CAIP-2 network with non-alphanumerics as _>. */
  rpcEnvNames: Map<string, string>;
  idleWaitMs: number;
  pollFallbackMs: number;
  signConcurrencyMax: number;
  reconcileIntervalMs: number;
  lookbackBlocks: bigint;
  dbPoolSize: number;
  fault: WorkerFault;
  faultAfterCount: number;
  walletCheckIntervalMs: number;
  /** Balances under these raise WalletLowBalance; every asset paid in is watched, with or without one. */
  walletFloors: WalletFloorSetting[];
  /** With brokers, Reserved events come from Kafka (a consumer group); without, from the Postgres log. */
  kafka: { brokers: string[]; topic: string } | undefined;
  /** `open`: served without a token (PAYBOUND_METRICS_OPEN=true); else a token is required. */
  metrics: { host: string; port: number; token: string | undefined; open: boolean };
  /** Bounds on waiting for the database, so that a stalled one fails the worker's work fast. */
  database: { connectTimeoutMs: number; statementTimeoutMs: number; idleInTransactionTimeoutMs: number };
  /** Where budget commands are decided: the governor when set, else the worker's own processor. */
  governor: { url: string; token: string; timeoutMs: number } | undefined;
}

export interface WorkerKey {
  privateKey: Hex;
  /**
   * Where it came from: the keystore (its password from a file, a descriptor, or for
   * development the environment), a raw key file or descriptor, or the environment.
   */
  source: 'keystore' | 'key_file' | 'key_fd' | 'dev_env';
  /** Whether a secret was read from the environment, which stays in /proc/<pid>/environ. */
  fromEnvironment: boolean;
}

/** `eip155:31337` → `RPC_URL_EIP155_31337`. */
export function rpcEnvName(network: string): string {
  return `RPC_URL_${network.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
}

export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  const parsed = workerSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new WorkerConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (c.PAYBOUND_METRICS_TOKEN !== undefined && c.PAYBOUND_METRICS_TOKEN !== '' && c.PAYBOUND_METRICS_TOKEN.length < 16) {
    throw new WorkerConfigError('invalid configuration:\n  PAYBOUND_METRICS_TOKEN: at least 16 characters');
  }
  if ((c.PAYBOUND_GOVERNOR_URL === undefined) !== (c.PAYBOUND_WORKER_TOKEN === undefined)) {
    throw new WorkerConfigError('invalid configuration:\n  PAYBOUND_GOVERNOR_URL, PAYBOUND_WORKER_TOKEN: set both (the governor decides the worker\'s commands) or neither (the worker decides them itself)');
  }
  const rpcEnvNames = new Map<string, string>();
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('RPC_URL_') || value === undefined || value.trim() === '') continue;
    if (!/^https?:\/\//.test(value)) throw new WorkerConfigError(`invalid configuration:\n  ${name}: must be an http(s) URL`);
    rpcEnvNames.set(name, value.trim());
  }
  return {
    databaseUrl: c.DATABASE_URL,
    rpcEnvNames,
    idleWaitMs: c.PAYBOUND_WORKER_IDLE_WAIT_MS,
    pollFallbackMs: c.PAYBOUND_WORKER_POLL_FALLBACK_MS,
    signConcurrencyMax: c.PAYBOUND_WORKER_SIGN_CONCURRENCY,
    reconcileIntervalMs: c.PAYBOUND_RECONCILE_INTERVAL_MS,
    lookbackBlocks: BigInt(c.PAYBOUND_LOG_LOOKBACK_BLOCKS),
    dbPoolSize: c.PAYBOUND_DB_POOL_SIZE,
    fault: c.PAYBOUND_WORKER_FAULT,
    faultAfterCount: c.PAYBOUND_WORKER_FAULT_AFTER,
    walletCheckIntervalMs: c.PAYBOUND_WALLET_CHECK_INTERVAL_MS,
    walletFloors: c.PAYBOUND_WALLET_FLOORS.map((f) => ({
      network: f.network,
      asset: f.asset,
      floorAtomic: f.floorAtomic === null ? null : BigInt(f.floorAtomic),
      nativeFloorWei: f.nativeFloorWei === null ? null : BigInt(f.nativeFloorWei),
    })),
    kafka:
      c.KAFKA_BROKERS === undefined || c.KAFKA_BROKERS === ''
        ? undefined
        : { brokers: c.KAFKA_BROKERS.split(',').map((b) => b.trim()).filter((b) => b !== ''), topic: c.KAFKA_TOPIC },
    metrics: { host: c.PAYBOUND_METRICS_HOST, port: c.PAYBOUND_METRICS_PORT, token: c.PAYBOUND_METRICS_TOKEN === '' ? undefined : c.PAYBOUND_METRICS_TOKEN, open: c.PAYBOUND_METRICS_OPEN === 'true' },
    database: { connectTimeoutMs: c.PAYBOUND_DB_CONNECT_TIMEOUT_MS, statementTimeoutMs: c.PAYBOUND_DB_STATEMENT_TIMEOUT_MS, idleInTransactionTimeoutMs: c.PAYBOUND_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS },
    governor:
      c.PAYBOUND_GOVERNOR_URL === undefined || c.PAYBOUND_WORKER_TOKEN === undefined
        ? undefined
        : { url: c.PAYBOUND_GOVERNOR_URL, token: c.PAYBOUND_WORKER_TOKEN, timeoutMs: c.PAYBOUND_GOVERNOR_TIMEOUT_MS },
  };
}

/**
 * Unlocks the wallet key, from the first of:
 * - PAYBOUND_KEYSTORE_FILE, the encrypted keystore, with its password from
 *   PAYBOUND_KEYSTORE_PASSWORD_FILE, the descriptor PAYBOUND_KEY_FD, or (development)
 *   PAYBOUND_KEYSTORE_PASSWORD;
 * - PAYBOUND_KEY_FD, an inherited descriptor the raw key is read from (and closed);
 * - PAYBOUND_DEV_PRIVATE_KEY_FILE, a file holding the raw key, readable by its owner only;
 * - PAYBOUND_DEV_PRIVATE_KEY, for development only.
 * The environment variables that hold secrets are removed once read.
 */
export async function loadWorkerKey(env: NodeJS.ProcessEnv = process.env): Promise<WorkerKey> {
  const file = env.PAYBOUND_KEYSTORE_FILE?.trim();
  const envPassword = env.PAYBOUND_KEYSTORE_PASSWORD;
  const passwordFile = env.PAYBOUND_KEYSTORE_PASSWORD_FILE?.trim();
  const keyFile = env.PAYBOUND_DEV_PRIVATE_KEY_FILE?.trim();
  const fdText = env.PAYBOUND_KEY_FD?.trim();
  const devKey = env.PAYBOUND_DEV_PRIVATE_KEY?.trim();
  for (const name of KEY_VARIABLES) delete env[name];
  const fd = fdText === undefined || fdText === '' ? undefined : descriptorOf(fdText);
  if (file !== undefined && file !== '') {
    let password: string | undefined;
    let fromEnvironment = false;
    if (passwordFile !== undefined && passwordFile !== '') password = readSecretFile(passwordFile, 'PAYBOUND_KEYSTORE_PASSWORD_FILE').replace(/\r?\n$/, '');
    else if (fd !== undefined) password = readDescriptor(fd).replace(/\r?\n$/, '');
    else if (envPassword !== undefined && envPassword !== '') {
      password = envPassword;
      fromEnvironment = true;
    }
    if (password === undefined || password === '') {
      throw new WorkerConfigError('invalid configuration:\n  PAYBOUND_KEYSTORE_PASSWORD_FILE: required with PAYBOUND_KEYSTORE_FILE (or the password on PAYBOUND_KEY_FD, or PAYBOUND_KEYSTORE_PASSWORD for development)');
    }
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new WorkerConfigError(`invalid configuration:\n  PAYBOUND_KEYSTORE_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    try {
      return { privateKey: (await decryptKeystore(text, password)).privateKey, source: 'keystore', fromEnvironment };
    } catch (error) {
      if (error instanceof KeystoreError) throw new WorkerConfigError(`invalid configuration:\n  PAYBOUND_KEYSTORE_FILE: ${error.message}`);
      throw error;
    }
  }
  if (fd !== undefined) return { privateKey: rawKey(readDescriptor(fd), 'PAYBOUND_KEY_FD'), source: 'key_fd', fromEnvironment: false };
  if (keyFile !== undefined && keyFile !== '') return { privateKey: rawKey(readSecretFile(keyFile, 'PAYBOUND_DEV_PRIVATE_KEY_FILE'), 'PAYBOUND_DEV_PRIVATE_KEY_FILE'), source: 'key_file', fromEnvironment: false };
  if (devKey !== undefined && devKey !== '') return { privateKey: rawKey(devKey, 'PAYBOUND_DEV_PRIVATE_KEY'), source: 'dev_env', fromEnvironment: true };
  throw new WorkerConfigError(
    'invalid configuration:\n  PAYBOUND_KEYSTORE_FILE: set it and PAYBOUND_KEYSTORE_PASSWORD_FILE (create one with `node dist/apps/settlement-worker/keystore-cli.js create`), or PAYBOUND_DEV_PRIVATE_KEY_FILE for development',
  );
}

/** 32 bytes of hex, with or without 0x; the message never repeats the value it rejects. */
function rawKey(text: string, variable: string): Hex {
  const trimmed = text.trim();
  const hex = trimmed.startsWith('0x') ? trimmed : `0x${trimmed}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new WorkerConfigError(`invalid configuration:\n  ${variable}: must be 32 bytes of hex`);
  return hex as Hex;
}

function descriptorOf(text: string): number {
  const fd = Number(text);
  // 0-2 are the standard streams; a key never comes on them.
  if (!Number.isInteger(fd) || fd < 3 || fd > 1_023) throw new WorkerConfigError('invalid configuration:\n  PAYBOUND_KEY_FD: an inherited file descriptor number, 3 or more');
  return fd;
}

/** Reads a secret from an inherited descriptor to its end, then closes it. */
function readDescriptor(fd: number): string {
  try {
    const bytes = readFileSync(fd);
    if (bytes.length > SECRET_BYTES_MAX) throw new WorkerConfigError(`invalid configuration:\n  PAYBOUND_KEY_FD: more than ${SECRET_BYTES_MAX} bytes`);
    return bytes.toString('utf8');
  } catch (error) {
    if (error instanceof WorkerConfigError) throw error;
    throw new WorkerConfigError(`invalid configuration:\n  PAYBOUND_KEY_FD: cannot read descriptor ${fd} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  } finally {
    try {
      closeSync(fd);
    } catch {
      // Already closed: nothing left to let go of.
    }
  }
}

function readSecretFile(path: string, variable: string): string {
  try {
    return readPrivateFile(path, variable);
  } catch (error) {
    if (error instanceof DataKeyError) throw new WorkerConfigError(`invalid configuration:\n  ${error.message}`);
    throw error;
  }
}
