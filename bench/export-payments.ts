import { join } from 'node:path';
import { startEmbeddedPostgres } from '../apps/paybound/embedded-postgres.js';
import { loadGovernorConfig } from '../apps/governor/config.js';
import { createGovernor } from '../apps/governor/create-governor.js';
import { repoRoot } from '../libs/devnet/repo-root.js';
import { freePort } from '../libs/devnet/net.js';
import { createLogger } from '../libs/platform/logger.js';
import { createBenchDatabase } from './database.js';

// `node dist/bench/export-payments.js [rows]`: writes `rows` payments (default 1,000,000)
// straight into the read model in SQL, then streams GET /admin/v1/exports/payments as CSV and
// as JSON Lines from an in-process governor, reading every byte, and reports the duration
// and the process's peak RSS (sampled every 20 ms) against its RSS before the export.
// BENCH_DATABASE_URL names a server's admin URL; else an embedded PostgreSQL is started.

const rows = Number(process.argv[2] ?? 1_000_000);
const ROOT = 'export-bench-root';
let stopEmbedded: () => Promise<void> = () => Promise.resolve();
let adminUrl = process.env.BENCH_DATABASE_URL;
if (adminUrl === undefined) {
  const folder = join(repoRoot, '.cache', 'export-bench-pg');
  const embedded = await startEmbeddedPostgres({ dataDir: join(folder, 'pg'), port: await freePort(), logFile: join(folder, 'postgres.log'), passwordFile: join(folder, 'pg-password') });
  const url = new URL(embedded.url);
  url.pathname = '/postgres';
  adminUrl = url.toString();
  stopEmbedded = () => embedded.stop();
}
const db = await createBenchDatabase(adminUrl, 4);
const governor = await createGovernor(loadGovernorConfig({ DATABASE_URL: db.url, PORT: '0', PAYBOUND_ADMIN_TOKEN: ROOT }), createLogger('export-bench', 'warn'));
try {
  const seedStarted = performance.now();
  await db.pool.query(`INSERT INTO sessions_view (session_id, org_id, agent_id, team_id, limit_micros, status, expires_at, metadata, created_at, updated_at)
    SELECT 'ses_' || a, 'org-export', 'agent-' || a, 'team-' || (a % 10), 1000000000, 'open', '2027-01-01', '{}', '2026-01-01', '2026-01-01' FROM generate_series(0, 99) AS a`);
  await db.pool.query(
    `INSERT INTO payments_view (intent_id, org_id, session_id, agent_id, status, amount_micros, amount_atomic, asset, network, pay_to, resource, transaction, payer, created_at, updated_at)
     SELECT 'pay_' || lpad(i::text, 9, '0'), 'org-export', 'ses_' || (i % 100), 'agent-' || (i % 100), 'settled', 10000, 10000,
       '0x5FbDB2315678afecb367f032d93F642f64180aa3', 'eip155:31337', '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
       'https://api.example.com/data/' || (i % 1000) || '?q=' || i, '0x' || md5(i::text) || md5((i + 1)::text), '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
       timestamptz '2026-06-01' + i * interval '10 milliseconds', timestamptz '2026-06-01' + i * interval '10 milliseconds'
     FROM generate_series(1, $1) AS i`,
    [rows],
  );
  await db.pool.query('ANALYZE payments_view');
  console.log(`seeded ${rows} payments in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s (SQL, not through the API)`);
  for (const format of ['csv', 'jsonl'] as const) {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }, 20);
    const started = performance.now();
    const response = await fetch(`${governor.url}/admin/v1/exports/payments?orgId=org-export&from=2026-01-01T00:00:00Z&to=2027-01-01T00:00:00Z&format=${format}`, {
      headers: { authorization: `Bearer ${ROOT}` },
    });
    let bytes = 0;
    let newlines = 0;
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      for (const byte of chunk) if (byte === 10) newlines += 1;
    }
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    const lines = format === 'csv' ? newlines - 1 : newlines;
    console.log(
      `${format}: ${lines} rows, ${(bytes / 2 ** 20).toFixed(0)} MiB in ${seconds.toFixed(1)} s (${Math.round(lines / seconds)} rows/s); RSS ${(rssBefore / 2 ** 20).toFixed(0)} MiB before, peak ${(rssPeak / 2 ** 20).toFixed(0)} MiB (+${((rssPeak - rssBefore) / 2 ** 20).toFixed(0)} MiB)`,
    );
    if (response.status !== 200 || lines !== rows) process.exitCode = 1;
  }
} finally {
  await governor.close();
  await db.drop();
  await stopEmbedded();
}
