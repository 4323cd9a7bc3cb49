import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';

import { readChainLogs, runChecker, type CheckResult } from './check/checker.js';
import { FaultInjector, planFaults, type FaultCounts, type FaultTimings, type FiredFault, type PlannedFault } from './faults.js';
import { repoRoot } from './repo.js';
import { startTopology, TOPIC, type Topology } from './topology.js';
import { Workload, type WorkloadFigures } from './workload.js';

// One chaos run: start the deployment, set up its tenants, run the seeded workload while the
// seeded faults strike, let the system settle (the worker reconciles; chain time is moved past
// every authorization's validBefore instead of waiting), then judge from the outside.

export interface ChaosOptions {
  seed: number;
  intents: number;
  orgs: number;
  concurrency: number;
  /** The workload stops issuing requests after this long, whatever the count. */
  durationMaxMs: number;
  faults: FaultCounts;
  timings: FaultTimings;
  governors: number;
  workers: number;
  /** 3 as deployed (replication factor 3, min.insync.replicas 2); 1 for the short run in `npm test`. */
  kafkaNodes: number;
  fetchTimeoutMs: number;
  /** Where processes keep data and logs; removed after a run without violations unless `keepData`. */
  dataDir: string;
  keepData: boolean;
}

export interface ChaosReport {
  options: ChaosOptions;
  startedAt: string;
  phasesMs: { startup: number; setup: number; workload: number; settle: number; check: number; total: number };
  workload: WorkloadFigures;
  planned: PlannedFault[];
  fired: FiredFault[];
  unfired: PlannedFault[];
  faultErrors: string[];
  restarts: Record<string, number>;
  proxyConnections: Record<string, number>;
  settle: { unresolvedBeforeWarp: number; paidButOpenBeforeWarp: number; unresolvedAfter: number; chainTimeMovedSec: number; waitedMs: number };
  check: CheckResult;
  dataDir: string;
}

// The workers settle and release at their own pace; the run waits as long as they make progress.
const SETTLE_TIMEOUT_MS = 4 * 60 * 60_000;
const SETTLE_STALL_MS = 5 * 60_000;
const TOPIC_CATCH_UP_TIMEOUT_MS = 5 * 60_000;

export function defaultTimings(): FaultTimings {
  return { freezeMinMs: 5_000, freezeMaxMs: 20_000, kafkaStopMs: 60_000, kafkaKillDownMs: 30_000, restartDelayMaxMs: 4_000, partitionMinMs: 3_000, partitionMaxMs: 15_000 };
}

/** `wrapUp` aborted: the workload stops issuing requests, and the run settles, checks and reports what it did. */
export async function runChaos(options: ChaosOptions, log: (line: string) => void, wrapUp?: AbortSignal): Promise<ChaosReport> {
  const startedAt = Date.now();
  const phase = (since: number): number => Date.now() - since;
  const topology = await startTopology(
    { dataDir: options.dataDir, governorCount: options.governors, workerCount: options.workers, kafkaNodes: options.kafkaNodes, fetchTimeoutMs: options.fetchTimeoutMs, payerFundsAtomic: 10n ** 15n, keepData: options.keepData },
    log,
  );
  const startupMs = phase(startedAt);
  let keep = options.keepData;
  try {
    const setupAt = Date.now();
    const workload = new Workload(
      { seed: options.seed, intents: options.intents, orgs: options.orgs, concurrency: options.concurrency, deadlineMs: options.durationMaxMs },
      { governorUrl: topology.proxy.url, adminToken: topology.adminToken, sellers: topology.sellers },
      log,
    );
    await workload.setUp();
    const setupMs = phase(setupAt);

    const planned = planFaults(options.seed, options.intents, options.faults, options.timings, { governors: options.governors, workers: options.workers, kafkaNodes: options.kafkaNodes });
    const injector = new FaultInjector(planned, { ...topology, relayLeader: () => topology.relayLeader() }, () => workload.issued, log);
    const workloadAt = Date.now();
    wrapUp?.addEventListener('abort', () => {
      log('wrapping up: no new requests; settling and checking what was done');
      workload.stop();
    });
    injector.start();
    let lastReport = 0;
    await workload.run((issued) => {
      if (issued - lastReport >= Math.max(100, Math.floor(options.intents / 20))) {
        lastReport = issued;
        log(`workload: ${issued} of ${options.intents} payment requests issued, ${injector.fired.length} faults so far (${Math.round((Date.now() - workloadAt) / 1000)} s)`);
      }
    });
    const unfired = await injector.finish();
    const workloadMs = phase(workloadAt);
    log(`workload done: ${workload.figures.issued} requests in ${Math.round(workloadMs / 1000)} s; ${injector.fired.length} faults fired, ${unfired.length} not reached`);

    const settleAt = Date.now();
    const settle = await settleDown(topology, log);
    const settleMs = phase(settleAt);

    // Nothing may write while the evidence is read: the worker and governors stop (gracefully).
    for (const worker of topology.workers) await worker.stop();
    for (const governor of topology.governors) await governor.stop();

    const checkAt = Date.now();
    const check = await runChecker(
      {
        databaseUrl: topology.postgres.url,
        adminUrl: topology.postgres.adminUrl,
        publicClient: topology.publicClient,
        token: topology.token,
        payer: topology.payer,
        kafkaBrokers: topology.kafka.brokers,
        topic: TOPIC,
        records: workload.records,
      },
      log,
    );
    if (check.violations.total > 0) keep = true;
    const restarts: Record<string, number> = {};
    for (const managed of [...topology.governors, ...topology.workers, ...topology.kafka.nodes.map((n) => n.process), ...[...topology.sellers.values()].map((s) => s.process)]) {
      restarts[managed.spec.name] = managed.startCount - 1;
    }
    return {
      options,
      startedAt: new Date(startedAt).toISOString(),
      phasesMs: { startup: startupMs, setup: setupMs, workload: workloadMs, settle: settleMs, check: phase(checkAt), total: phase(startedAt) },
      workload: workload.figures,
      planned,
      fired: injector.fired,
      unfired,
      faultErrors: injector.errors,
      restarts,
      proxyConnections: Object.fromEntries(topology.proxy.connectionsByBackend),
      settle: { ...settle, waitedMs: settleMs },
      check,
      dataDir: options.dataDir,
    };
  } catch (error) {
    keep = true;
    throw error;
  } finally {
    await topology.stop();
    if (!keep) rmSync(options.dataDir, { recursive: true, force: true });
  }
}

/**
 * Lets the system finish what the workload started: every process up, the outbox published,
 * then chain time moved past every authorization's validBefore so that the worker can settle
 * or release every payment from chain evidence; waits until no reservation is left open (or
 * progress stalls).
 */
async function settleDown(topology: Topology, log: (line: string) => void): Promise<{ unresolvedBeforeWarp: number; paidButOpenBeforeWarp: number; unresolvedAfter: number; chainTimeMovedSec: number }> {
  for (const managed of [...topology.governors, ...topology.workers, ...[...topology.sellers.values()].map((s) => s.process)]) {
    if (!managed.running) {
      log(`settle: ${managed.spec.name} is down; starting it`);
      await managed.start();
    }
  }
  const pool = new pg.Pool({ connectionString: topology.postgres.url, max: 2, application_name: 'chaos-settle' });
  try {
    // The late seller's settlements land a few seconds after its buyers gave up.
    await new Promise((r) => setTimeout(r, 15_000));
    const unresolvedBeforeWarp = await unresolvedCount(pool);
    // How far the workers' reconciliation lags: payments already on chain that the ledger has not settled yet.
    const authorizations = (await readChainLogs(topology.publicClient, topology.token)).filter((l) => l.kind === 'AuthorizationUsed').length;
    const settledCount = Number((await pool.query<{ count: string }>(`SELECT count(*) FROM events WHERE type = 'Settled'`)).rows[0]?.count ?? 0);
    const paidButOpenBeforeWarp = Math.max(0, authorizations - settledCount);
    const maxValidBefore = await pool.query<{ at: Date | null }>(`SELECT max((data->>'validBefore')::timestamptz) AS at FROM events WHERE type IN ('Reserved', 'PaymentSigned')`);
    const block = await topology.publicClient.getBlock();
    const latestSec = maxValidBefore.rows[0]?.at === null || maxValidBefore.rows[0]?.at === undefined ? 0 : Math.ceil(maxValidBefore.rows[0].at.getTime() / 1000);
    const chainTimeMovedSec = Math.max(0, latestSec - Number(block.timestamp)) + 120;
    log(`settle: ${unresolvedBeforeWarp} reservations open, ${paidButOpenBeforeWarp} of them paid on chain and not yet settled; moving chain time ${chainTimeMovedSec} s past the last validBefore`);
    await topology.publicClient.request({ method: 'evm_increaseTime' as never, params: [chainTimeMovedSec] as never });
    await topology.publicClient.request({ method: 'evm_mine' as never, params: [] as never });

    const deadline = Date.now() + SETTLE_TIMEOUT_MS;
    let unresolved = await unresolvedCount(pool);
    let lastProgressAt = Date.now();
    let lastLogAt = 0;
    while (unresolved > 0 && Date.now() < deadline && Date.now() - lastProgressAt < SETTLE_STALL_MS) {
      await new Promise((r) => setTimeout(r, 2_000));
      const now = await unresolvedCount(pool);
      if (now < unresolved) lastProgressAt = Date.now();
      if (now !== unresolved && Date.now() - lastLogAt >= 30_000) {
        lastLogAt = Date.now();
        log(`settle: ${now} reservations still open`);
      }
      unresolved = now;
    }
    await waitForTopic(pool, topology.kafka.brokers, log);
    return { unresolvedBeforeWarp, paidButOpenBeforeWarp, unresolvedAfter: unresolved, chainTimeMovedSec };
  } finally {
    await pool.end();
  }
}

/** Intents reserved (or held for approval) with neither a Settled nor a Refunded event. */
async function unresolvedCount(pool: pg.Pool): Promise<number> {
  const result = await pool.query<{ count: string }>(
    `SELECT count(*) FROM (SELECT DISTINCT data->>'intentId' AS intent FROM events WHERE type IN ('Reserved', 'ApprovalRequested')) r
     LEFT JOIN (SELECT DISTINCT data->>'intentId' AS intent FROM events WHERE type IN ('Settled', 'Refunded')) c USING (intent)
     WHERE c.intent IS NULL`,
  );
  return Number(result.rows[0]?.count ?? 0);
}

/**
 * Waits until the relay has published what it will: the topic's message count stops moving
 * for a while, and holds at least one message per event (or has not moved for long, when
 * events are missing from it: the checker then reports them).
 */
async function waitForTopic(pool: pg.Pool, brokers: string, log: (line: string) => void): Promise<void> {
  const admin = new Kafka({ clientId: 'chaos-settle', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + TOPIC_CATCH_UP_TIMEOUT_MS;
    let stableSince = Date.now();
    let lastMessages = -1;
    for (;;) {
      const events = Number((await pool.query<{ count: string }>('SELECT count(*) FROM events')).rows[0]?.count ?? 0);
      const offsets = await admin.fetchTopicOffsets(TOPIC).catch(() => []);
      const messages = offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0);
      if (messages !== lastMessages) stableSince = Date.now();
      lastMessages = messages;
      const stableMs = Date.now() - stableSince;
      if ((messages >= events && stableMs >= 5_000) || stableMs >= 30_000) {
        if (messages < events) log(`settle: the topic holds ${messages} messages for ${events} events and has stopped growing`);
        return;
      }
      if (Date.now() > deadline) {
        log(`settle: the topic holds ${messages} messages for ${events} events after ${TOPIC_CATCH_UP_TIMEOUT_MS} ms; checking anyway`);
        return;
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
  } finally {
    await admin.disconnect();
  }
}

export function defaultDataDir(seed: number): string {
  return join(repoRoot, '.cache', 'chaos', `run-${seed}-${Date.now()}`);
}
