import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

// CPU time used by named groups of processes over a run, from /proc (Linux): on two shared
// cores, a throughput that stops growing is usually a process out of CPU, and this says
// which. A group's processes are looked up at the start and at the end of the run, so a
// child that appears meanwhile (a PostgreSQL backend) is counted from its birth.

export type ProcessGroups = Record<string, () => number[]>;

const clockTicksPerSec = ((): number => {
  try {
    const ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of one process (all its threads), in clock ticks; undefined once it is gone. */
function cpuTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; the fields after it are counted from its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** A process's children, grandchildren and so on, found by their parents in /proc. */
export function descendantsOf(pid: number): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const childrenByParent = new Map<number, number[]>();
  for (const entry of entries) {
    if (!/^[0-9]+$/.test(entry)) continue;
    const parent = parentOf(Number(entry));
    if (parent !== undefined) childrenByParent.set(parent, [...(childrenByParent.get(parent) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  // A process tree is finite and acyclic; the bound guards against a /proc read mid-change.
  for (let queue = [pid]; queue.length > 0 && found.length < 10_000; ) {
    const children = childrenByParent.get(queue.shift()!) ?? [];
    found.push(...children);
    queue = [...queue, ...children];
  }
  return found;
}

/** The parent of a process, or undefined. */
export function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(parent) && parent > 0 ? parent : undefined;
  } catch {
    return undefined;
  }
}

/** Starts counting; `stop` answers the CPU milliseconds each group used since. */
export function watchCpu(groups: ProcessGroups): { stop(): Record<string, number> } {
  const startTicks = new Map<number, number>();
  for (const pids of Object.values(groups)) {
    for (const pid of pids()) {
      const ticks = cpuTicksOf(pid);
      if (ticks !== undefined) startTicks.set(pid, ticks);
    }
  }
  return {
    stop: () => {
      const usedMs: Record<string, number> = {};
      for (const [name, pids] of Object.entries(groups)) {
        let ticks = 0;
        for (const pid of new Set(pids())) {
          const end = cpuTicksOf(pid);
          if (end !== undefined) ticks += end - (startTicks.get(pid) ?? 0);
        }
        usedMs[name] = (ticks * 1_000) / clockTicksPerSec;
      }
      return usedMs;
    },
  };
}
