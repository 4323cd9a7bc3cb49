import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { x402Client } from '@x402/core/client';
import { decodePaymentRequiredHeader, decodePaymentResponseHeader, decodePaymentSignatureHeader } from '@x402/core/http';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { wrapFetchWithPayment } from '@x402/fetch';
import { privateKeyToAccount } from 'viem/accounts';
import { rpcEnvName } from '../apps/settlement-worker/config.js';
import { defaultMigrationsDirectory, migrate } from '../libs/eventstore/migrate.js';
import { call, seedAgent } from '../test/support/api-client.js';
import { registerCleanup } from './cleanup.js';
import { assertDurableCommits, createBenchDatabase } from './database.js';
import { descendantsOf, parentOf, watchCpu, type ProcessGroups } from './paid-cpu.js';
import { startKitProcess, type KitProcess } from './paid-kit.js';
import { answerToError, countOf, runPaidLoop, type Answer, type LoopResult, type PaidRequest } from './paid-load.js';
import { checkPaidPrerequisites } from './paid-prerequisites.js';
import { startSpanReceiver, type SpanReceiver } from './paid-span-receiver.js';
import { exportingTo, newTraceparent, readTrace, STAGE_BOUNDS, STAGES, type PaidFlow, type Stage, type StageBreakdown } from './paid-spans.js';
import { startGovernorProcess, startWorkerProcess, type BenchProcess } from './processes.js';
import { formatTable, percentileMs } from './stats.js';

// The paid path end to end (issue #21): what an agent waits for when Paybound pays an x402
// paywall for it, against paying the same seller directly with the official client.
//  1. A/B latency of one paid fetch, alternating: Paybound's pay-and-fetch
//     (POST /v1/sessions/{id}/fetch; governor and settlement worker as separate processes)
//     and @x402/fetch with the same payer's key, against one @x402/express seller and the
//     official facilitator on anvil.
//  2. Throughput, closed loop at several connection counts: sign-only
//     (POST /v1/sessions/{id}/payments), pay-and-fetch, and @x402/fetch direct.
//  3. Where the governed payment's time goes, stage by stage, from the spans the governor
//     and the worker export (bench/paid-spans.ts), at one request at a time and under load.

export interface PaidBenchConfig {
  /** The PostgreSQL the bench's plan found or started (bench/prerequisites.ts). */
  adminUrl: string;
  samples: number;
  warmUpSamples: number;
  connections: number[];
  seconds: number;
  traceEvery: number;
  verifySample: number;
}

const ADMIN_TOKEN = 'bench-admin-token';
/** The bench's own governor and worker share it; not a secret. */
const WORKER_TOKEN = 'bench-worker-token-not-a-secret';
/** $0.001 with the token's 6 decimals: a cheap API call. */
const PRICE_ATOMIC = '1000';
const REQUEST_TIMEOUT_MS = 30_000;
const WARM_UP_SECONDS = 1;
/** How long to wait for the spans of a run once no new complete trace has arrived. */
const SPAN_QUIET_MS = 5_000;
const SPAN_WAIT_MAX_MS = 60_000;
const ANSWER_BODY_CHARS_MAX = 64 * 1024;

export function readPaidConfig(adminUrl: string): PaidBenchConfig {
  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = process.env[name];
    const value = raw === undefined || raw.trim() === '' ? fallback : Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`${name} must be an integer in ${min}..${max}, got ${raw}`);
    return value;
  };
  const connections = (process.env.BENCH_PAID_CONNECTIONS ?? '4,16,64,256').split(',').map((part) => Number(part.trim()));
  if (connections.length === 0 || connections.length > 6 || connections.some((c) => !Number.isInteger(c) || c < 1 || c > 1_024)) {
    throw new Error('BENCH_PAID_CONNECTIONS must be 1 to 6 integers in 1..1024, comma-separated');
  }
  return {
    adminUrl,
    samples: integer('BENCH_PAID_SAMPLES', 30, 1, 10_000),
    warmUpSamples: integer('BENCH_PAID_WARMUP', 5, 0, 1_000),
    connections,
    seconds: integer('BENCH_PAID_SECONDS', 5, 1, 120),
    traceEvery: integer('BENCH_PAID_TRACE_EVERY', 1, 1, 1_000_000),
    verifySample: integer('BENCH_PAID_VERIFY_SAMPLE', 10, 0, 1_000),
  };
}

type Fail = (label: string, message: string) => void;

interface LatencyFigures {
  count: number;
  p50Ms: number;
  p90Ms: number;
  maxMs: number;
}

export interface StageFigures {
  /** Complete traces the figures come from. */
  traces: number;
  incomplete: number;
  byStage: Map<Stage | 'server' | 'transport' | 'total' | 'outcomeDecision', Figures>;
}

interface DirectTiming {
  unpaidMs: number;
  paidMs: number;
  totalMs: number;
}

type Figures = { p50Ms: number; p99Ms: number; negative: number };

/** The direct client's calls: the unpaid one, the paid one, and the rest (reading the offer, signing, the body). */
export interface DirectFigures {
  count: number;
  unpaid?: Figures;
  paid?: Figures;
  rest?: Figures;
}

export interface ThroughputRow {
  mode: 'sign-only' | 'pay-and-fetch' | 'direct @x402/fetch';
  connections: number;
  loop: LoopResult;
  /**
   * Payments that landed on chain during the run (the payee's balance over the price). More
   * than the payments that passed and the late ones means something paid twice; a late
   * payment of the warm-up landing in the run would show too, which is why the check is
   * over the whole part.
   */
  settledOnChain?: number;
  /** Direct runs: the client's calls, timed. */
  directCalls?: DirectFigures;
  /** CPU used by each process during the run, per answered payment. */
  cpuMsPerPayment: Record<string, number>;
}

export interface PaidReport {
  postgres: string;
  /** The machine's 1-minute load average when the part started and when it ended. */
  loadAverage: { start: number; end: number };
  abSamples: { through: number[]; direct: number[] };
  abStages: StageFigures;
  abDirect: DirectFigures;
  throughput: ThroughputRow[];
  /** Stage figures under load, by flow and connection count. */
  loadStages: { flow: PaidFlow; connections: number; figures: StageFigures }[];
  verified: { checked: number; valid: number; failures: string[] };
  onChain: { expectedAtomic: bigint; receivedAtomic: bigint };
  elapsedMs: number;
}

/** Runs the paid part; `fail` records a failed check. */
export async function runPaidBench(config: PaidBenchConfig, fail: Fail): Promise<PaidReport> {
  const startedAtMs = performance.now();
  const loadAverageAtStart = os.loadavg()[0] ?? 0;
  const postgres = await checkPaidPrerequisites(config.adminUrl);
  const stopPostgres = registerCleanup('bench PostgreSQL', () => postgres.stop());
  try {
    console.log(
      `\npaid bench: PostgreSQL from ${postgres.source}; A/B ${config.samples} each after ${config.warmUpSamples} warm-up; ` +
        `throughput ${config.seconds} s per run at ${config.connections.join('/')} connections; 1 in ${config.traceEvery} requests traced under load`,
    );
    const receiver = await startSpanReceiver();
    const stopReceiver = registerCleanup('OTLP receiver', () => receiver.stop());
    try {
      const kitStartedAt = Date.now();
      const kit = await startKitProcess(PRICE_ATOMIC);
      const stopKit = registerCleanup(`x402 kit pid ${kit.pid}`, () => kit.stop());
      console.log(`  x402 kit up in ${((Date.now() - kitStartedAt) / 1_000).toFixed(1)} s (pid ${kit.pid}, anvil ${kit.rpcUrl}, seller ${kit.sellerDataUrl})`);
      try {
        const report = await runAgainstKit(config, postgres.adminUrl, kit, receiver, fail);
        return { ...report, postgres: postgres.source, loadAverage: { start: loadAverageAtStart, end: os.loadavg()[0] ?? 0 }, elapsedMs: performance.now() - startedAtMs };
      } finally {
        await stopKit();
      }
    } finally {
      await stopReceiver();
    }
  } finally {
    await stopPostgres();
  }
}

interface Stack {
  governor: BenchProcess;
  worker: BenchProcess;
  /** The PostgreSQL server's postmaster, when it runs on this machine and /proc shows it. */
  postmasterPid: number | undefined;
  agentKey: string;
  openSession(): Promise<string>;
  stop(): Promise<void>;
}

/** A fresh database, a governor and a settlement worker process exporting their spans, and one funded agent. */
async function startStack(adminUrl: string, kit: KitProcess, receiver: SpanReceiver, orgId: string): Promise<Stack> {
  const database = await createBenchDatabase(adminUrl, 2);
  const dropDatabase = registerCleanup(`database ${database.name}`, () => database.drop());
  const stops: (() => Promise<void>)[] = [dropDatabase];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s();
  };
  try {
    await assertDurableCommits(database.pool);
    await migrate(database.pool, defaultMigrationsDirectory());
    const backend = await database.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const postmasterPid = parentOf(backend.rows[0]?.pid ?? 0);
    const governor = await startGovernorProcess({
      DATABASE_URL: database.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN_TOKEN,
      PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
      PAYBOUND_SIGN_WAIT_MS: '10000',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
      // The kit's seller listens on loopback.
      PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
      LOG_LEVEL: 'warn',
      ...exportingTo(receiver),
    });
    stops.push(registerCleanup(`governor pid ${governor.pid}`, () => governor.stop()));
    const worker = await startWorkerProcess({
      DATABASE_URL: database.url,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
      PAYBOUND_DEV_PRIVATE_KEY: kit.payerPrivateKey,
      // As in production: the governor decides the worker's commands, so each org has one writer.
      PAYBOUND_GOVERNOR_URL: governor.url,
      PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
      ...exportingTo(receiver),
    });
    stops.push(registerCleanup(`settlement worker pid ${worker.pid}`, () => worker.stop()));
    const agentKey = await seedAgent(governor.url, ADMIN_TOKEN, { orgId, agentId: `${orgId}-agent` }, { org: '1000000.00' });
    const openSession = async (): Promise<string> => {
      const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '100000.00', expiresInMinutes: 120 } });
      if (session.status !== 201) throw new Error(`open session: ${session.status} ${JSON.stringify(session.body)}`);
      return session.body.id;
    };
    return { governor, worker, postmasterPid, agentKey, openSession, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function runAgainstKit(config: PaidBenchConfig, adminUrl: string, kit: KitProcess, receiver: SpanReceiver, fail: Fail): Promise<Omit<PaidReport, 'postgres' | 'loadAverage' | 'elapsedMs'>> {
  // The seller's own offer, as its 402 makes it: sign-only pays exactly this, and the
  // facilitator checks sign-only's headers against its requirement.
  const unpaid = await fetch(kit.sellerDataUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  await unpaid.arrayBuffer();
  const paymentRequired = unpaid.headers.get('PAYMENT-REQUIRED');
  if (unpaid.status !== 402 || paymentRequired === null) throw new Error(`the kit's seller answered ${unpaid.status} without PAYMENT-REQUIRED`);
  const sellerRequirement = decodePaymentRequiredHeader(paymentRequired).accepts[0];
  if (sellerRequirement === undefined) throw new Error("the kit's seller offers nothing");

  // The official client with the same payer's key as the worker: one wallet pays both ways.
  // Its EIP-3009 nonces are random and Paybound's are derived from the intent, so the two
  // never collide; the facilitator's transactions share one account (viem's nonce manager).
  const client = new x402Client();
  registerExactEvmScheme(client, { signer: privateKeyToAccount(kit.payerPrivateKey) });
  // TestUSD is not one of the SDK's default assets, which it refuses unless opted in.
  client.setSpendControls({ allowedAssets: [{ network: kit.network as `${string}:${string}`, asset: kit.token }] });

  // Every answer that passes was paid on chain once; the seller's payee must get exactly that.
  const receivedBefore = await kit.balanceOf(kit.payTo);
  let paidCount = 0n;
  let lateCount = 0n;
  const counted =
    (request: PaidRequest): PaidRequest =>
    async (index, trace) => {
      let answer: Answer;
      try {
        answer = await request(index, trace);
      } catch (error) {
        answer = answerToError(error);
      }
      if (answer.kind === 'ok') paidCount += 1n;
      if (answer.kind === 'late') lateCount += 1n;
      return answer;
    };
  // The direct client's two calls to the seller, timed in the fetch it is given (to the
  // status and headers, as Paybound's request spans are), so the seller's own time can be
  // told from the client's on both paths. Collected while a measured run sets the list.
  let directTimings: DirectTiming[] | undefined;
  const direct = counted(async () => {
    const timing = { unpaidMs: 0, paidMs: 0 };
    const timedFetch: typeof fetch = async (input, init) => {
      const request = new Request(input, init);
      const sentAtMs = performance.now();
      const response = await fetch(request);
      const elapsedMs = performance.now() - sentAtMs;
      if (request.headers.has('PAYMENT-SIGNATURE')) timing.paidMs += elapsedMs;
      else timing.unpaidMs += elapsedMs;
      return response;
    };
    const sentAtMs = performance.now();
    const response = await wrapFetchWithPayment(timedFetch, client)(kit.sellerDataUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const answer = await checkPaidAnswer(response, false);
    if (answer.kind === 'ok') directTimings?.push({ ...timing, totalMs: performance.now() - sentAtMs });
    return answer;
  });
  const timingDirect = async <T>(work: () => Promise<T>): Promise<{ result: T; timings: DirectTiming[] }> => {
    const timings: DirectTiming[] = [];
    directTimings = timings;
    try {
      return { result: await work(), timings };
    } finally {
      directTimings = undefined;
    }
  };

  const throughput: ThroughputRow[] = [];
  const loadStages: PaidReport['loadStages'] = [];
  let abSamples: PaidReport['abSamples'] = { through: [], direct: [] };
  let abStages: StageFigures | undefined;
  let abDirect: DirectFigures | undefined;

  // Pay-and-fetch and the direct client share one governor and worker.
  const fetchStack = await startStack(adminUrl, kit, receiver, 'org-paid-fetch');
  try {
    const through = (sessionId: string): PaidRequest =>
      counted(async (_index, trace) => {
        const response = await fetch(`${fetchStack.governor.url}/v1/sessions/${sessionId}/fetch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${fetchStack.agentKey}`, traceparent: trace.traceparent },
          body: JSON.stringify({ url: kit.sellerDataUrl }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        return checkPaidAnswer(response, true);
      });

    const abSession = await fetchStack.openSession();
    const { result: ab, timings } = await timingDirect(() => runAb(config, through(abSession), direct, fail));
    abSamples = ab.samples;
    // The warm-up's timings are left out, as its latencies are.
    abDirect = directFigures(timings.slice(-config.samples));
    abStages = await collectStages(receiver, 'pay-and-fetch', ab.traced, 'paid A/B stages', fail);
    printAb(abSamples);

    for (const connections of config.connections) {
      const row = await measureLoop('pay-and-fetch', through(await fetchStack.openSession()), connections, config, cpuGroups(fetchStack, kit), fail, kit);
      throughput.push(row);
      loadStages.push({ flow: 'pay-and-fetch', connections, figures: await collectStages(receiver, 'pay-and-fetch', row.loop.traced, `paid pay-and-fetch c=${connections} stages`, fail) });
      const { result: directRow, timings } = await timingDirect(() => measureLoop('direct @x402/fetch', direct, connections, config, cpuGroups(fetchStack, kit), fail, kit));
      // Only the measured run's: its warm-up ran first.
      throughput.push({ ...directRow, directCalls: directFigures(timings.slice(-directRow.loop.ok)) });
    }
  } finally {
    await fetchStack.stop();
  }
  // A late answer may or may not have been paid (the chain decides); nothing else may differ.
  const receivedAtomic = (await kit.balanceOf(kit.payTo)) - receivedBefore;
  const expectedAtomic = paidCount * BigInt(PRICE_ATOMIC);
  if (receivedAtomic < expectedAtomic || receivedAtomic > (paidCount + lateCount) * BigInt(PRICE_ATOMIC)) {
    fail('paid on chain', `the seller's payee received ${receivedAtomic} atomic units for ${paidCount} paid answers and ${lateCount} late ones, at ${PRICE_ATOMIC} each`);
  }

  // Sign-only on a fresh governor and worker, so that the payments the fetch runs left for
  // the worker to reconcile are not part of its load.
  const verified: PaidReport['verified'] = { checked: 0, valid: 0, failures: [] };
  const signStack = await startStack(adminUrl, kit, receiver, 'org-paid-sign');
  try {
    for (const connections of config.connections) {
      const sessionId = await signStack.openSession();
      const sampled: string[] = [];
      const signOnly: PaidRequest = async (index, trace) => {
        const response = await fetch(`${signStack.governor.url}/v1/sessions/${sessionId}/payments`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${signStack.agentKey}`, traceparent: trace.traceparent },
          // A distinct url per request, as distinct calls of an agent would be.
          body: JSON.stringify({ paymentRequired, url: `${kit.sellerDataUrl}?bench=${connections}-${index}` }),
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        const answer = await checkSignOnlyAnswer(response);
        if (answer.kind !== 'ok') return answer;
        if (sampled.length < config.verifySample) sampled.push(answer.header);
        return { kind: 'ok' };
      };
      const row = await measureLoop('sign-only', signOnly, connections, config, cpuGroups(signStack, kit), fail);
      throughput.push(row);
      loadStages.push({ flow: 'sign-only', connections, figures: await collectStages(receiver, 'sign-only', row.loop.traced, `paid sign-only c=${connections} stages`, fail) });
      for (const header of sampled) {
        verified.checked += 1;
        const problem = await verifyWithFacilitator(kit.facilitatorUrl, header, sellerRequirement);
        if (problem === undefined) verified.valid += 1;
        else {
          if (verified.failures.length < 10) verified.failures.push(problem);
          fail(`paid sign-only c=${connections} verify`, problem);
        }
      }
    }
  } finally {
    await signStack.stop();
  }
  if (config.verifySample > 0 && verified.checked === 0) fail('paid sign-only verify', 'no signed header was sampled for the facilitator to verify');
  return { abSamples, abStages: abStages ?? emptyStageFigures(), abDirect: abDirect ?? directFigures([]), throughput, loadStages, verified, onChain: { expectedAtomic, receivedAtomic } };
}

/**
 * One paid fetch at a time, through Paybound and directly, warm-up first. The order within
 * a pair flips each time, so that neither path always runs right after the other's
 * background work (the worker reconciling the payment before).
 */
async function runAb(config: PaidBenchConfig, through: PaidRequest, direct: PaidRequest, fail: Fail): Promise<{ samples: PaidReport['abSamples']; traced: { traceId: string; latencyMs: number }[] }> {
  const once = async (request: PaidRequest, label: string, sampled: boolean): Promise<{ traceId: string; latencyMs: number }> => {
    const trace = newTraceparent(sampled);
    const sentAtMs = performance.now();
    let answer: Answer;
    try {
      answer = await request(0, trace);
    } catch (error) {
      answer = answerToError(error);
    }
    const latencyMs = performance.now() - sentAtMs;
    // One request at a time must always be answered in time.
    if (answer.kind !== 'ok') fail(`paid A/B ${label}`, answer.kind === 'refused' ? `refused: ${answer.code}` : answer.what);
    return { traceId: trace.traceId, latencyMs };
  };
  for (let i = 0; i < config.warmUpSamples; i += 1) {
    await once(through, 'through Paybound, warm-up', false);
    await once(direct, 'direct, warm-up', false);
  }
  const samples: PaidReport['abSamples'] = { through: [], direct: [] };
  const traced: { traceId: string; latencyMs: number }[] = [];
  const runThrough = async (): Promise<void> => {
    const result = await once(through, 'through Paybound', true);
    samples.through.push(result.latencyMs);
    traced.push(result);
  };
  const runDirect = async (): Promise<void> => {
    samples.direct.push((await once(direct, 'direct', false)).latencyMs);
  };
  for (let i = 0; i < config.samples; i += 1) {
    if (i % 2 === 0) {
      await runThrough();
      await runDirect();
    } else {
      await runDirect();
      await runThrough();
    }
  }
  return { samples, traced };
}

function cpuGroups(stack: Stack, kit: KitProcess): ProcessGroups {
  return {
    governor: () => [stack.governor.pid],
    worker: () => [stack.worker.pid],
    'seller+facilitator': () => [kit.pid],
    // anvil runs behind a small node launcher: both are the kit process's descendants.
    anvil: () => descendantsOf(kit.pid),
    postgres: () => (stack.postmasterPid === undefined ? [] : [stack.postmasterPid, ...descendantsOf(stack.postmasterPid)]),
    'bench (load, direct client)': () => [process.pid],
  };
}

/**
 * `kit` is given for the runs that pay the seller: its payee's balance is read after the
 * warm-up and after the run, to count the payments that landed on chain during the run.
 */
async function measureLoop(mode: ThroughputRow['mode'], request: PaidRequest, connections: number, config: PaidBenchConfig, groups: ProcessGroups, fail: Fail, kit?: KitProcess): Promise<ThroughputRow> {
  await runPaidLoop(request, connections, WARM_UP_SECONDS * 1_000, null);
  const receivedBefore = await kit?.balanceOf(kit.payTo);
  const cpu = watchCpu(groups);
  const loop = await runPaidLoop(request, connections, config.seconds * 1_000, config.traceEvery);
  const usedMs = cpu.stop();
  const receivedAfter = await kit?.balanceOf(kit.payTo);
  const settledOnChain = kit === undefined || receivedBefore === undefined || receivedAfter === undefined ? undefined : Number((receivedAfter - receivedBefore) / BigInt(kit.priceAtomic));
  const label = `paid ${mode} c=${connections}`;
  const unexpectedCount = countOf(loop.unexpected);
  if (unexpectedCount > 0) fail(label, `${unexpectedCount} unexpected answers: ${JSON.stringify(loop.unexpected)}`);
  if (countOf(loop.refused) > 0) fail(label, `${countOf(loop.refused)} payments refused, though every budget covers the run: ${JSON.stringify(loop.refused)}`);
  // Nothing answered in time is a measurement (overload), not a wrong answer; nothing at all is a broken run.
  if (loop.ok === 0 && countOf(loop.late) === 0) fail(label, 'no payment passed its checks');
  if (countOf(loop.late) > 0) console.log(`  ${label}: ${countOf(loop.late)} requests not answered in time (overload, not a wrong answer): ${JSON.stringify(loop.late)}`);
  const cpuMsPerPayment = Object.fromEntries(Object.entries(usedMs).map(([name, ms]) => [name, ms / Math.max(1, loop.ok)]));
  const row: ThroughputRow = { mode, connections, loop, cpuMsPerPayment, ...(settledOnChain === undefined ? {} : { settledOnChain }) };
  console.log(`  ${formatThroughputRow(row, undefined).join('  ')}`);
  return row;
}

/** A paid answer of the seller, passed through by Paybound or received by the direct client. */
async function checkPaidAnswer(response: Response, throughPaybound: boolean): Promise<Answer> {
  const text = (await response.text()).slice(0, ANSWER_BODY_CHARS_MAX);
  if (response.status === 403) return { kind: 'refused', code: problemCode(text) };
  if (response.status !== 200) return notPaid(response.status, text);
  const settlement = response.headers.get('PAYMENT-RESPONSE');
  if (settlement === null) return { kind: 'unexpected', what: '200 without PAYMENT-RESPONSE' };
  try {
    if (!decodePaymentResponseHeader(settlement).success) return { kind: 'unexpected', what: '200 with an unsuccessful PAYMENT-RESPONSE' };
  } catch {
    return { kind: 'unexpected', what: '200 with an unreadable PAYMENT-RESPONSE' };
  }
  if (throughPaybound && response.headers.get('Paybound-Payment-Id') === null) return { kind: 'unexpected', what: '200 without Paybound-Payment-Id' };
  try {
    if ((JSON.parse(text) as { data?: unknown }).data !== 'paid content') return { kind: 'unexpected', what: '200 without the paid content' };
  } catch {
    return { kind: 'unexpected', what: '200 with a body that is not JSON' };
  }
  return { kind: 'ok' };
}

/** Sign-only's answer: 201 with the PAYMENT-SIGNATURE header the agent is to send. */
async function checkSignOnlyAnswer(response: Response): Promise<{ kind: 'ok'; header: string } | Exclude<Answer, { kind: 'ok' }>> {
  const text = (await response.text()).slice(0, ANSWER_BODY_CHARS_MAX);
  if (response.status === 403) return { kind: 'refused', code: problemCode(text) };
  // Not signed within the wait: the payment stays reserved and the agent is to poll it.
  if (response.status === 202) return { kind: 'late', what: '202 not signed in time' };
  if (response.status !== 201) return notPaid(response.status, text);
  try {
    const body = JSON.parse(text) as { header?: { name?: unknown; value?: unknown } | null };
    if (body.header?.name !== 'PAYMENT-SIGNATURE' || typeof body.header.value !== 'string' || body.header.value === '') return { kind: 'unexpected', what: '201 without a PAYMENT-SIGNATURE header' };
    return { kind: 'ok', header: body.header.value };
  } catch {
    return { kind: 'unexpected', what: '201 with a body that is not JSON' };
  }
}

/** Answers an overloaded governor may rightly give (the worker did not sign in time, the seller did not answer in time or dropped the connection) are late; others are wrong. */
function notPaid(status: number, text: string): Exclude<Answer, { kind: 'ok' }> {
  const code = problemCode(text);
  // 502 upstream_unreachable: the governor lost its connection to the seller, as a direct client can.
  const late = (status === 503 && code === 'payment_not_signed') || (status === 504 && code === 'upstream_timeout') || (status === 502 && code === 'upstream_unreachable');
  return { kind: late ? 'late' : 'unexpected', what: `${status} ${code}` };
}

function problemCode(text: string): string {
  try {
    const code = (JSON.parse(text) as { code?: unknown }).code;
    return typeof code === 'string' ? code.slice(0, 64) : 'no code';
  } catch {
    return 'no code';
  }
}

/** Asks the official facilitator whether a signed header pays the seller's requirement; a reason when it does not. */
async function verifyWithFacilitator(facilitatorUrl: string, header: string, requirement: unknown): Promise<string | undefined> {
  let paymentPayload: unknown;
  try {
    paymentPayload = decodePaymentSignatureHeader(header);
  } catch (error) {
    return `the header does not decode: ${(error as Error).message}`;
  }
  const response = await fetch(`${facilitatorUrl}/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ x402Version: 2, paymentPayload, paymentRequirements: requirement }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const body = (await response.json().catch(() => ({}))) as { isValid?: unknown; invalidReason?: unknown };
  const reason = typeof body.invalidReason === 'string' ? body.invalidReason : 'no reason';
  return response.ok && body.isValid === true ? undefined : `the facilitator answered ${response.status}: ${reason}`;
}

/**
 * Waits until every traced request's spans have arrived (or none arrived for a while), and
 * summarises the stages. A traced request whose trace stays incomplete is a failed check:
 * figures from the traces that happened to arrive would lean one way.
 */
async function collectStages(receiver: SpanReceiver, flow: PaidFlow, traced: readonly { traceId: string; latencyMs: number }[], label: string, fail: Fail): Promise<StageFigures> {
  const complete = new Map<string, { breakdown: StageBreakdown; latencyMs: number }>();
  let missing: string[] = [];
  const startedAt = Date.now();
  let lastProgressAt = Date.now();
  while (complete.size < traced.length) {
    missing = [];
    const pending = traced.filter(({ traceId }) => !complete.has(traceId));
    const spans = await receiver.spansOf(pending.map(({ traceId }) => traceId));
    for (const { traceId, latencyMs } of pending) {
      const reading = readTrace(flow, spans.get(traceId) ?? []);
      if (reading.kind === 'complete') {
        complete.set(traceId, { breakdown: reading.breakdown, latencyMs });
        lastProgressAt = Date.now();
      } else if (missing.length === 0) missing = reading.missing;
    }
    if (complete.size === traced.length || Date.now() - lastProgressAt > SPAN_QUIET_MS || Date.now() - startedAt > SPAN_WAIT_MAX_MS) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const incomplete = traced.length - complete.size;
  if (incomplete > 0) fail(label, `${incomplete} of ${traced.length} traced requests have incomplete traces, e.g. missing ${missing.join(', ')}`);
  await receiver.clear();

  const figures: StageFigures = { traces: complete.size, incomplete, byStage: new Map() };
  const summarise = (key: Parameters<StageFigures['byStage']['set']>[0], values: number[]): void => {
    const summary = figuresOf(values);
    if (summary !== undefined) figures.byStage.set(key, summary);
  };
  const readings = [...complete.values()];
  for (const stage of STAGES) summarise(stage, readings.flatMap((r) => (r.breakdown.stagesMs[stage] === undefined ? [] : [r.breakdown.stagesMs[stage]])));
  summarise('outcomeDecision', readings.flatMap((r) => (r.breakdown.outcomeDecisionMs === undefined ? [] : [r.breakdown.outcomeDecisionMs])));
  summarise('server', readings.map((r) => r.breakdown.serverMs));
  summarise('transport', readings.map((r) => r.latencyMs - r.breakdown.serverMs));
  summarise('total', readings.map((r) => r.latencyMs));
  return figures;
}

function figuresOf(values: readonly number[]): Figures | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return { p50Ms: percentileMs(sorted, 50), p99Ms: percentileMs(sorted, 99), negative: values.filter((v) => v < 0).length };
}

function directFigures(timings: readonly DirectTiming[]): DirectFigures {
  const unpaid = figuresOf(timings.map((t) => t.unpaidMs));
  const paid = figuresOf(timings.map((t) => t.paidMs));
  const rest = figuresOf(timings.map((t) => t.totalMs - t.unpaidMs - t.paidMs));
  return { count: timings.length, ...(unpaid === undefined ? {} : { unpaid }), ...(paid === undefined ? {} : { paid }), ...(rest === undefined ? {} : { rest }) };
}

function emptyStageFigures(): StageFigures {
  return { traces: 0, incomplete: 0, byStage: new Map() };
}

function latencyFigures(latenciesMs: readonly number[]): LatencyFigures {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return { count: sorted.length, p50Ms: percentileMs(sorted, 50), p90Ms: percentileMs(sorted, 90), maxMs: sorted[sorted.length - 1] ?? 0 };
}

const ms = (value: number): string => value.toFixed(1);
const signedMs = (value: number): string => `${value >= 0 ? '+' : ''}${value.toFixed(1)}`;

function printAb(samples: PaidReport['abSamples']): void {
  const through = latencyFigures(samples.through);
  const direct = latencyFigures(samples.direct);
  console.log(`  A/B: through Paybound p50 ${ms(through.p50Ms)} ms, p90 ${ms(through.p90Ms)} ms; direct p50 ${ms(direct.p50Ms)} ms, p90 ${ms(direct.p90Ms)} ms`);
}

function printTable(title: string, header: readonly string[], rows: readonly (readonly string[])[]): void {
  console.log(`\n${title}\n\n${formatTable(header, rows, false)}\n`);
  console.log(`Markdown:\n\n${formatTable(header, rows, true)}\n`);
}

const THROUGHPUT_HEADER = ['mode', 'connections', 'payments', 'payments/s', 'p50 ms', 'p99 ms', 'max ms', 'refused', 'late', 'unexpected', 'settled on chain', 'vs direct: payments/s, p50', 'CPU ms per payment: governor / worker / seller+facilitator / anvil / postgres / bench'];

function formatThroughputRow(row: ThroughputRow, direct: ThroughputRow | undefined): string[] {
  const sorted = [...row.loop.okLatenciesMs].sort((a, b) => a - b);
  const perSec = row.loop.ok / (row.loop.elapsedMs / 1_000);
  const directPerSec = direct === undefined ? undefined : direct.loop.ok / (direct.loop.elapsedMs / 1_000);
  const directP50 = direct === undefined ? undefined : percentileMs([...direct.loop.okLatenciesMs].sort((a, b) => a - b), 50);
  const cpu = row.cpuMsPerPayment;
  return [
    row.mode,
    String(row.connections),
    String(row.loop.ok),
    perSec.toFixed(0),
    ms(percentileMs(sorted, 50)),
    ms(percentileMs(sorted, 99)),
    ms(sorted[sorted.length - 1] ?? 0),
    countOf(row.loop.refused) === 0 ? '0' : JSON.stringify(row.loop.refused),
    countOf(row.loop.late) === 0 ? '0' : JSON.stringify(row.loop.late),
    countOf(row.loop.unexpected) === 0 ? '0' : JSON.stringify(row.loop.unexpected),
    row.settledOnChain === undefined ? '' : String(row.settledOnChain),
    directPerSec === undefined || directP50 === undefined ? '' : `${(perSec / directPerSec).toFixed(2)}x, ${signedMs(percentileMs(sorted, 50) - directP50)} ms`,
    ['governor', 'worker', 'seller+facilitator', 'anvil', 'postgres', 'bench (load, direct client)'].map((name) => (cpu[name] ?? 0).toFixed(1)).join(' / '),
  ];
}

const STAGE_LABELS: Record<string, string> = {
  outcomeDecision: '  of which: the ReportOutcome decision',
  server: "governor's server span (sum of the stages above)",
  transport: 'agent ↔ governor (client total − server span)',
  total: 'total seen by the agent',
};

function stageRows(columns: readonly StageFigures[], withBounds: boolean): string[][] {
  const keys = [...STAGES.filter((stage) => columns.some((c) => c.byStage.has(stage))), 'outcomeDecision', 'server', 'transport', 'total'] as const;
  return keys
    .filter((key) => columns.some((c) => c.byStage.has(key)))
    .map((key) => [
      STAGE_LABELS[key] ?? key,
      ...columns.flatMap((c) => {
        const figures = c.byStage.get(key);
        if (figures === undefined) return ['', ''];
        const negative = figures.negative > 0 ? ` (${figures.negative} < 0)` : '';
        return [`${ms(figures.p50Ms)}${negative}`, ms(figures.p99Ms)];
      }),
      ...(withBounds ? [(STAGE_BOUNDS as Record<string, string>)[key] ?? ''] : []),
    ]);
}

export function printPaidReport(report: PaidReport): void {
  const through = latencyFigures(report.abSamples.through);
  const direct = latencyFigures(report.abSamples.direct);
  const pairedDifferences = report.abSamples.through.map((t, i) => t - (report.abSamples.direct[i] ?? Number.NaN)).filter((d) => !Number.isNaN(d));
  printTable(`Paid fetch, one at a time, alternating (PostgreSQL: ${report.postgres}):`, ['path', 'samples', 'p50 ms', 'p90 ms', 'max ms'], [
    ['through Paybound (pay-and-fetch)', String(through.count), ms(through.p50Ms), ms(through.p90Ms), ms(through.maxMs)],
    ['direct (@x402/fetch)', String(direct.count), ms(direct.p50Ms), ms(direct.p90Ms), ms(direct.maxMs)],
    ['through − direct', '', signedMs(through.p50Ms - direct.p50Ms), signedMs(through.p90Ms - direct.p90Ms), signedMs(through.maxMs - direct.maxMs)],
  ]);
  const paired = latencyFigures(pairedDifferences);
  console.log(`per-pair difference (through − direct, same pair): p50 ${signedMs(paired.p50Ms)} ms, p90 ${signedMs(paired.p90Ms)} ms; ratio of p50s ${(through.p50Ms / Math.max(0.001, direct.p50Ms)).toFixed(2)}x`);

  printTable(
    `Where a governed paid fetch's time goes, one at a time (${report.abStages.traces} traces; p99 of ${report.abStages.traces} is about the maximum):`,
    ['stage', 'p50 ms', 'p99 ms', 'cut at'],
    stageRows([report.abStages], true),
  );

  const figureCells = (figures: Figures | undefined): string[] => (figures === undefined ? ['', ''] : [ms(figures.p50Ms), ms(figures.p99Ms)]);
  printTable(
    `The direct client's own calls in the same A/B (${report.abDirect.count} fetches, timed in the fetch it is given, to the status and headers):`,
    ['part', 'p50 ms', 'p99 ms'],
    [
      ['seller: unpaid call (402)', ...figureCells(report.abDirect.unpaid)],
      ['client: offer, signing, body (the rest)', ...figureCells(report.abDirect.rest)],
      ['seller: paid call (verify, settle, answer)', ...figureCells(report.abDirect.paid)],
    ],
  );

  const rows = report.throughput.map((row) =>
    formatThroughputRow(row, row.mode === 'pay-and-fetch' ? report.throughput.find((r) => r.mode === 'direct @x402/fetch' && r.connections === row.connections) : undefined),
  );
  printTable('Throughput, closed loop (payments = answers that passed every check):', THROUGHPUT_HEADER, rows);

  for (const flow of ['pay-and-fetch', 'sign-only'] as const) {
    const columns = report.loadStages.filter((s) => s.flow === flow);
    if (columns.length === 0) continue;
    // For pay-and-fetch, the direct client's calls at the same connection count, for reference.
    const directRows =
      flow === 'pay-and-fetch'
        ? (['unpaid', 'paid'] as const).map((call) => [
            `direct, for reference: seller ${call} call`,
            ...columns.flatMap((c) => figureCells(report.throughput.find((r) => r.mode === 'direct @x402/fetch' && r.connections === c.connections)?.directCalls?.[call])),
          ])
        : [];
    printTable(
      `Stages of ${flow} under load, p50 / p99 ms per stage (each percentile taken on its own; "(n < 0)": cross-process stages that came out negative):`,
      ['stage', ...columns.flatMap((c) => [`c=${c.connections} p50 (${c.figures.traces} traces)`, `c=${c.connections} p99`])],
      [...stageRows(columns.map((c) => c.figures), false), ...directRows],
    );
  }
  console.log(`sign-only headers verified by the official facilitator against the seller's requirement: ${report.verified.valid} of ${report.verified.checked} valid`);
  console.log(`paid on chain: the seller's payee received ${report.onChain.receivedAtomic} atomic units, ${report.onChain.expectedAtomic} expected from the answers that passed`);
  console.log(`paid part run time ${(report.elapsedMs / 1_000).toFixed(1)} s; load average (1 min) ${report.loadAverage.start.toFixed(1)} at the start, ${report.loadAverage.end.toFixed(1)} at the end, on ${os.cpus().length} cpus`);
}
