import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pg from 'pg';
import { summarizeLatencies, type LatencySummary } from './stats.js';

// The durable-commit floor, measured in the same window as a run: while the run goes, one
// connection of its own commits a one-row insert every PROBE_INTERVAL_MS. No decision path
// answers faster than the server can make a commit durable, so when the disk stalls on a
// WAL flush (this VM's does, for tens to hundreds of ms at random) it shows here, whatever
// the decision path does, and a run's p99 can be read against the floor it had. The probe
// runs on a worker thread, so that its timings do not include the delays of the event loop
// the measured decision path runs on.

const PROBE_INTERVAL_MS = 10;
// A probe outlives no run: it stops itself after this long even if nobody stops it.
const PROBE_MAX_DURATION_MS = 10 * 60_000;

export interface CommitFloor extends LatencySummary {
  commitCount: number;
}

export interface CommitFloorProbe {
  /** Stops the probe and summarizes every commit it timed. */
  stop(): Promise<CommitFloor>;
}

interface ProbeInput {
  databaseUrl: string;
}

type ProbeMessage = { kind: 'ready' } | { kind: 'done'; latenciesMs: number[] } | { kind: 'failed'; message: string };

export async function startCommitFloorProbe(databaseUrl: string): Promise<CommitFloorProbe> {
  const input: ProbeInput = { databaseUrl };
  const worker = new Worker(new URL(import.meta.url), { workerData: input });
  // Every message is kept, so that one sent while nobody waits (a failure mid-run) is not lost.
  const messages: ProbeMessage[] = [];
  let wake: (() => void) | undefined;
  let ended: Error | undefined;
  worker.on('message', (message: ProbeMessage) => {
    messages.push(message);
    wake?.();
  });
  const end = (error: Error): void => {
    ended ??= error;
    wake?.();
  };
  worker.on('error', end);
  worker.on('exit', (code) => end(new Error(`commit floor probe exited with code ${code}`)));
  const next = async (): Promise<ProbeMessage> => {
    while (messages.length === 0) {
      if (ended !== undefined) throw ended;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
    const message = messages.shift()!;
    if (message.kind === 'failed') throw new Error(`commit floor probe failed: ${message.message}`);
    return message;
  };
  try {
    await next();
  } catch (error) {
    await worker.terminate();
    throw error;
  }
  return {
    stop: async () => {
      try {
        worker.postMessage('stop');
        const message = await next();
        const latenciesMs = message.kind === 'done' ? message.latenciesMs : [];
        return { commitCount: latenciesMs.length, ...summarizeLatencies(latenciesMs) };
      } finally {
        await worker.terminate();
      }
    },
  };
}

async function probe(input: ProbeInput): Promise<void> {
  const port = parentPort;
  if (port === null) return;
  const client = new pg.Client({ connectionString: input.databaseUrl });
  client.on('error', () => undefined);
  const latenciesMs: number[] = [];
  try {
    await client.connect();
    await client.query('CREATE TABLE IF NOT EXISTS bench_commit_floor (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())');
    let stopping = false;
    port.once('message', () => {
      stopping = true;
    });
    port.postMessage({ kind: 'ready' } satisfies ProbeMessage);
    const deadlineMs = performance.now() + PROBE_MAX_DURATION_MS;
    while (!stopping && performance.now() < deadlineMs) {
      const startedAtMs = performance.now();
      await client.query('INSERT INTO bench_commit_floor DEFAULT VALUES');
      const elapsedMs = performance.now() - startedAtMs;
      latenciesMs.push(elapsedMs);
      await sleep(Math.max(0, PROBE_INTERVAL_MS - elapsedMs));
    }
    port.postMessage({ kind: 'done', latenciesMs } satisfies ProbeMessage);
  } catch (error) {
    port.postMessage({ kind: 'failed', message: error instanceof Error ? error.message : String(error) } satisfies ProbeMessage);
  } finally {
    await client.end().catch(() => undefined);
  }
}

if (!isMainThread) await probe(workerData as ProbeInput);
