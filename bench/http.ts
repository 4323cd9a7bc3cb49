import autocannon from 'autocannon';
import { defaultMigrationsDirectory, migrate } from '../libs/eventstore/migrate.js';
import { call, paymentRequiredHeader, seedAgent } from '../test/support/api-client.js';
import { sampleValue, scrape } from '../test/support/prometheus.js';
import { startX402Kit, type X402Kit } from '../libs/devnet/index.js';
import { registerCleanup } from './cleanup.js';
import { assertDurableCommits, createBenchDatabase } from './database.js';
import { startGovernorProcess, startWorkerProcess } from './processes.js';
import { formatTable } from './stats.js';
import { rpcEnvName } from '../apps/settlement-worker/config.js';

// The agent API over HTTP on loopback: `POST /v1/sessions/{id}/payments` driven by
// autocannon against a governor process, in two configurations on fresh databases:
//  - reserve-only: PAYBOUND_SIGN_WAIT_MS=0 and no settlement worker, so each answer is the
//    202 `reserved` the governor gives right after the decision is committed;
//  - sign-only: a settlement worker process signs every reservation (EIP-3009 for the
//    kit's token on anvil), its commands decided by the governor as in production,
//    and the governor answers 201 with the PAYMENT-SIGNATURE header.

export type HttpMode = 'reserve-only' | 'sign-only';

export interface HttpBenchConfig {
  adminUrl: string;
  connections: number[];
  seconds: number;
}

export interface HttpRow {
  mode: HttpMode;
  connections: number;
  seconds: number;
  requests: number;
  requestsPerSec: number;
  latencyMsP50: number;
  latencyMsP99: number;
  latencyMsMax: number;
  /** Answers with the status this mode must give (202 reserve-only, 201 with a PAYMENT-SIGNATURE header sign-only). */
  expected: number;
  /** Every other answer or connection error, by status ("err" for socket errors). */
  unexpected: Record<string, number>;
  /** The governor's commits during the run, by path, and its batches that met a moved stream. */
  commits: GovernorCommits;
}

interface GovernorCommits {
  fast: number;
  locked: number;
  staleFences: number;
}

const ADMIN_TOKEN = 'bench-admin-token';
/** The bench's own governor and worker share it; not a secret. */
const WORKER_TOKEN = 'bench-worker-token-not-a-secret';
const AMOUNT_ATOMIC = '1000'; // $0.001 with 6 decimals
const WARM_UP_SECONDS = 1;

export function readHttpConfig(adminUrl: string): HttpBenchConfig {
  const connections = (process.env.BENCH_HTTP_CONNECTIONS ?? '4,16,64').split(',').map((part) => Number(part.trim()));
  if (connections.length === 0 || connections.length > 5 || connections.some((c) => !Number.isInteger(c) || c < 1 || c > 1_024)) {
    throw new Error('BENCH_HTTP_CONNECTIONS must be 1 to 5 integers in 1..1024, comma-separated');
  }
  const seconds = Number(process.env.BENCH_HTTP_SECONDS ?? '8');
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 30) throw new Error('BENCH_HTTP_SECONDS must be an integer in 1..30');
  return { adminUrl, connections, seconds };
}

/** Runs both modes at every connection count; `fail` records a failed check. */
export async function runHttpBench(config: HttpBenchConfig, fail: (label: string, message: string) => void): Promise<HttpRow[]> {
  console.log(`\nhttp bench: POST /v1/sessions/{id}/payments, autocannon on loopback, ${config.seconds} s per run, connections ${config.connections.join('/')}`);
  const startedAt = Date.now();
  const kit = await startX402Kit();
  const stopKit = registerCleanup('x402 kit (anvil, facilitator, seller)', () => kit.stop());
  console.log(`  x402 kit up in ${((Date.now() - startedAt) / 1_000).toFixed(1)} s (anvil ${kit.rpcUrl}, token ${kit.token})`);
  const rows: HttpRow[] = [];
  try {
    for (const mode of ['reserve-only', 'sign-only'] as const) rows.push(...(await runMode(config, kit, mode, fail)));
  } finally {
    await stopKit();
  }
  return rows;
}

async function runMode(config: HttpBenchConfig, kit: X402Kit, mode: HttpMode, fail: (label: string, message: string) => void): Promise<HttpRow[]> {
  const database = await createBenchDatabase(config.adminUrl, 2);
  const dropDatabase = registerCleanup(`database ${database.name}`, () => database.drop());
  try {
    await assertDurableCommits(database.pool);
    await migrate(database.pool, defaultMigrationsDirectory());
    const governor = await startGovernorProcess({
      DATABASE_URL: database.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN_TOKEN,
      PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
      PAYBOUND_SIGN_WAIT_MS: mode === 'sign-only' ? '10000' : '0',
      // The run reads the commit counters from /metrics.
      PAYBOUND_METRICS_OPEN: 'true',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
      LOG_LEVEL: 'warn',
    });
    const stopGovernor = registerCleanup(`governor pid ${governor.pid}`, () => governor.stop());
    try {
      let stopWorker: (() => Promise<void>) | undefined;
      if (mode === 'sign-only') {
        const worker = await startWorkerProcess({
          DATABASE_URL: database.url,
          [rpcEnvName(kit.network)]: kit.rpcUrl,
          PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
          // As in production: the governor decides the worker's commands, so each org has one writer.
          PAYBOUND_GOVERNOR_URL: governor.url,
          PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
        });
        stopWorker = registerCleanup(`settlement worker pid ${worker.pid}`, () => worker.stop());
      }
      try {
        const agentKey = await seedAgent(governor.url, ADMIN_TOKEN, { orgId: 'org-http-bench', agentId: 'agent-http-bench' }, { org: '1000000.00' });
        const rows: HttpRow[] = [];
        for (const connections of config.connections) {
          // A session per run, so that no run inherits another's reservations.
          const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '100000.00' } });
          if (session.status !== 201) throw new Error(`open session: ${session.status} ${JSON.stringify(session.body)}`);
          const target = { url: governor.url, path: `/v1/sessions/${session.body.id}/payments`, agentKey, kit };
          await fire(target, connections, WARM_UP_SECONDS);
          const commitsBefore = await governorCommits(governor.url);
          const row = await measure(target, mode, connections, config.seconds, commitsBefore);
          const label = `http ${mode} c=${connections}`;
          const unexpectedCount = Object.values(row.unexpected).reduce((sum, n) => sum + n, 0);
          if (unexpectedCount > 0) fail(label, `${unexpectedCount} unexpected answers: ${JSON.stringify(row.unexpected)}`);
          if (row.expected === 0) fail(label, 'no request got the expected answer');
          if (row.commits.fast + row.commits.locked === 0) fail(label, 'the governor reported no commits in paybound_decision_commits_total');
          console.log(`  ${formatHttpRow(row).join('  ')}`);
          rows.push(row);
        }
        return rows;
      } finally {
        await stopWorker?.();
      }
    } finally {
      await stopGovernor();
    }
  } finally {
    await dropDatabase();
  }
}

interface Target {
  url: string;
  path: string;
  agentKey: string;
  kit: X402Kit;
}

function fire(target: Target, connections: number, seconds: number, onResponse?: (status: number, body: string) => void): Promise<autocannon.Result> {
  const paymentRequired = paymentRequiredHeader({ amount: AMOUNT_ATOMIC, asset: target.kit.token, payTo: target.kit.seller.payTo, network: target.kit.network });
  return autocannon({
    url: target.url,
    connections,
    duration: seconds,
    timeout: 30,
    // `[<id>]` becomes a fresh id per request: every request is a distinct payment intent.
    idReplacement: true,
    requests: [
      {
        method: 'POST',
        path: target.path,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${target.agentKey}` },
        body: JSON.stringify({ paymentRequired, url: `${target.kit.seller.dataUrl}?bench=[<id>]` }),
        ...(onResponse === undefined ? {} : { onResponse: (status: number, body: string) => onResponse(status, body) }),
      },
    ],
  });
}

/** The governor's commit counters (paybound_decision_*), from its /metrics. */
async function governorCommits(governorUrl: string): Promise<GovernorCommits> {
  const samples = await scrape(`${governorUrl}/metrics`);
  return {
    fast: sampleValue(samples, 'paybound_decision_commits_total', { path: 'fast' }),
    locked: sampleValue(samples, 'paybound_decision_commits_total', { path: 'locked' }),
    staleFences: sampleValue(samples, 'paybound_decision_stale_fences_total'),
  };
}

async function measure(target: Target, mode: HttpMode, connections: number, seconds: number, commitsBefore: GovernorCommits): Promise<HttpRow> {
  const expectedStatus = mode === 'sign-only' ? 201 : 202;
  let expected = 0;
  const unexpected: Record<string, number> = {};
  const result = await fire(target, connections, seconds, (status, body) => {
    const outcome = status !== expectedStatus ? String(status) : mode === 'sign-only' && !carriesPaymentHeader(body) ? `${status} without header` : 'expected';
    if (outcome === 'expected') expected += 1;
    else unexpected[outcome] = (unexpected[outcome] ?? 0) + 1;
  });
  if (result.errors > 0) unexpected.err = result.errors;
  const commitsAfter = await governorCommits(target.url);
  return {
    mode,
    connections,
    seconds: result.duration,
    requests: result.requests.total,
    requestsPerSec: result.requests.total / result.duration,
    latencyMsP50: result.latency.p50,
    latencyMsP99: result.latency.p99,
    latencyMsMax: result.latency.max,
    expected,
    unexpected,
    commits: { fast: commitsAfter.fast - commitsBefore.fast, locked: commitsAfter.locked - commitsBefore.locked, staleFences: commitsAfter.staleFences - commitsBefore.staleFences },
  };
}

/** Whether a sign-only answer carries the worker's PAYMENT-SIGNATURE header, not just the status. */
function carriesPaymentHeader(body: string): boolean {
  try {
    const parsed = JSON.parse(body) as { header?: { name?: unknown; value?: unknown } | null };
    return parsed.header?.name === 'PAYMENT-SIGNATURE' && typeof parsed.header.value === 'string' && parsed.header.value.length > 0;
  } catch {
    return false;
  }
}

const HTTP_HEADER = ['mode', 'connections', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'expected', 'unexpected', 'governor commits fast / locked', 'stale fences'];

function formatHttpRow(row: HttpRow): string[] {
  return [
    row.mode,
    String(row.connections),
    String(row.requests),
    row.requestsPerSec.toFixed(0),
    row.latencyMsP50.toFixed(2),
    row.latencyMsP99.toFixed(2),
    row.latencyMsMax.toFixed(2),
    `${row.expected} x ${row.mode === 'sign-only' ? 201 : 202}`,
    Object.keys(row.unexpected).length === 0 ? '0' : JSON.stringify(row.unexpected),
    `${row.commits.fast} / ${row.commits.locked}`,
    String(row.commits.staleFences),
  ];
}

export function printHttpTable(rows: readonly HttpRow[]): void {
  const cells = rows.map(formatHttpRow);
  console.log(`\n${formatTable(HTTP_HEADER, cells, false)}\n`);
  console.log(`Markdown:\n\n${formatTable(HTTP_HEADER, cells, true)}\n`);
}
