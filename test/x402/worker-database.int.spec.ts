import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnWorker, type WorkerProcess } from '../support/worker-process.js';

const METRICS_TOKEN = 'worker-metrics-token-for-tests';

describe('the settlement worker: a database that stalls fails its work fast; metrics behind a token', () => {
  let db: TestDatabase;
  let dir: string;
  const key = generatePrivateKey();
  const workers: WorkerProcess[] = [];
  let baseEnv: Record<string, string>;

  beforeAll(async () => {
    db = await freshDatabase('worker_database');
    dir = await mkdtemp(join(tmpdir(), 'paybound-worker-db-'));
    await writeFile(join(dir, 'key'), key, { mode: 0o600 });
    baseEnv = { DATABASE_URL: db.url, PAYBOUND_DEV_PRIVATE_KEY_FILE: join(dir, 'key') };
  });
  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await db?.drop();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('gives up on a stalled statement after its timeout, says so, and goes on once the database answers', async () => {
    const worker = await spawnWorker({ ...baseEnv, PAYBOUND_DB_STATEMENT_TIMEOUT_MS: '1000', PAYBOUND_WORKER_POLL_FALLBACK_MS: '200' });
    workers.push(worker);
    const sessions = await db.pool.query<{ application_name: string }>("SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE 'paybound-settlement-worker%'");
    expect(sessions.rows.map((r) => r.application_name)).toContain('paybound-settlement-worker');
    // The log the worker reads is locked, as a stalled database would hold it.
    const holder = await db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
      // Both readers of the log give up (the reservations source and the reconciler's feed),
      // in whichever order; neither hangs.
      const startedMs = Date.now();
      const gaveUp = () => ['reading reservations failed; retrying', 'reading open payments from the log failed'].every((line) => worker.output().includes(line));
      for (const deadline = startedMs + 10_000; !gaveUp(); ) {
        if (Date.now() > deadline) throw new Error(`the worker's reads did not give up within 10 s:\n${worker.output().slice(-2_000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(Date.now() - startedMs).toBeLessThan(5_000);
      expect(worker.output()).toContain('canceling statement due to statement timeout');
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    // It carries on by itself: nothing is left waiting on the database.
    for (const deadline = Date.now() + 10_000; ; ) {
      const waiting = await db.pool.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'paybound-settlement-worker' AND wait_event_type = 'Lock'");
      if (waiting.rowCount === 0) break;
      if (Date.now() > deadline) throw new Error('the worker still waits on a lock');
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('serves no /metrics without a token unless explicitly opened; with one, only to its bearer, and no key material', async () => {
    const closed = await spawnWorker(baseEnv);
    workers.push(closed);
    expect(closed.metricsUrl).toBe('');
    expect(closed.output()).toContain('serving no /metrics');

    const guarded = await spawnWorker({ ...baseEnv, PAYBOUND_METRICS_TOKEN: METRICS_TOKEN });
    workers.push(guarded);
    expect(guarded.metricsUrl).toMatch(/^http:/);
    expect((await fetch(guarded.metricsUrl)).status).toBe(401);
    expect((await fetch(guarded.metricsUrl, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status).toBe(401);
    const scraped = await fetch(guarded.metricsUrl, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    expect(scraped.status).toBe(200);
    const text = await scraped.text();
    expect(text).toContain('paybound_worker_signing_duration_seconds');
    expect(text.toLowerCase()).not.toContain(key.slice(2).toLowerCase());

    const opened = await spawnWorker({ ...baseEnv, PAYBOUND_METRICS_OPEN: 'true' });
    workers.push(opened);
    expect((await fetch(opened.metricsUrl)).status).toBe(200);
  });
});
