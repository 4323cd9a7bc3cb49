import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { repoRoot } from './processes.js';

// What the paid bench needs before it starts anything, each with how to get it: the build,
// the anvil binary, and the PostgreSQL the bench's plan found or started for it.

export interface BenchPostgres {
  adminUrl: string;
  /** Where it came from, for the report. */
  source: string;
  stop(): Promise<void>;
}

/** An error that says what is missing and how to get it; its stack would only repeat where the check is. */
function missingPrerequisite(message: string): Error {
  const error = new Error(`the paid bench cannot start: ${message}`);
  error.stack = error.message;
  return error;
}

const BUILT_ENTRIES = ['dist/apps/governor/main.js', 'dist/apps/settlement-worker/main.js', 'dist/bench/paid-kit-process.js', 'dist/libs/devnet/index.js'];

/** Throws with what is missing and how to get it; returns the PostgreSQL to use. */
export async function checkPaidPrerequisites(adminUrl: string): Promise<BenchPostgres> {
  const missing: string[] = [];
  for (const entry of BUILT_ENTRIES) {
    if (!existsSync(join(repoRoot, entry))) missing.push(`${entry} is not built: run \`npm run build\` (\`npm run bench\` builds first)`);
  }
  const anvil = join(repoRoot, 'node_modules', '.bin', 'anvil');
  try {
    execFileSync(anvil, ['--version'], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    missing.push(`the anvil binary (${anvil}) does not run: run \`npm ci\`, which installs it from @foundry-rs/anvil (its install script is allowed in package.json's allowScripts)`);
  }
  if (missing.length > 0) throw missingPrerequisite(`\n${missing.map((m) => `  - ${m}`).join('\n')}`);

  if (!(await canConnect(adminUrl))) throw missingPrerequisite(`the PostgreSQL at ${redact(adminUrl)} does not accept connections; start it, or set BENCH_DATABASE_URL to another server's admin URL`);
  return { adminUrl, source: `the PostgreSQL at ${redact(adminUrl)}`, stop: () => Promise.resolve() };
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password !== '') parsed.password = '***';
  return parsed.toString();
}
