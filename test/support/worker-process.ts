import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { TEST_WORKER_TOKEN } from './governor-process.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 30_000;
const OUTPUT_CHARS_MAX = 2_000_000;

export interface WorkerProcess {
  pid: number;
  /** Where the worker serves GET /metrics (it picks a free port). */
  metricsUrl: string;
  /** Everything the process wrote to stdout and stderr (bounded). */
  output: () => string;
  /** Resolves with the exit code or signal once the process has ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** The worker's environment for sending its budget commands to this governor, as in production. */
export function workerDecidesVia(governor: { url: string }): Record<string, string> {
  return { PAYBOUND_GOVERNOR_URL: governor.url, PAYBOUND_WORKER_TOKEN: TEST_WORKER_TOKEN };
}

/**
 * Starts the built settlement worker (dist/apps/settlement-worker/main.js) as its own OS
 * process and waits until it logs that it is ready, or until it exits (a fault injection
 * may kill it at the first payment, which the caller then observes through `exited`).
 */
export async function spawnWorker(env: Record<string, string>): Promise<WorkerProcess> {
  const child: ChildProcess = spawn(process.execPath, [resolve(repoRoot, 'dist/apps/settlement-worker/main.js')], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', PAYBOUND_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: Buffer) => {
    if (output.length < OUTPUT_CHARS_MAX) output += chunk.toString();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => child.once('exit', (code, signal) => resolveExit({ code, signal })));
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!output.includes('settlement worker ready')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`worker exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`worker not ready within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    pid: child.pid ?? -1,
    metricsUrl: /"metrics":"(http:[^"]+)"/.exec(output)?.[1] ?? '',
    output: () => output,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
