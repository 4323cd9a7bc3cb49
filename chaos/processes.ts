import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, type WriteStream } from 'node:fs';

// Every process the run starts is tracked here and stopped by its PID, never by name: other
// sessions on the same machine run their own postgres, java and node processes.

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // A run that ends abruptly (an exception, a failed test) must not leave its JVMs and
  // governors behind, holding ports and CPU on a shared machine.
  process.once('exit', () => {
    for (const child of live) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) signalPid(child.pid, 'SIGKILL');
  });
}

export function signalPid(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface ProcessSpec {
  name: string;
  command: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd: string;
  logFile: string;
  /** Resolves true once the process serves; polled until `readyTimeoutMs`. */
  ready: (output: string) => Promise<boolean> | boolean;
  readyTimeoutMs: number;
}

/** Bounded tail of what a process wrote, for readiness lines and failure messages. */
const OUTPUT_TAIL_CHARS = 64_000;
const STOP_TIMEOUT_MS = 15_000;

/**
 * A child process that can be killed by PID and started again with the same command,
 * environment and log file. `start` resolves once `ready` holds; its output goes to the log
 * file and, bounded, to `output()`.
 */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private tail = '';
  private log: WriteStream | undefined;
  startCount = 0;

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  output(): string {
    return this.tail;
  }

  async start(): Promise<void> {
    if (this.running) return;
    installExitHook();
    this.log ??= createWriteStream(this.spec.logFile, { flags: 'a' });
    this.log.write(`\n--- ${new Date().toISOString()} start ${this.spec.name}\n`);
    this.tail = '';
    const child = spawn(this.spec.command, [...this.spec.args], { env: this.spec.env, cwd: this.spec.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    const append = (chunk: Buffer): void => {
      this.log?.write(chunk);
      this.tail = (this.tail + chunk.toString()).slice(-OUTPUT_TAIL_CHARS);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    this.startCount += 1;
    const deadline = Date.now() + this.spec.readyTimeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.spec.name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${this.tail.slice(-4_000)}`);
      let ready = false;
      try {
        ready = await this.spec.ready(this.tail);
      } catch {
        ready = false;
      }
      if (ready) return;
      if (Date.now() > deadline) {
        this.kill('SIGKILL');
        throw new Error(`${this.spec.name} not ready within ${this.spec.readyTimeoutMs} ms:\n${this.tail.slice(-4_000)}`);
      }
      await sleep(100);
    }
  }

  /** Sends a signal to the current process by its PID; false when none is running. */
  kill(signal: NodeJS.Signals): boolean {
    const pid = this.pid;
    return pid === undefined ? false : signalPid(pid, signal);
  }

  /** Resolves true once the current process has exited, false after `timeoutMs`. */
  async waitExit(timeoutMs: number): Promise<boolean> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** SIGKILL and wait until it is gone. */
  async crash(): Promise<void> {
    if (!this.kill('SIGKILL')) return;
    await this.waitExit(STOP_TIMEOUT_MS);
  }

  /** SIGTERM, then SIGKILL if it does not exit in time. */
  async stop(): Promise<void> {
    if (!this.kill('SIGTERM')) return;
    if (!(await this.waitExit(STOP_TIMEOUT_MS))) {
      this.kill('SIGKILL');
      await this.waitExit(STOP_TIMEOUT_MS);
    }
  }

  async close(): Promise<void> {
    await this.stop();
    await new Promise<void>((resolve) => (this.log === undefined ? resolve() : this.log.end(resolve)));
    this.log = undefined;
  }
}

/** The PIDs whose parent is `pid`, read from /proc (Linux). */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses; the fields after its last ")" do not.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

/** GET `url` and whether it answered 2xx within a second. */
export async function answers(url: string, bearerToken?: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000), headers: bearerToken === undefined ? {} : { authorization: `Bearer ${bearerToken}` } });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}
