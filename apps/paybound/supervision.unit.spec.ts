import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { RESTART_DELAY_MAX_MS, RESTART_STABLE_AFTER_MS, restartDelayMs, RestartingPart, type RunningPart } from './supervision.js';

describe('the wait before a restart', () => {
  it('doubles from one second with each failure in a row, up to thirty', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(restartDelayMs)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect(restartDelayMs(0)).toBe(1_000);
    expect(restartDelayMs(Number.MAX_SAFE_INTEGER)).toBe(RESTART_DELAY_MAX_MS);
  });
});

/** A stand-in process: it ends when the test says so, or when stopped. */
class FakeRun implements RunningPart {
  stopped = false;
  private end!: (code: number | string) => void;
  readonly exited = new Promise<number | string>((resolve) => (this.end = resolve));
  constructor(readonly pid: number) {}
  die(code: number | string): void {
    this.end(code);
  }
  stop(): Promise<void> {
    this.stopped = true;
    this.end('SIGTERM');
    return Promise.resolve();
  }
}

describe('a part that is started again when it dies', () => {
  let lines: string[];
  let runs: FakeRun[];
  let failNext: number;
  let keepRunning: boolean;
  let nextPid: number;
  let part: RestartingPart<FakeRun>;

  beforeEach(() => {
    vi.useFakeTimers();
    lines = [];
    runs = [];
    failNext = 0;
    keepRunning = true;
    nextPid = 1000;
    part = new RestartingPart(
      'the worker',
      () => {
        if (failNext > 0) {
          failNext -= 1;
          return Promise.reject(new Error('port in use\nmore detail'));
        }
        const run = new FakeRun(nextPid++);
        runs.push(run);
        return Promise.resolve(run);
      },
      {
        say: (line) => lines.push(line),
        started: (run) => lines.push(`started ${run.pid}`),
        ended: (run, code) => lines.push(`ended ${run.pid} ${code}`),
        keepRunning: () => keepRunning,
        logHint: 'worker.log',
      },
    );
  });
  afterEach(() => vi.useRealTimers());

  it('starts it again after one second, and says so', async () => {
    await part.start();
    runs[0]!.die('SIGKILL');
    await vi.advanceTimersByTimeAsync(999);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(2);
    expect(part.pid).toBe(1001);
    expect(lines).toEqual([
      'started 1000',
      'ended 1000 SIGKILL',
      '  ! the worker exited (SIGKILL); starting it again in 1 s (see worker.log)',
      'started 1001',
      '  ✓ the worker is running again (pid 1001)',
    ]);
  });

  it('waits longer after each failure in a row, and forgets them once it stayed up', async () => {
    await part.start();
    runs[0]!.die(1);
    failNext = 2;
    await vi.advanceTimersByTimeAsync(1_000); // fails, next in 2 s
    await vi.advanceTimersByTimeAsync(2_000); // fails, next in 4 s
    await vi.advanceTimersByTimeAsync(3_999);
    expect(runs).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(runs).toHaveLength(2);
    expect(lines.filter((line) => line.includes('did not start again'))).toEqual([
      '  ! the worker did not start again: port in use; next try in 2 s',
      '  ! the worker did not start again: port in use; next try in 4 s',
    ]);
    // A quick second death continues the series: 8 s.
    runs[1]!.die(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(lines.at(-1)).toBe('  ! the worker exited (1); starting it again in 8 s (see worker.log)');
    await vi.advanceTimersByTimeAsync(8_000);
    expect(runs).toHaveLength(3);
    // Up for a minute, then dead: a new series, one second again.
    await vi.advanceTimersByTimeAsync(RESTART_STABLE_AFTER_MS);
    runs[2]!.die(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(lines.at(-1)).toBe('  ! the worker exited (1); starting it again in 1 s (see worker.log)');
  });

  it('is not started again once everything is stopping, nor after stop()', async () => {
    await part.start();
    keepRunning = false;
    runs[0]!.die(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toHaveLength(1);

    keepRunning = true;
    const other = part;
    await other.start();
    runs[1]!.die(1);
    await other.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toHaveLength(2);
  });

  it('stops a run that came up while it was being stopped', async () => {
    await part.start();
    runs[0]!.die(1);
    await vi.advanceTimersByTimeAsync(999);
    const stopping = part.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    await stopping;
    expect(runs).toHaveLength(1);
    expect(runs[0]!.stopped).toBe(false);
  });

  it('fails its first start as the part fails, without retrying', async () => {
    failNext = 1;
    await expect(part.start()).rejects.toThrow('port in use');
    await vi.advanceTimersByTimeAsync(60_000);
    expect(runs).toHaveLength(0);
  });
});
