import type { LogPosition } from '../eventstore/event-store.js';

// Which reservations the worker is handling and how far its checkpoint may move, decided
// without I/O. Reservations are handled concurrently and finish in any order; the
// checkpoint (or the Kafka offset) may pass only the finished ones at the start of the
// log, so a crash never skips a reservation whatever order the handlers finish in.

/** What became of one attempt at handling a reservation. */
export type HandlingOutcome =
  /** Signed, released, or refused by the ledger as already decided: never needs handling again. */
  | 'done'
  /** Must wait (its offer row is not there yet): handled again shortly. */
  | 'retry_later'
  /** Handling threw (database or chain unreachable): nothing is assumed, handled again after a pause. */
  | 'failed'
  /** The worker was stopping before this reservation's turn came. */
  | 'not_started';

/** How many outcomes at the start are `done`: the checkpoint may pass those, no further. */
export function finishedPrefixLength(outcomes: readonly HandlingOutcome[]): number {
  const firstUnfinished = outcomes.findIndex((outcome) => outcome !== 'done');
  return firstUnfinished === -1 ? outcomes.length : firstUnfinished;
}

export interface WindowItem {
  /** Unique per item: the event's place in the log. */
  key: string;
  position: LogPosition;
}

interface Entry<Item> {
  item: Item;
  state: 'running' | 'done' | 'waiting';
  retryAtMs: number;
}

export interface RetryDelays {
  retryLaterMs: number;
  failedMs: number;
}

/**
 * The reservations read past the checkpoint and not yet let go, in log order. The window
 * holds `sizeMax` at most, which bounds both memory and how far reading can run ahead of a
 * reservation that must wait; an entry leaves it only when it and every one before it are
 * done, and the checkpoint then moves to it.
 */
export class SignWindow<Item extends WindowItem> {
  private entries: Entry<Item>[] = [];
  private readonly byKey = new Map<string, Entry<Item>>();

  constructor(
    private checkpointPosition: LogPosition,
    readonly sizeMax: number,
    private readonly delays: RetryDelays,
  ) {
    if (!Number.isInteger(sizeMax) || sizeMax < 1) throw new Error(`SignWindow: sizeMax must be a positive integer, got ${String(sizeMax)}`);
  }

  get checkpoint(): LogPosition {
    return this.checkpointPosition;
  }

  get size(): number {
    return this.entries.length;
  }

  get room(): number {
    return this.sizeMax - this.entries.length;
  }

  /** Where the next read starts: after the last item read, or the checkpoint. */
  get readAfter(): LogPosition {
    return this.entries.at(-1)?.item.position ?? this.checkpointPosition;
  }

  /** Items just read, in log order after `readAfter`; they are running from now on. */
  add(items: readonly Item[]): void {
    if (items.length > this.room) throw new Error(`SignWindow: ${items.length} items do not fit in the ${this.room} places left`);
    for (const item of items) {
      if (this.byKey.has(item.key)) throw new Error(`SignWindow: ${item.key} is already in the window`);
      const entry: Entry<Item> = { item, state: 'running', retryAtMs: 0 };
      this.entries.push(entry);
      this.byKey.set(item.key, entry);
    }
  }

  /**
   * Records how a running item's attempt ended, then lets go of the finished items at the
   * start. Returns the new checkpoint when it moved.
   */
  finish(key: string, outcome: HandlingOutcome, nowMs: number): LogPosition | undefined {
    const entry = this.byKey.get(key);
    if (entry === undefined || entry.state !== 'running') throw new Error(`SignWindow: ${key} is not running`);
    if (outcome === 'done') {
      entry.state = 'done';
    } else {
      entry.state = 'waiting';
      entry.retryAtMs = nowMs + (outcome === 'retry_later' ? this.delays.retryLaterMs : outcome === 'failed' ? this.delays.failedMs : 0);
    }
    return this.advance();
  }

  /** Waiting items whose retry is due, now running again, oldest first. */
  takeDue(nowMs: number): Item[] {
    const due: Item[] = [];
    for (const entry of this.entries) {
      if (entry.state !== 'waiting' || entry.retryAtMs > nowMs) continue;
      entry.state = 'running';
      due.push(entry.item);
    }
    return due;
  }

  /** When the next waiting item is due, if any waits. */
  nextRetryAtMs(): number | undefined {
    let next: number | undefined;
    for (const entry of this.entries) if (entry.state === 'waiting' && (next === undefined || entry.retryAtMs < next)) next = entry.retryAtMs;
    return next;
  }

  /** Items running now. */
  runningCount(): number {
    return this.entries.filter((entry) => entry.state === 'running').length;
  }

  private advance(): LogPosition | undefined {
    const finished = finishedPrefixLength(this.entries.map((entry) => (entry.state === 'done' ? 'done' : 'not_started')));
    if (finished === 0) return undefined;
    const released = this.entries.splice(0, finished);
    for (const entry of released) this.byKey.delete(entry.item.key);
    this.checkpointPosition = released.at(-1)?.item.position ?? this.checkpointPosition;
    return this.checkpointPosition;
  }
}
