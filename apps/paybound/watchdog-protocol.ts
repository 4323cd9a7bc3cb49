// What the supervisor tells its watchdog, one JSON object per line: which processes to stop
// if the supervisor disappears, and which of them have already ended.

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;
export type StopSignal = (typeof SIGNALS)[number];

export interface WatchedProcess {
  name: string;
  pid: number;
  /** From /proc (Linux); with the PID it names one process for good. */
  startTime: string | undefined;
  /** What asks it to stop cleanly: SIGINT is PostgreSQL's fast shutdown, SIGTERM the others'. */
  signal: StopSignal;
}

export type WatchdogCommand = { kind: 'watch'; process: WatchedProcess } | { kind: 'unwatch'; pid: number };

export function formatWatchdogCommand(command: WatchdogCommand): string {
  return `${JSON.stringify(command)}\n`;
}

const NAME_CHARS_MAX = 80;

function isPid(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 1 && value < 2 ** 31;
}

/** One line from the supervisor, or undefined when it is not a command (it is then ignored). */
export function parseWatchdogLine(line: string): WatchdogCommand | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const command = value as { kind?: unknown; pid?: unknown; process?: Partial<Record<keyof WatchedProcess, unknown>> };
  if (command.kind === 'unwatch') return isPid(command.pid) ? { kind: 'unwatch', pid: command.pid } : undefined;
  if (command.kind !== 'watch' || typeof command.process !== 'object' || command.process === null) return undefined;
  const { name, pid, startTime, signal } = command.process;
  if (typeof name !== 'string' || name.length > NAME_CHARS_MAX || !isPid(pid)) return undefined;
  if (startTime !== undefined && (typeof startTime !== 'string' || !/^\d{1,20}$/.test(startTime))) return undefined;
  if (!SIGNALS.includes(signal as StopSignal)) return undefined;
  return { kind: 'watch', process: { name, pid, startTime, signal: signal as StopSignal } };
}
