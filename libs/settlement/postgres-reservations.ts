import type pg from 'pg';
import type { Logger } from 'pino';
import type { EventStore, LogPosition, RecordedEvent } from '../eventstore/event-store.js';
import { committedLog, namedCheckpoint, type CheckpointStore, type CommittedLogReader } from '../eventstore/log-subscription.js';
import { Wakeup } from '../platform/concurrency.js';
import { PgListener } from '../platform/pg-listener.js';
import type { StoredPaymentOffer } from './rail-authorization.js';
import type { ReservationSigning, ReservedEvent } from './reservation-signing.js';
import { SignWindow } from './sign-window.js';

export const WORKER_CHECKPOINT = 'settlement-worker';
/** Migration 017 notifies here once per statement that appends events. */
export const EVENTS_APPENDED_CHANNEL = 'paybound_events_appended';
const PAGE_SIZE = 200;
/**
 * Reservations read past the checkpoint at most. Reading runs ahead of one that must wait
 * (its offer row is late) only this far; beyond, the worker waits for it as it always did.
 */
const WINDOW_SIZE_MAX = 200;
/** After a failed read or handling: long enough not to hammer a database that is down. */
const FAILURE_BACKOFF_MS = 500;

export interface PostgresReservationSourceOptions {
  pool: pg.Pool;
  store: EventStore;
  signing: ReservationSigning;
  logger: Logger;
  /**
   * How soon a reservation that must wait (its offer row is late) is tried again, and how
   * soon the log is read again while events are held back by an older transaction or while
   * no notification can arrive (no listener, or it is reconnecting).
   */
  idleWaitMs: number;
  /**
   * With a connection string, the source LISTENs for appended events and, when idle, reads
   * the log again on a notification or after `pollFallbackMs` at the latest (notifications
   * are lost while the listener reconnects). Without, it reads every `idleWaitMs`.
   */
  wakeups?: { connectionString: string; pollFallbackMs: number } | undefined;
  now?: () => number;
}

interface ReservedItem {
  key: string;
  position: LogPosition;
  event: ReservedEvent;
}

/**
 * Reserved events from the Postgres log, from the worker's checkpoint, handled
 * concurrently as they are read: a reservation read while others are being signed starts
 * at once (within the limit) rather than after them. The checkpoint moves only over the
 * reservations at the start of the window that are finished (see SignWindow), so a crash
 * or a restart never skips one; a restart may handle some again, which yields the same
 * authorization and records nothing new.
 */
export class PostgresReservationSource {
  private stopping = false;
  private loop: Promise<void> | undefined;
  private readonly now: () => number;
  private readonly wakeup = new Wakeup();
  private readonly listener: PgListener | undefined;
  private readonly reader: CommittedLogReader;
  private readonly checkpoint: CheckpointStore<LogPosition>;
  /** Reservation handlers still running, so that `stop` waits for them. */
  private readonly handling = new Set<Promise<void>>();
  private checkpointToSave: LogPosition | undefined;
  private savingCheckpoint: Promise<void> | undefined;

  constructor(private readonly options: PostgresReservationSourceOptions) {
    this.now = options.now ?? Date.now;
    this.reader = committedLog(options.store, ['Reserved']);
    this.checkpoint = namedCheckpoint(options.store, WORKER_CHECKPOINT);
    const wakeups = options.wakeups;
    this.listener =
      wakeups === undefined
        ? undefined
        : new PgListener({
            connectionString: wakeups.connectionString,
            applicationName: 'paybound-settlement-worker-wakeups',
            channels: [EVENTS_APPENDED_CHANNEL],
            logger: options.logger,
            onNotification: () => this.wakeup.notify(),
            // Whatever was appended while not listening went unheard: read once now.
            onListening: () => this.wakeup.notify(),
          });
  }

  /** The listener, for tests that take its connection away. */
  get notificationListener(): PgListener | undefined {
    return this.listener;
  }

  start(): void {
    this.listener?.start();
    this.loop = this.run();
  }

  /** Stops reading; waits for the handlers running and the last checkpoint write. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wakeup.notify();
    await this.loop;
    await Promise.all(this.handling);
    await this.savingCheckpoint;
    await this.listener?.stop();
  }

  private async run(): Promise<void> {
    const { pool, logger, idleWaitMs } = this.options;
    let window: SignWindow<ReservedItem> | undefined;
    while (!this.stopping) {
      let moreSoon = false;
      try {
        window ??= new SignWindow<ReservedItem>(await this.checkpoint.load(pool), WINDOW_SIZE_MAX, { retryLaterMs: idleWaitMs, failedMs: FAILURE_BACKOFF_MS });
        for (const due of window.takeDue(this.now())) this.startHandling(window, due, 'fetch');
        const readCount = await this.readMore(window);
        // A full page: there may be more right now.
        if (readCount >= PAGE_SIZE && window.room > 0) continue;
        // Events an older transaction still holds back become readable when it ends, which may
        // append nothing and so wake nobody: look again soon rather than wait for a wake-up.
        moreSoon = window.room > 0 && (await this.reader.hasEventsAfter(pool, window.readAfter));
      } catch (error) {
        // Postgres is unreachable: nothing is signed, and the log is read again.
        logger.warn({ err: { message: (error as Error).message } }, 'reading reservations failed; retrying');
        await sleep(Math.max(idleWaitMs, FAILURE_BACKOFF_MS));
        continue;
      }
      const listening = this.listener?.listening === true;
      const idleMs = moreSoon || !listening ? idleWaitMs : (this.options.wakeups?.pollFallbackMs ?? idleWaitMs);
      const retryAtMs = window.nextRetryAtMs();
      await this.wakeup.wait(retryAtMs === undefined ? idleMs : Math.max(0, Math.min(idleMs, retryAtMs - this.now())));
    }
  }

  /** Reads the next reservations into the window's free places and starts handling them; returns how many. */
  private async readMore(window: SignWindow<ReservedItem>): Promise<number> {
    if (window.room === 0) return 0;
    const page = (await this.reader.readPage(this.options.pool, window.readAfter, Math.min(window.room, PAGE_SIZE))) as ReservedEvent[];
    if (page.length === 0) return 0;
    // Read before anything enters the window: if this fails, the page is simply read again.
    const offers = await this.options.signing.storedOffers(page.map((event) => event.data.intentId));
    const items = page.map((event): ReservedItem => ({ key: eventKey(event), position: this.reader.positionAfter(event), event }));
    window.add(items);
    for (const item of items) this.startHandling(window, item, { prefetched: offers.get(item.event.data.intentId) });
    return page.length;
  }

  private startHandling(window: SignWindow<ReservedItem>, item: ReservedItem, offer: { prefetched: StoredPaymentOffer | undefined } | 'fetch'): void {
    const { signing } = this.options;
    const task = signing.handle(item.event, offer).then((outcome) => {
      signing.warnFailures([outcome]);
      const wasFull = window.room === 0;
      const moved = window.finish(item.key, outcome, this.now());
      if (moved !== undefined) this.saveCheckpointSoon(moved);
      // The loop looks again when a place opened in a full window or a retry is to be planned.
      if (outcome !== 'done' || (wasFull && window.room > 0)) this.wakeup.notify();
    });
    this.handling.add(task);
    void task.finally(() => this.handling.delete(task));
  }

  /**
   * Stores the latest checkpoint, one write at a time: handlers finishing together share
   * one write, and a later position is never overwritten by an earlier one.
   */
  private saveCheckpointSoon(position: LogPosition): void {
    this.checkpointToSave = position;
    if (this.savingCheckpoint !== undefined) return;
    this.savingCheckpoint = (async () => {
      while (this.checkpointToSave !== undefined) {
        const next = this.checkpointToSave;
        this.checkpointToSave = undefined;
        try {
          await this.checkpoint.save(this.options.pool, next);
        } catch (error) {
          // Not saved: a restart would handle these reservations again, which is safe.
          this.options.logger.warn({ err: { message: (error as Error).message } }, 'saving the worker checkpoint failed; retrying');
          this.checkpointToSave ??= next;
          if (this.stopping) return;
          await sleep(FAILURE_BACKOFF_MS);
        }
      }
    })().finally(() => {
      this.savingCheckpoint = undefined;
    });
  }
}

/** Events are keyed by their place in the log, which is unique and what the checkpoint orders by. */
function eventKey(event: RecordedEvent): string {
  return `${event.transactionId}/${event.globalPosition}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
