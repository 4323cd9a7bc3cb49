import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** How long a child gets to finish after SIGTERM before it is killed. */
const STOP_GRACE_MS = 5_000;

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
  /** Where stdout and stderr go: appended to a log file, or shown on the console. */
  output: { logFile: string } | 'console';
}

/** Starts a Node script as a child process; stop() ends it by its PID, bounded in time. */
export function startChild(options: ChildOptions): SupervisedChild {
  const logStream = options.output === 'console' ? undefined : createWriteStream(options.output.logFile, { flags: 'a' });
  const child: ChildProcess = spawn(process.execPath, [...(options.nodeOptions ?? []), options.script], {
    env: options.env,
    stdio: options.output === 'console' ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
  });
  if (logStream !== undefined) {
    child.stdout?.pipe(logStream, { end: false });
    child.stderr?.pipe(logStream, { end: false });
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name} could not be started (spawn failed)`);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      logStream?.end();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  return {
    name: options.name,
    pid,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
