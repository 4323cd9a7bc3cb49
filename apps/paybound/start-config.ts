// What `npm start` runs on, read once from the environment. Every setting is optional:
// what is not set is started locally (embedded Postgres, events from the Postgres store
// instead of Kafka, a local chain with a test dollar and a demo seller). What is set is
// checked here, and each problem is reported as what is wrong, why it matters, how to fix it.

export interface StartConfig {
  /** An external database; undefined means the embedded one. */
  databaseUrl: string | undefined;
  /** Port of the embedded database; 0 picks a free one. */
  embeddedPgPort: number;
  kafkaBrokers: string | undefined;
  /** RPC_URL_<NETWORK> settings, e.g. RPC_URL_EIP155_84532; empty means the local chain. */
  rpcUrls: Record<string, string>;
  host: string;
  port: number;
  demo: boolean;
  /** The paid URL the demo agent buys from when the chain is not the local one. */
  demoUrl: string | undefined;
  adminToken: string | undefined;
  logLevel: string;
}

export interface ConfigProblem {
  what: string;
  why: string;
  fix: string;
}

export class StartConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map((p) => p.what).join('; '));
  }
}

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
const DEFAULT_PORT = 8080;
const DEFAULT_EMBEDDED_PG_PORT = 54329;

function set(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function portSetting(env: NodeJS.ProcessEnv, name: string, fallback: number, problems: ConfigProblem[], why: string): number {
  const raw = set(env, name);
  if (raw === undefined) return fallback;
  const port = Number(raw);
  if (!/^\d{1,5}$/.test(raw) || port > 65_535) {
    problems.push({ what: `${name}=${raw.slice(0, 40)} is not a port number`, why, fix: `set ${name} to a number from 1 to 65535 (0 picks a free port), or unset it for ${fallback}` });
    return fallback;
  }
  return port;
}

export function loadStartConfig(env: NodeJS.ProcessEnv = process.env): StartConfig {
  const problems: ConfigProblem[] = [];

  const databaseUrl = set(env, 'DATABASE_URL');
  if (databaseUrl !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(databaseUrl).protocol;
    } catch {
      // Reported below.
    }
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
      problems.push({
        what: 'DATABASE_URL is not a postgres:// URL',
        why: 'every budget decision is stored in PostgreSQL before anything is signed',
        fix: 'set DATABASE_URL=postgres://user:password@host:5432/paybound, or unset it to use the embedded database in .paybound/pg',
      });
    }
  }

  const kafkaBrokers = set(env, 'KAFKA_BROKERS');
  if (kafkaBrokers !== undefined) {
    const bad = kafkaBrokers.split(',').map((b) => b.trim()).filter((b) => !/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(b));
    if (bad.length > 0) {
      problems.push({
        what: `KAFKA_BROKERS has entries that are not host:port: ${bad.slice(0, 3).join(', ')}`,
        why: 'events are published to the paybound.events.v1 topic on these brokers',
        fix: 'set KAFKA_BROKERS=host1:9092,host2:9092, or unset it to deliver events from the Postgres store',
      });
    }
  }

  const rpcUrls: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('RPC_URL_') || value === undefined || value.trim() === '') continue;
    if (!/^RPC_URL_[A-Z0-9]+_[A-Za-z0-9]+$/.test(name)) {
      problems.push({ what: `${name} does not name a network`, why: 'the settlement worker picks the RPC endpoint by CAIP-2 network', fix: 'name it RPC_URL_<NAMESPACE>_<REFERENCE>, e.g. RPC_URL_EIP155_84532 for eip155:84532' });
      continue;
    }
    if (!/^https?:\/\/\S+$/.test(value.trim())) {
      problems.push({ what: `${name} is not an http(s) URL`, why: 'the settlement worker reconciles payments on chain through it', fix: `set ${name}=https://your-rpc-provider/…` });
      continue;
    }
    rpcUrls[name] = value.trim();
  }

  const demoSetting = (set(env, 'PAYBOUND_DEMO') ?? 'on').toLowerCase();
  if (demoSetting !== 'on' && demoSetting !== 'off') {
    problems.push({ what: `PAYBOUND_DEMO=${demoSetting.slice(0, 20)} is neither on nor off`, why: 'it decides whether the demo agent runs at start', fix: 'set PAYBOUND_DEMO=off to skip the demo, or unset it' });
  }
  const demoUrl = set(env, 'PAYBOUND_DEMO_URL');
  if (demoUrl !== undefined && !/^https?:\/\/\S+$/.test(demoUrl)) {
    problems.push({ what: 'PAYBOUND_DEMO_URL is not an http(s) URL', why: 'the demo agent buys from this x402 endpoint', fix: 'set it to a paid URL that answers 402, or unset it' });
  }
  const usesLocalChain = Object.keys(rpcUrls).length === 0;
  if (!usesLocalChain && set(env, 'PAYBOUND_DEV_PRIVATE_KEY') === undefined && set(env, 'PAYBOUND_KEYSTORE_FILE') === undefined) {
    problems.push({
      what: 'RPC_URL_* is set but the settlement worker has no wallet',
      why: 'with a real chain nothing is signed without a key, and the local dev key is only used with the local chain',
      fix: 'set PAYBOUND_KEYSTORE_FILE (encrypted keystore) for the worker, or unset RPC_URL_* to use the local chain',
    });
  }

  const adminToken = set(env, 'PAYBOUND_ADMIN_TOKEN');
  if (adminToken !== undefined && !/^[\x21-\x7e]{24,256}$/.test(adminToken)) {
    problems.push({ what: 'PAYBOUND_ADMIN_TOKEN is too short or has spaces', why: 'it guards the admin API and the dashboard', fix: 'use 24 to 256 printable characters (e.g. `openssl rand -hex 32`), or unset it to generate one in .paybound/admin-token' });
  }

  const logLevel = set(env, 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.has(logLevel)) {
    problems.push({ what: `LOG_LEVEL=${logLevel.slice(0, 20)} is not a level`, why: 'it sets what the log files in .paybound/logs keep', fix: `use one of ${[...LOG_LEVELS].join(', ')}` });
  }

  const host = set(env, 'HOST') ?? '127.0.0.1';
  const port = portSetting(env, 'PORT', DEFAULT_PORT, problems, 'the API, /docs and /dashboard listen on it');
  const embeddedPgPort = portSetting(env, 'PAYBOUND_PG_PORT', DEFAULT_EMBEDDED_PG_PORT, problems, 'the embedded database listens on it');

  if (problems.length > 0) throw new StartConfigError(problems);
  return {
    databaseUrl,
    embeddedPgPort,
    kafkaBrokers,
    rpcUrls,
    host,
    port,
    demo: demoSetting === 'on' && (usesLocalChain || demoUrl !== undefined),
    demoUrl,
    adminToken,
    logLevel,
  };
}

export function formatProblems(problems: readonly ConfigProblem[]): string {
  const lines = ['Paybound cannot start: the configuration has a problem.', ''];
  for (const p of problems) {
    lines.push(`  ✗ ${p.what}`, `    why: ${p.why}`, `    fix: ${p.fix}`, '');
  }
  return lines.join('\n');
}
