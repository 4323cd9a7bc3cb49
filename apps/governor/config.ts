import { z } from 'zod';
import { parseAllowedDestinations, type AllowedDestination, type PrivateAddressPolicy } from '../../libs/platform/outbound-guard.js';
import { rpcEnvName } from '../settlement-worker/config.js';

// Configuration comes from the environment and is checked once at start, with a message
// that says what is wrong and how to fix it.

const optionalString = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const assetSchema = z.object({
  network: z.string().regex(/^[a-z0-9-]{3,8}:[a-zA-Z0-9_-]{1,32}$/),
  address: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  decimals: z.number().int().min(0).max(36),
  symbol: z.string().min(1).max(16),
  /** The token's own EIP-712 name and version: MPP `evm/charge` signs EIP-3009 with them, and its challenge does not name them. */
  eip712: z.object({ name: z.string().min(1).max(64), version: z.string().min(1).max(16) }).strict().optional(),
});
export type KnownAsset = z.infer<typeof assetSchema>;

const governorSchema = z.object({
  DATABASE_URL: z.string().url({ message: 'DATABASE_URL must be a postgres:// URL, e.g. postgres://postgres@127.0.0.1:5432/paybound' }),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  HOST: z.string().default('127.0.0.1'),
  KAFKA_BROKERS: optionalString,
  KAFKA_TOPIC: z.string().default('paybound.events.v1'),
  PAYBOUND_ADMIN_TOKEN: optionalString,
  /** The settlement worker's token: with it, the worker's budget commands are decided here (POST /internal/v1/worker-commands). */
  PAYBOUND_WORKER_TOKEN: optionalString.refine((v) => v === undefined || v.length >= 16, 'PAYBOUND_WORKER_TOKEN must be at least 16 characters'),
  PAYBOUND_ASSETS: optionalString,
  /** Among equally cheap options of one 402, the rails preferred, first first (e.g. `mpp/evm/charge,x402/exact/eip3009`). */
  PAYBOUND_RAIL_PREFERENCE: optionalString.refine(
    (v) => v === undefined || v.split(',').every((kind) => /^(x402\/(exact|upto)\/(eip3009|permit2)|mpp\/evm\/charge)$/.test(kind.trim())),
    'PAYBOUND_RAIL_PREFERENCE must list option kinds such as mpp/evm/charge, x402/exact/eip3009, x402/exact/permit2, x402/upto/permit2',
  ),
  PAYBOUND_SIGN_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(10_000),
  PAYBOUND_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  PAYBOUND_BATCH_MAX: z.coerce.number().int().min(1).max(10_000).default(500),
  /** Decision transactions committing at once, each on a pooled connection (see OrgCommandProcessorOptions). */
  PAYBOUND_CONCURRENT_COMMITS: z.coerce.number().int().min(1).max(32).default(2),
  /** Bounds each call pay-and-fetch makes to a seller (the unpaid one and the paid one). */
  PAYBOUND_FETCH_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(30_000),
  /** Whether pay-and-fetch may call loopback, private and link-local addresses (local sellers in development). */
  PAYBOUND_FETCH_PRIVATE_ADDRESSES: z.enum(['deny', 'allow']).default('deny'),
  /** Private destinations (host:port, comma-separated) that pay-and-fetch may reach while the rest stay denied. */
  PAYBOUND_FETCH_ALLOW: z.string().default(''),
  /** When set, GET /metrics asks for `Authorization: Bearer <token>`. */
  PAYBOUND_METRICS_TOKEN: optionalString,
  /** Without a token, /metrics is closed (it shows the paying wallets): `true` opens it to anyone who can reach the port. */
  PAYBOUND_METRICS_OPEN: z.enum(['true', 'false']).default('false'),
  /** The longest wait for a database connection (a new one, or a free one from the pool). */
  PAYBOUND_DB_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3_000),
  /** PostgreSQL cancels a statement that runs longer (statement_timeout). */
  PAYBOUND_DB_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  /** The governor gives up on a query whose answer has not arrived (a stalled or unreachable server, which cannot cancel anything itself). */
  PAYBOUND_DB_QUERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(6_000),
  /** PostgreSQL ends a session idle inside a transaction for longer (idle_in_transaction_session_timeout), so a stuck request never holds locks. */
  PAYBOUND_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** Bounds each webhook POST, from connecting to the response status. */
  PAYBOUND_WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(5_000),
  /** The wait after a webhook's first failed attempt; each further failure doubles it. */
  PAYBOUND_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int().min(10).max(3_600_000).default(10_000),
  /** The longest wait between two attempts. */
  PAYBOUND_WEBHOOK_RETRY_MAX_MS: z.coerce.number().int().min(10).max(86_400_000).default(21_600_000),
  /** Attempts without a 2xx after which a delivery is failed (20 with the defaults: about two days). */
  PAYBOUND_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(20),
  /** Sessions one agent may have open at once (neither closed nor expired); 0 for no cap. */
  PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT: z.coerce.number().int().min(0).max(1_000_000).default(100),
  /** CAIP-2 networks the settlement worker can pay on (it has an RPC endpoint for them), comma-separated. */
  PAYBOUND_PAYABLE_NETWORKS: optionalString.refine(
    (v) => v === undefined || v.split(',').every((n) => /^[a-z0-9-]{3,8}:[a-zA-Z0-9_-]{1,32}$/.test(n.trim())),
    'must be CAIP-2 networks separated by commas, e.g. eip155:8453,eip155:84532',
  ),
}).superRefine((c, ctx) => {
  // The server's own cancel should come first: it leaves the connection usable.
  if (c.PAYBOUND_DB_QUERY_TIMEOUT_MS < c.PAYBOUND_DB_STATEMENT_TIMEOUT_MS) {
    ctx.addIssue({
      code: 'custom',
      path: ['PAYBOUND_DB_QUERY_TIMEOUT_MS'],
      message: `must be at least PAYBOUND_DB_STATEMENT_TIMEOUT_MS (${c.PAYBOUND_DB_STATEMENT_TIMEOUT_MS}), got ${c.PAYBOUND_DB_QUERY_TIMEOUT_MS}`,
    });
  }
  // The pool also serves reads and projections while decisions commit.
  if (c.PAYBOUND_CONCURRENT_COMMITS >= c.PAYBOUND_DB_POOL_SIZE) {
    ctx.addIssue({
      code: 'custom',
      path: ['PAYBOUND_CONCURRENT_COMMITS'],
      message: `must be less than PAYBOUND_DB_POOL_SIZE (${c.PAYBOUND_DB_POOL_SIZE}), got ${c.PAYBOUND_CONCURRENT_COMMITS}`,
    });
  }
});

export interface GovernorConfig {
  databaseUrl: string;
  port: number;
  host: string;
  kafkaBrokers: string[] | undefined;
  kafkaTopic: string;
  adminToken: string | undefined;
  workerToken: string | undefined;
  assets: KnownAsset[];
  signWaitMs: number;
  dbPoolSize: number;
  batchMax: number;
  concurrentCommits: number;
  fetchTimeoutMs: number;
  fetchPrivateAddresses: PrivateAddressPolicy;
  fetchAllow: AllowedDestination[];
  metricsToken: string | undefined;
  metricsOpen: boolean;
  dbConnectTimeoutMs: number;
  dbStatementTimeoutMs: number;
  dbQueryTimeoutMs: number;
  dbIdleInTransactionTimeoutMs: number;
  webhookTimeoutMs: number;
  webhookRetryBaseMs: number;
  webhookRetryMaxMs: number;
  webhookMaxAttempts: number;
  /** The most sessions an agent may have open at once; null for no cap. */
  sessionsOpenMaxPerAgent: number | null;
  /**
   * The networks the settlement worker can pay on. An offer on any other network is refused
   * before anything is reserved, and the built-in assets are kept only on these networks.
   */
  payableNetworks: ReadonlySet<string>;
  /** PAYBOUND_RAIL_PREFERENCE; undefined for the built-in order (libs/rails DEFAULT_RAIL_PREFERENCE). */
  railPreference?: readonly string[];
  /** RPC_URL_<NETWORK> of the payable networks, read-only: the wallet's Permit2 allowances are read from it. */
  rpcUrls?: ReadonlyMap<string, string>;
}

export class ConfigError extends Error {}

export function loadGovernorConfig(env: NodeJS.ProcessEnv = process.env): GovernorConfig {
  const parsed = governorSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  let assets: KnownAsset[] = [];
  if (c.PAYBOUND_ASSETS !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(c.PAYBOUND_ASSETS);
    } catch {
      throw new ConfigError('invalid configuration:\n  PAYBOUND_ASSETS: must be JSON, e.g. [{"network":"eip155:84532","address":"0x…","decimals":6,"symbol":"USDC"}]');
    }
    const list = z.array(assetSchema).max(100).safeParse(json);
    if (!list.success) throw new ConfigError(`invalid configuration:\n  PAYBOUND_ASSETS: ${list.error.issues[0]?.message ?? 'invalid'}`);
    assets = list.data;
  }
  const payableNetworks = payableNetworksOf(c.PAYBOUND_PAYABLE_NETWORKS, assets, env);
  let fetchAllow: AllowedDestination[];
  try {
    fetchAllow = parseAllowedDestinations(c.PAYBOUND_FETCH_ALLOW);
  } catch (error) {
    throw new ConfigError(`invalid configuration:\n  PAYBOUND_FETCH_ALLOW: ${(error as Error).message}`);
  }
  return {
    databaseUrl: c.DATABASE_URL,
    port: c.PORT,
    host: c.HOST,
    kafkaBrokers: c.KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter((b) => b !== ''),
    kafkaTopic: c.KAFKA_TOPIC,
    adminToken: c.PAYBOUND_ADMIN_TOKEN,
    workerToken: c.PAYBOUND_WORKER_TOKEN,
    assets: [...DEFAULT_ASSETS.filter((a) => payableNetworks.has(a.network)), ...assets],
    signWaitMs: c.PAYBOUND_SIGN_WAIT_MS,
    dbPoolSize: c.PAYBOUND_DB_POOL_SIZE,
    batchMax: c.PAYBOUND_BATCH_MAX,
    concurrentCommits: c.PAYBOUND_CONCURRENT_COMMITS,
    fetchTimeoutMs: c.PAYBOUND_FETCH_TIMEOUT_MS,
    fetchPrivateAddresses: c.PAYBOUND_FETCH_PRIVATE_ADDRESSES,
    fetchAllow,
    metricsToken: c.PAYBOUND_METRICS_TOKEN,
    metricsOpen: c.PAYBOUND_METRICS_OPEN === 'true',
    dbConnectTimeoutMs: c.PAYBOUND_DB_CONNECT_TIMEOUT_MS,
    dbStatementTimeoutMs: c.PAYBOUND_DB_STATEMENT_TIMEOUT_MS,
    dbQueryTimeoutMs: c.PAYBOUND_DB_QUERY_TIMEOUT_MS,
    dbIdleInTransactionTimeoutMs: c.PAYBOUND_DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    webhookTimeoutMs: c.PAYBOUND_WEBHOOK_TIMEOUT_MS,
    webhookRetryBaseMs: c.PAYBOUND_WEBHOOK_RETRY_BASE_MS,
    webhookRetryMaxMs: c.PAYBOUND_WEBHOOK_RETRY_MAX_MS,
    webhookMaxAttempts: c.PAYBOUND_WEBHOOK_MAX_ATTEMPTS,
    sessionsOpenMaxPerAgent: c.PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT === 0 ? null : c.PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT,
    payableNetworks,
    ...(c.PAYBOUND_RAIL_PREFERENCE === undefined ? {} : { railPreference: c.PAYBOUND_RAIL_PREFERENCE.split(',').map((kind) => kind.trim()) }),
    rpcUrls: new Map([...payableNetworks].flatMap((network) => {
      const url = (env[rpcEnvName(network)] ?? '').trim();
      return url === '' ? [] : [[network, url] as const];
    })),
  };
}

/**
 * The networks the worker can pay on: PAYBOUND_PAYABLE_NETWORKS when set; otherwise every
 * network of PAYBOUND_ASSETS (the operator added those assets to pay in them), and each
 * built-in network whose RPC_URL_<NETWORK> is set here as it is for the worker. A governor
 * that shares the worker's environment needs nothing more; one that does not lists them.
 */
function payableNetworksOf(listed: string | undefined, assets: readonly KnownAsset[], env: NodeJS.ProcessEnv): ReadonlySet<string> {
  if (listed !== undefined) return new Set(listed.split(',').map((n) => n.trim()));
  const networks = new Set(assets.map((a) => a.network));
  for (const { network } of DEFAULT_ASSETS) if ((env[rpcEnvName(network)] ?? '').trim() !== '') networks.add(network);
  return networks;
}

/** Circle's USDC on the public Base networks, kept where the worker can pay; local chains add theirs with PAYBOUND_ASSETS. */
export const DEFAULT_ASSETS: readonly KnownAsset[] = [
  { network: 'eip155:8453', address: '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913', decimals: 6, symbol: 'USDC' },
  { network: 'eip155:84532', address: '0x036CbD53842c5426634e7929541eC2318f3dCF7e', decimals: 6, symbol: 'USDC' },
];
