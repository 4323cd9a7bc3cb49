import { isSameProcess, sleep } from '../../libs/platform/processes.js';
import { parseWatchdogLine, type WatchedProcess } from './watchdog-protocol.js';

// The watchdog of `npm start`: a small process that the supervisor starts first and tells,
// line by line on its stdin, which processes it started (the database, the chain, the
// governor, the worker). When that pipe closes the supervisor is gone, however it ended,
// even by SIGKILL: then the watchdog stops every process still running, newest first and the
// database last, and exits. A process is named by PID and start time, so a reused PID is never signalled.

/** How long a process gets after its stop signal before SIGKILL. */
const STOP_GRACE_MS = 5_000;
const POLL_MS = 50;
/** A line longer than this is not from the supervisor; it is dropped. */
const LINE_CHARS_MAX = 4_096;

const watched = new Map<number, WatchedProcess>();

function log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown> = {}): void {
  // Stdout is the supervisor's log file, opened for appending: one JSON line per fact, as pino writes.
  process.stdout.write(`${JSON.stringify({ level: level === 'info' ? 30 : 40, time: Date.now(), name: 'paybound-watchdog', pid: process.pid, ...fields, msg })}\n`);
}

async function stopOne(target: WatchedProcess): Promise<void> {
  if (!isSameProcess(target.pid, target.startTime)) return;
  log('warn', `the supervisor is gone; stopping ${target.name}`, { target: target.pid, signal: target.signal });
  try {
    process.kill(target.pid, target.signal);
  } catch {
    return;
  }
  const deadline = Date.now() + STOP_GRACE_MS;
  while (Date.now() < deadline) {
    if (!isSameProcess(target.pid, target.startTime)) return;
    await sleep(POLL_MS);
  }
  if (!isSameProcess(target.pid, target.startTime)) return;
  log('warn', `${target.name} did not stop within ${STOP_GRACE_MS} ms; killing it`, { target: target.pid });
  try {
    process.kill(target.pid, 'SIGKILL');
  } catch {
    // It ended in between.
  }
}

let stopping = false;
async function stopAll(): Promise<void> {
  if (stopping) return;
  stopping = true;
  // Newest first, and PostgreSQL (the one stopped with SIGINT) last whenever it was restarted:
  // the processes that write to it stop before it.
  const order = [...watched.values()].reverse().sort((a, b) => Number(a.signal === 'SIGINT') - Number(b.signal === 'SIGINT'));
  for (const target of order) await stopOne(target);
  process.exit(0);
}

// A terminal's Ctrl-C, a hang-up or a SIGTERM to the whole group reach this process too; it
// must outlive the supervisor to do its job, and it ends when the supervisor's pipe closes.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => undefined);

let pending = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk: string) => {
  pending += chunk;
  for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
    const command = parseWatchdogLine(pending.slice(0, newline));
    pending = pending.slice(newline + 1);
    if (command?.kind === 'watch') watched.set(command.process.pid, command.process);
    else if (command?.kind === 'unwatch') watched.delete(command.pid);
  }
  if (pending.length > LINE_CHARS_MAX) pending = '';
});
process.stdin.once('end', () => void stopAll());
process.stdin.once('error', () => void stopAll());
process.stdin.once('close', () => void stopAll());
