import { describe, expect, it } from 'vitest';
import { Coalescer, ConcurrencyLimit, Wakeup } from './concurrency.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('ConcurrencyLimit', () => {
  it('never runs more than its limit at once, and runs every task', async () => {
    const limit = new ConcurrencyLimit(3);
    let running = 0;
    let runningMax = 0;
    const gates: (() => void)[] = [];
    const results = Array.from({ length: 10 }, (_, index) =>
      limit.run(async () => {
        running += 1;
        runningMax = Math.max(runningMax, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running -= 1;
        return index;
      }),
    );
    for (let round = 0; round < 20 && gates.length > 0; round++) {
      await tick();
      expect(running).toBeLessThanOrEqual(3);
      gates.splice(0, gates.length).forEach((open) => open());
      await tick();
    }
    expect(await Promise.all(results)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(runningMax).toBe(3);
    expect(limit.runningCount).toBe(0);
  });

  it('frees the slot of a task that throws', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(limit.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limit.run(() => Promise.resolve('next'))).toBe('next');
  });
});

describe('Wakeup', () => {
  it('returns at once when notified before the wait, and only once', async () => {
    const wakeup = new Wakeup();
    wakeup.notify();
    wakeup.notify();
    expect(await wakeup.wait(10_000)).toBe(true);
    expect(await wakeup.wait(5)).toBe(false);
  });

  it('wakes a wait in progress and times out without a notify', async () => {
    const wakeup = new Wakeup();
    const waited = wakeup.wait(10_000);
    wakeup.notify();
    expect(await waited).toBe(true);
    const started = Date.now();
    expect(await wakeup.wait(20)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });
});

describe('Coalescer', () => {
  it('hands the calls of one turn to one flush, split at batchMax, each caller getting its own result', async () => {
    const flushed: number[][] = [];
    const coalescer = new Coalescer<number, string>((items) => {
      flushed.push(items);
      return Promise.resolve(items.map((n) => `r${n}`));
    }, 4);
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map((n) => coalescer.submit(n)));
    expect(results).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
    expect(flushed).toEqual([
      [1, 2, 3, 4],
      [5, 6],
    ]);
    expect(await coalescer.submit(7)).toBe('r7');
    expect(flushed).toHaveLength(3);
  });

  it('rejects every caller of a failed batch, and of a batch answered with the wrong number of results', async () => {
    const failing = new Coalescer<number, number>(() => Promise.reject(new Error('db down')), 10);
    const answers = await Promise.allSettled([failing.submit(1), failing.submit(2)]);
    expect(answers.map((a) => a.status)).toEqual(['rejected', 'rejected']);
    const short = new Coalescer<number, number>(() => Promise.resolve([1]), 10);
    await expect(Promise.all([short.submit(1), short.submit(2)])).rejects.toThrow('flush returned 1 results for 2 items');
  });
});
