import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../apps/paybound/embedded-postgres.js';
import { ensureKafkaInstalled, javaProblem } from '../test/support/kafka-broker.js';
import { freePort } from '../libs/platform/processes.js';
import { DEFAULT_ADMIN_URL } from './database.js';
import { repoRoot } from './processes.js';

// What each part of `npm run bench` needs, checked before any part runs, so that a run never
// fails after minutes of work for want of something it could have known about at the start.
// A part named in BENCH_ONLY that cannot run stops the bench at once with what to do; a part
// that runs by default is skipped with a line saying why.

export type Part = 'domain' | 'decision' | 'http' | 'relay' | 'paid';
type Need = 'database' | 'anvil' | 'kafka';

const NEEDS: Record<Part, readonly Need[]> = {
  domain: [],
  decision: ['database'],
  http: ['database', 'anvil'],
  relay: ['database', 'kafka'],
  paid: ['database', 'anvil'],
};

const CONNECT_TIMEOUT_MS = 3_000;

export interface BenchPlan {
  /** The parts that will run, in the order asked. */
  run: Part[];
  skipped: { part: Part; why: string }[];
  /** The server's admin URL, when a part needs one. */
  adminUrl: string;
  /** Stops the embedded database this plan started, if it started one; after the bench's own cleanup. */
  stop: () => Promise<void>;
}

export class PrerequisiteError extends Error {}

async function connectProblem(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function anvilProblem(): string | undefined {
  const probe = spawnSync(join(repoRoot, 'node_modules', '.bin', 'anvil'), ['--version'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status === 0) return undefined;
  return `anvil (the local chain, from the npm package @foundry-rs/anvil) does not run (${probe.error?.message ?? `exit ${probe.status}`}): run npm ci; npm runs its install script because package.json's allowScripts approves it`;
}

/** BENCH_DATABASE_URL, else a server on 127.0.0.1:5432, else an embedded PostgreSQL in .cache/bench-pg. */
async function database(adminUrlSetting: string | undefined): Promise<{ adminUrl: string; stop: () => Promise<void> } | { problem: string }> {
  const adminUrl = adminUrlSetting ?? DEFAULT_ADMIN_URL;
  const unreachable = await connectProblem(adminUrl);
  if (unreachable === undefined) return { adminUrl, stop: () => Promise.resolve() };
  if (adminUrlSetting !== undefined) {
    return { problem: `BENCH_DATABASE_URL cannot be reached (${unreachable}): start that server, or unset BENCH_DATABASE_URL to use one on 127.0.0.1:5432 or an embedded one` };
  }
  const folder = join(repoRoot, '.cache', 'bench-pg');
  console.log(`bench: no PostgreSQL at 127.0.0.1:5432 (${unreachable}); starting an embedded one in .cache/bench-pg (durable commits, as the bench requires; set BENCH_DATABASE_URL to measure another server)`);
  try {
    const embedded = await startEmbeddedPostgres({ dataDir: join(folder, 'pg'), port: await freePort(), logFile: join(folder, 'postgres.log'), passwordFile: join(folder, 'pg-password') });
    const url = new URL(embedded.url);
    url.pathname = '/postgres';
    return { adminUrl: url.toString(), stop: () => embedded.stop() };
  } catch (error) {
    return { problem: `no PostgreSQL at 127.0.0.1:5432, and an embedded one did not start (${(error as Error).message.split('\n')[0]}): set BENCH_DATABASE_URL to a server's admin URL` };
  }
}

/**
 * Decides which parts can run, after getting what can be had: the database and the Kafka
 * jars (installed through Maven when Java and Maven are there). The quick checks come first,
 * so that a part named in BENCH_ONLY that cannot run fails before anything is started.
 */
export async function planBench(parts: readonly Part[], explicit: boolean, adminUrlSetting: string | undefined): Promise<BenchPlan> {
  const needs = new Set(parts.flatMap((part) => NEEDS[part]));
  const problems = new Map<Need, string>();
  const note = (need: Need, problem: string | undefined): void => {
    if (problem !== undefined) problems.set(need, problem);
  };
  const doomed = (): boolean => explicit && parts.some((part) => NEEDS[part].some((need) => problems.has(need)));

  if (needs.has('anvil')) note('anvil', anvilProblem());
  if (needs.has('kafka')) note('kafka', javaProblem());
  let adminUrl = adminUrlSetting ?? DEFAULT_ADMIN_URL;
  let stop = (): Promise<void> => Promise.resolve();
  if (needs.has('database') && !doomed()) {
    const found = await database(adminUrlSetting);
    if ('problem' in found) note('database', found.problem);
    else ({ adminUrl, stop } = found);
  }
  if (needs.has('kafka') && !problems.has('kafka') && !doomed()) {
    try {
      ensureKafkaInstalled((line) => console.log(`bench: ${line}`));
    } catch (error) {
      note('kafka', (error as Error).message);
    }
  }

  const run: Part[] = [];
  const skipped: { part: Part; why: string }[] = [];
  for (const part of parts) {
    const why = NEEDS[part].map((need) => problems.get(need)).filter((problem) => problem !== undefined);
    if (why.length === 0) run.push(part);
    else skipped.push({ part, why: why.join('; ') });
  }
  if (explicit && skipped.length > 0) {
    await stop();
    throw new PrerequisiteError(`npm run bench cannot run what BENCH_ONLY asks for:\n${skipped.map((s) => `  ${s.part}: ${s.why}`).join('\n')}`);
  }
  for (const { part, why } of skipped) console.log(`bench: skipping the ${part} part: ${why}`);
  return { run, skipped, adminUrl, stop };
}
