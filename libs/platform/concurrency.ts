// Three small primitives for loops that must stay bounded: a limit on work in flight, a
// wake-up that is never lost between a check and the wait that follows it, and a batcher
// that turns the calls of one event-loop turn into one database round trip.

/** At most `limit` tasks run at once; the others wait in arrival order. */
export class ConcurrencyLimit {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new Error(`ConcurrencyLimit: limit must be a positive integer, got ${String(limit)}`);
  }

  /** Tasks running now; for tests and logs. */
  get runningCount(): number {
    return this.running;
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.limit) await new Promise<void>((resolve) => this.queue.push(resolve));
    else this.running += 1;
    try {
      return await task();
    } finally {
      // The slot passes straight to the next waiter, so `running` never exceeds the limit.
      const next = this.queue.shift();
      if (next === undefined) this.running -= 1;
      else next();
    }
  }
}

/**
 * Lets one loop sleep until it is told there is work, or until a timeout. A `notify` that
 * comes while the loop is busy is remembered, so the next `wait` returns at once: the loop
 * cannot miss work that arrived between its last read and its sleep.
 */
export class Wakeup {
  private pending = false;
  private wake: (() => void) | undefined;

  notify(): void {
    const wake = this.wake;
    if (wake === undefined) {
      this.pending = true;
      return;
    }
    this.wake = undefined;
    wake();
  }

  /** Resolves true when notified (now or earlier), false when `timeoutMs` passed first. */
  wait(timeoutMs: number): Promise<boolean> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve(false);
      }, timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }
}

interface Queued<Item, Result> {
  item: Item;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects the items submitted during one turn of the event loop and hands them to `flush`
 * together (at most `batchMax` per call), so that many concurrent callers share one
 * statement. `flush` returns one result per item, in order; if it throws, every caller of
 * that batch gets the error.
 */
export class Coalescer<Item, Result> {
  private queued: Queued<Item, Result>[] = [];
  private scheduled = false;

  constructor(
    private readonly flush: (items: Item[]) => Promise<Result[]>,
    private readonly batchMax: number,
  ) {
    if (!Number.isInteger(batchMax) || batchMax < 1) throw new Error(`Coalescer: batchMax must be a positive integer, got ${String(batchMax)}`);
  }

  submit(item: Item): Promise<Result> {
    return new Promise<Result>((resolve, reject) => {
      this.queued.push({ item, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.drain());
    });
  }

  private drain(): void {
    this.scheduled = false;
    const all = this.queued;
    this.queued = [];
    for (let start = 0; start < all.length; start += this.batchMax) void this.flushBatch(all.slice(start, start + this.batchMax));
  }

  private async flushBatch(batch: Queued<Item, Result>[]): Promise<void> {
    try {
      const results = await this.flush(batch.map((entry) => entry.item));
      if (results.length !== batch.length) throw new Error(`Coalescer: flush returned ${results.length} results for ${batch.length} items`);
      batch.forEach((entry, index) => entry.resolve(results[index] as Result));
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    }
  }
}
