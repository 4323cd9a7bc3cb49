import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DECISION_PATH_NODE_OPTIONS } from '../libs/platform/processes.js';

// The governor and settlement worker as OS processes, for the compiled bench. The helpers in
// test/support locate dist/ from their own source folder, which only works when they run
// from source (vitest); the bench runs from dist/bench, so it starts the same entry points
// itself, with the same environment and readiness checks.

/** The repository root, whether this file runs as dist/bench/processes.js or bench/processes.ts. */
export const repoRoot = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  const up = resolve(here, '..');
  return up.endsWith('/dist') ? resolve(up, '..') : up;
})();

const READY_TIMEOUT_MS = 30_000;
const OUTPUT_CHARS_MAX = 200_000;

export interface BenchProcess {
  pid: number;
  url: string;
  output: () => string;
  /** SIGTERM to this child's PID, SIGKILL after 5 s. */
  stop(): Promise<void>;
}

function start(entry: string, env: Record<string, string>): { child: ChildProcess; output: () => string; stop: () => Promise<void> } {
  const child = spawn(process.execPath, [...DECISION_PATH_NODE_OPTIONS, join(repoRoot, 'dist', entry)], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_CHARS_MAX);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, output: () => output, stop };
}

async function waitReady(child: ChildProcess, output: () => string, name: string, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await ready())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} not ready within ${READY_TIMEOUT_MS} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** dist/apps/governor/main.js on a random loopback port, ready once GET /ready answers 200. */
export async function startGovernorProcess(env: Record<string, string>): Promise<BenchProcess> {
  // Below Linux's ephemeral range (32768 and up), where outgoing connections take their ports.
  const port = 20_000 + Math.floor(Math.random() * 12_000);
  const url = `http://127.0.0.1:${port}`;
  const { child, output, stop } = start('apps/governor/main.js', { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env });
  await waitReady(child, output, 'governor', async () => {
    try {
      return (await fetch(`${url}/ready`)).ok;
    } catch {
      return false;
    }
  });
  return { pid: child.pid ?? -1, url, output, stop };
}

/** dist/apps/settlement-worker/main.js, ready once it logs so. */
export async function startWorkerProcess(env: Record<string, string>): Promise<BenchProcess> {
  const { child, output, stop } = start('apps/settlement-worker/main.js', { LOG_LEVEL: 'info', PAYBOUND_METRICS_PORT: '0', ...env });
  await waitReady(child, output, 'settlement worker', () => Promise.resolve(output().includes('settlement worker ready')));
  return { pid: child.pid ?? -1, url: '', output, stop };
}
