import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

// .paybound/run.json: what the running `npm start` is (its PID) and what it started, kept up
// to date as parts start, restart and stop, and removed on a clean stop. The next start reads
// it to tell a run that is still going from one that was killed, and what a killed run left.

export interface RunPart {
  name: string;
  pid: number;
  /** From /proc (Linux): with the PID it names one process, even after the PID is reused. */
  startTime?: string;
}

export interface RunState {
  pid: number;
  startTime?: string;
  startedAt: string;
  /** Everything it started that runs as its own process, oldest first. */
  children: RunPart[];
  /** Set when it is ready: where the API and the demo seller are. */
  apiUrl?: string;
  [more: string]: unknown;
}

/** What an earlier run's file says about now. */
export type PreviousRun =
  | { kind: 'none' }
  | { kind: 'running'; pid: number; apiUrl: string | undefined }
  | { kind: 'leftovers'; pid: number; parts: RunPart[] }
  | { kind: 'stale'; pid: number };

/** Judges an earlier run from its file, given a probe that says whether a recorded process still runs. */
export function judgePreviousRun(previous: RunState | undefined, stillRunning: (pid: number, startTime: string | undefined) => boolean): PreviousRun {
  if (previous === undefined) return { kind: 'none' };
  if (stillRunning(previous.pid, previous.startTime)) return { kind: 'running', pid: previous.pid, apiUrl: previous.apiUrl };
  const parts = previous.children.filter((part) => stillRunning(part.pid, part.startTime));
  return parts.length > 0 ? { kind: 'leftovers', pid: previous.pid, parts } : { kind: 'stale', pid: previous.pid };
}

function isPart(value: unknown): value is RunPart {
  const part = value as Partial<RunPart> | null;
  return (
    typeof part === 'object' &&
    part !== null &&
    typeof part.name === 'string' &&
    Number.isInteger(part.pid) &&
    (part.pid ?? 0) > 1 &&
    (part.startTime === undefined || typeof part.startTime === 'string')
  );
}

/** The run file, or undefined when there is none or it cannot be read as one (then it says nothing). */
export function readRunState(file: string): RunState | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const value = JSON.parse(readFileSync(file, 'utf8')) as Partial<RunState>;
    if (!Number.isInteger(value.pid) || (value.pid ?? 0) <= 1 || !Array.isArray(value.children) || !value.children.every(isPart)) return undefined;
    if (value.startTime !== undefined && typeof value.startTime !== 'string') return undefined;
    return value as RunState;
  } catch {
    return undefined;
  }
}

/** Writes the run file whole, through a rename, so a reader never sees half of it. */
export function writeRunState(file: string, state: RunState): void {
  const temporary = `${file}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(temporary, file);
}
