import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export type Outcome = 'accepted' | 'refused';

/** Decides the payment intent with this index; rejects when the decision itself failed. */
export type DecideIntent = (intentIndex: number) => Promise<Outcome>;

export interface LoadResult {
  issued: number;
  accepted: number;
  refused: number;
  failed: number;
  /** The first few failures, for the report. */
  failureSamples: string[];
  elapsedMs: number;
  latenciesMs: number[];
}

const MAX_FAILURE_SAMPLES = 5;

function emptyResult(): LoadResult {
  return { issued: 0, accepted: 0, refused: 0, failed: 0, failureSamples: [], elapsedMs: 0, latenciesMs: [] };
}

async function decideAndRecord(decideIntent: DecideIntent, intentIndex: number, startedAtMs: number, result: LoadResult): Promise<void> {
  result.issued += 1;
  try {
    const outcome = await decideIntent(intentIndex);
    if (outcome === 'accepted') result.accepted += 1;
    else result.refused += 1;
  } catch (error) {
    result.failed += 1;
    if (result.failureSamples.length < MAX_FAILURE_SAMPLES) result.failureSamples.push(String(error));
  }
  result.latenciesMs.push(performance.now() - startedAtMs);
}

/**
 * Closed loop: `concurrency` callers each send the next intent as soon as their previous one
 * is answered, until `intentCount` intents were sent. Throughput is what the system sustains
 * with that many requests in flight.
 */
export async function runClosedLoop(decideIntent: DecideIntent, intentCount: number, concurrency: number): Promise<LoadResult> {
  const result = emptyResult();
  let nextIntentIndex = 0;
  const caller = async (): Promise<void> => {
    while (nextIntentIndex < intentCount) {
      const intentIndex = nextIntentIndex;
      nextIntentIndex += 1;
      await decideAndRecord(decideIntent, intentIndex, performance.now(), result);
    }
  };
  const startedAtMs = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, intentCount) }, caller));
  result.elapsedMs = performance.now() - startedAtMs;
  return result;
}

/**
 * Open loop: intent i is due at start + i / rate, whether or not earlier ones were answered,
 * and its latency is measured from when it was due, not from when the timer let it go, so a
 * stall shows up in the latency instead of silently lowering the rate (no coordinated
 * omission). Requests are released on a 1 ms timer, which adds up to about 1 ms.
 */
export async function runOpenLoop(decideIntent: DecideIntent, intentCount: number, ratePerSec: number, maxInFlight: number): Promise<LoadResult> {
  const result = emptyResult();
  const inFlight = new Set<Promise<void>>();
  const intervalMs = 1_000 / ratePerSec;
  const startedAtMs = performance.now();
  // The schedule takes intentCount / rate seconds; allow twice that plus a margin.
  const deadlineMs = startedAtMs + 2 * intentCount * intervalMs + 10_000;
  let nextIntentIndex = 0;
  while (nextIntentIndex < intentCount) {
    const nowMs = performance.now();
    if (nowMs > deadlineMs) throw new Error(`open loop could not issue ${intentCount} intents at ${ratePerSec}/s in time`);
    const dueCount = Math.min(intentCount, Math.floor((nowMs - startedAtMs) / intervalMs) + 1);
    while (nextIntentIndex < dueCount) {
      if (inFlight.size >= maxInFlight) throw new Error(`more than ${maxInFlight} requests in flight at ${ratePerSec}/s: the system is saturated`);
      const dueAtMs = startedAtMs + nextIntentIndex * intervalMs;
      const request = decideAndRecord(decideIntent, nextIntentIndex, dueAtMs, result).finally(() => inFlight.delete(request));
      inFlight.add(request);
      nextIntentIndex += 1;
    }
    await sleep(1);
  }
  await Promise.all(inFlight);
  result.elapsedMs = performance.now() - startedAtMs;
  return result;
}
