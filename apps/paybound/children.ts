import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processStartTime } from '../../libs/platform/processes.js';
import { formatWatchdogCommand, type StopSignal, type WatchedProcess } from './watchdog-protocol.js';

/** How long a child gets to finish after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

/** A process the supervisor started and can stop. */
export interface SupervisedChild {
  name: string;
  pid: number;
  /** Resolves with the exit code (or the signal's name) when the child ends for any reason. */
  exited: Promise<number | string>;
  stop(): Promise<void>;
}

export interface ChildOptions {
  name: string;
  script: string;
  /** Options for node itself, before the script. */
  nodeOptions?: readonly string[];
  env: Record<string, string>;
  /**
   * Where stdout and stderr go: a log file the child appends to itself, so that its lines
   * are kept even if the supervisor is gone; or the supervisor's console.
   */
  output: { logFile: string } | 'console';
}

/** Resolves with the exit code, or the signal's name, when `child` ends. */
export function exitOf(child: ChildProcess): Promise<number | string> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode ?? child.signalCode ?? 'unknown');
    else child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
}

/** Stops `child` with `signal`, then SIGKILL after the grace period; resolves when it has exited. */
export async function stopChild(child: ChildProcess, exited: Promise<unknown>, signal: NodeJS.Signals = 'SIGTERM', graceMs = STOP_GRACE_MS): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** Opens a log file for a child to append to; the caller closes its own copy after spawning. */
export function openLog(logFile: string): number {
  return openSync(logFile, 'a', 0o600);
}

/** Starts a Node script as a child process; stop() ends it by its PID, bounded in time. */
export function startChild(options: ChildOptions): SupervisedChild {
  const logFd = options.output === 'console' ? undefined : openLog(options.output.logFile);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [...(options.nodeOptions ?? []), options.script], {
      env: options.env,
      stdio: logFd === undefined ? ['ignore', 'inherit', 'inherit'] : ['ignore', logFd, logFd],
    });
  } finally {
    // The child holds its own copy of the descriptor.
    if (logFd !== undefined) closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name} could not be started (spawn failed)`);
  const exited = exitOf(child);
  return { name: options.name, pid, exited, stop: () => stopChild(child, exited) };
}

/** The supervisor's side of the watchdog (see watchdog.ts). */
export interface Watchdog {
  pid: number;
  exited: Promise<number | string>;
  watch(name: string, pid: number, signal: StopSignal): void;
  unwatch(pid: number): void;
  /** Lets the watchdog go: it finds nothing left to stop and exits. */
  release(): void;
}

const WATCHDOG_SCRIPT = fileURLToPath(new URL('./watchdog.js', import.meta.url));

/**
 * Starts the watchdog with its stdin on a pipe from this process, and its output appended to
 * `logFile`. It ignores the terminal's signals, so only this pipe's closing ends it.
 */
export function startWatchdog(logFile: string): Watchdog {
  const logFd = openLog(logFile);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [WATCHDOG_SCRIPT], { env: { PATH: process.env.PATH ?? '' }, stdio: ['pipe', logFd, logFd] });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid;
  if (pid === undefined || child.stdin === null) throw new Error('the watchdog could not be started (spawn failed)');
  const stdin = child.stdin;
  // A watchdog that died cannot be written to; its exit is reported through `exited`.
  stdin.on('error', () => undefined);
  const send = (line: string): void => {
    if (!stdin.destroyed) stdin.write(line);
  };
  return {
    pid,
    exited: exitOf(child),
    watch: (name, watchedPid, signal) => {
      const startTime = processStartTime(watchedPid);
      // On Linux a process without a start time has already ended; its PID may name another soon.
      if (startTime === undefined && process.platform === 'linux') return;
      const watched: WatchedProcess = { name, pid: watchedPid, startTime, signal };
      send(formatWatchdogCommand({ kind: 'watch', process: watched }));
    },
    unwatch: (watchedPid) => send(formatWatchdogCommand({ kind: 'unwatch', pid: watchedPid })),
    release: () => stdin.end(),
  };
}
