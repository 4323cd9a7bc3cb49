import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const READY_TIMEOUT_MS = 30_000;
// Ports are drawn below Linux's ephemeral range (32768 and up), where the outgoing
// connections of tests running alongside take theirs; a port taken all the same is retried.
const PORT_MIN = 20_000;
const PORT_COUNT = 12_000;
const START_ATTEMPTS = 5;

export interface GovernorProcess {
  url: string;
  pid: number;
  output: () => string;
  stop(): Promise<void>;
}

/** A test constant, not a secret: every test governor takes worker commands with it (see workerDecidesVia). */
export const TEST_WORKER_TOKEN = 'test-worker-token-not-a-secret';

/**
 * Starts the built governor (dist/apps/governor/main.js) as its own OS process, the way
 * it runs in production, and waits until /ready answers. `npm test` builds first.
 */
export async function spawnGovernor(env: Record<string, string>): Promise<GovernorProcess> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await spawnGovernorOnPort(PORT_MIN + Math.floor(Math.random() * PORT_COUNT), env);
    } catch (error) {
      if (!(error instanceof PortTakenError) || attempt >= START_ATTEMPTS) throw error;
    }
  }
}

class PortTakenError extends Error {}

async function spawnGovernorOnPort(port: number, env: Record<string, string>): Promise<GovernorProcess> {
  const child: ChildProcess = spawn(process.execPath, [resolve(repoRoot, 'dist/apps/governor/main.js')], {
    // The test sellers listen on loopback, which pay-and-fetch refuses unless allowed.
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow', PAYBOUND_WORKER_TOKEN: TEST_WORKER_TOKEN, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      const message = `governor exited with ${child.exitCode}:\n${output}`;
      throw output.includes('EADDRINUSE') ? new PortTakenError(message) : new Error(message);
    }
    try {
      const response = await fetch(`${url}/ready`);
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`governor not ready within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    pid: child.pid ?? -1,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
