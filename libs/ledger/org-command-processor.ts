import assert from 'node:assert/strict';
import { deserialize, serialize } from 'node:v8';
import type { Pool, PoolClient } from 'pg';
import type { BudgetCommand } from '../domain/budget/commands.js';
import { decide } from '../domain/budget/decide.js';
import type { BudgetEvent } from '../domain/budget/events.js';
import { evolve } from '../domain/budget/evolve.js';
import { initialOrgState, type OrgState } from '../domain/budget/state.js';
import { MAX_PAGE_SIZE, prepareAppend, StaleStreamsError, type EventStore, type NewEvent, type PreparedAppend, type RecordedEvent } from '../eventstore/event-store.js';
import { assertStorableText, storableEvent, UnstorableEventError } from '../eventstore/storable.js';
import { ApiProblem } from '../platform/problem.js';

export function orgStreamId(orgId: string): string {
  return `org-${orgId}`;
}

export interface DecisionOutcome<View> {
  /** The events this command appended; empty when it was a retry of one already decided. */
  events: RecordedEvent<BudgetEvent['data']>[];
  /** What the caller read from the state right after this command was decided. */
  view: View;
}

/**
 * Raised by `submit` when too many commands are already waiting (for the org or in total).
 * It is an ApiProblem with status 503 and code `overloaded`, so the governor's one
 * exception filter answers it as such; the command was not decided and is safe to retry.
 */
export class OverloadedError extends ApiProblem {
  constructor(
    readonly scope: 'org' | 'total',
    readonly pendingCount: number,
    readonly pendingCountMax: number,
  ) {
    super('overloaded', `too many budget decisions waiting (${scope}: ${pendingCount} of at most ${pendingCountMax}); retry shortly`, { scope });
    this.name = 'OverloadedError';
  }
}

export interface OrgCommandProcessorOptions {
  /** Commands of one org decided and committed together at most. */
  maxBatchSize: number;
  /** Orgs whose batches share one transaction at most (group commit). */
  maxOrgsPerCommit?: number;
  /** Commands in one transaction at most, over all its orgs. */
  maxCommandsPerCommit?: number;
  /**
   * Transactions committing at once; each holds one pooled connection. 2, the default, lets
   * one group be built while the other commits. A third (or more) in flight raised the spread
   * workload's commit p99 from 3-4 ms to 5-10 ms at half the peak on 2 cores shared with the
   * database, with no gain in throughput (docs/benchmarks.md); it may pay where the database
   * has cores to spare.
   */
  maxConcurrentCommits?: number;
  /**
   * Batches of one org committing at once at most (pipelining). 1, the default, turns it off:
   * measured with the database on loopback, a batch behind another waits for that one's lock
   * and flush anyway, overtakes it to the lock in some 6 % of commits (and is sent again), and
   * lowered no latency (docs/benchmarks.md). It may pay where round trips are long.
   */
  maxInFlightPerOrg?: number;
  /** Commands waiting or being committed for one org before `submit` refuses with OverloadedError. */
  maxPendingPerOrg?: number;
  /** Commands waiting or being committed over all orgs before `submit` refuses with OverloadedError. */
  maxPendingTotal?: number;
  /**
   * Committed events of an org between two snapshots of its state at least (see
   * `OrgWriter.snapshot`); larger states wait longer, so that serialising one costs a bounded
   * amount per event.
   */
  snapshotIntervalEvents?: number;
}

/** What a processor has done since it started, for tests and metrics. */
export interface OrgCommandProcessorCounters {
  /** Transactions committed on the fast path (one round trip) and on the locked path. */
  fastCommits: number;
  lockedCommits: number;
  /** Batches whose own stream failed its fence, and batches sent again unchanged. */
  staleFences: number;
  resentBatches: number;
  /** Commands decided again after the batch they were in could not commit. */
  redecidedCommands: number;
  /** Times an org's cached state was dropped, to be rebuilt from its stream. */
  droppedStates: number;
  /** Dropped states brought back from the org's snapshot and the events after it. */
  restoredStates: number;
  /** States read from the first event of a stream that has events (no snapshot to start from). */
  rebuiltStates: number;
  /** Snapshots taken of org states. */
  snapshots: number;
  /** Commands refused alone because the event store could not hold their events. */
  unstorableCommands: number;
}

const DEFAULT_OPTIONS: Required<OrgCommandProcessorOptions> = {
  maxBatchSize: 500,
  maxOrgsPerCommit: 64,
  maxCommandsPerCommit: 1_000,
  maxConcurrentCommits: 2,
  maxInFlightPerOrg: 1,
  maxPendingPerOrg: 10_000,
  maxPendingTotal: 100_000,
  snapshotIntervalEvents: 1_000,
};

// A batch is sent unchanged at most this many times (it may be sent again when another
// org's stale stream failed its transaction, or when it reached the lock before the batch
// it follows had committed); after that its commands are decided again on the locked path.
const MAX_SENDS_PER_BATCH = 3;
// A command is decided at most this many times: once on the fast path and once more on the
// locked path after a conflict is the most the design needs; more means a bug.
const MAX_DECISIONS_PER_COMMAND = 3;
// After another process wrote to an org under its fast path, the org keeps to the locked
// path for this many transactions, doubling with each such conflict up to the max: every
// conflict on the fast path costs a rebuild of the org from its stream.
const LOCKED_COMMITS_AFTER_CONFLICT_MIN = 64;
const LOCKED_COMMITS_AFTER_CONFLICT_MAX = 65_536;
// A snapshot of S bytes is taken after S / this many events at the earliest, so serialising
// costs about as much per event as encoding that event once more.
const SNAPSHOT_BYTES_PER_EVENT = 100;
// A transaction that failed on the data it carried (SQLSTATE class 22, data exception, or
// 54, program limit exceeded) failed for one of its commands, not for the database: its
// commands are decided again apart, halving, until the one at fault fails alone.
const DATA_ERROR_SQLSTATE = /^(?:22|54)[0-9A-Z]{3}$/;

interface Pending {
  /** Submission order over the processor: keeps an org's commands in order when some are decided again. */
  seq: number;
  decisionCount: number;
  /**
   * 0 for an ordinary command. After a transaction it was in failed on its data: it is
   * decided again in a batch of at most this many such commands, alone in its transaction.
   */
  isolation: number;
  /** Times it was set apart so; each allows one more decision. */
  isolationRounds: number;
  command: BudgetCommand;
  view: (state: OrgState) => unknown;
  traceparent: string | undefined;
  resolve: (outcome: DecisionOutcome<unknown>) => void;
  reject: (error: unknown) => void;
}

/**
 * `open`: decided commands are still added to it; it is sent once the batches before it
 * allow. `sending`: in a transaction now. `parked`: its fence failed while a batch before it
 * was unresolved, so it waits for that one. `resend`: still valid, queued to be sent again.
 */
type BatchStatus = 'open' | 'sending' | 'parked' | 'resend';

/** One org's decided commands, committed as one append to its stream. */
interface Batch {
  readonly writer: OrgWriter;
  /** `fast`: decided on the cached state and committed in one round trip; `locked`: decided under the lock. */
  readonly path: 'fast' | 'locked';
  readonly items: Pending[];
  results: DecisionResult[];
  toAppend: NewEvent[];
  /** The stream version the batch's decisions start from. */
  expectedVersion: number;
  /** Set once no more commands are added: when sent (fast path) or decided (locked path). */
  prepared: PreparedAppend | undefined;
  status: BatchStatus;
  sendCount: number;
  /** Whether a batch of the org before this one was unresolved when this one was last sent. */
  sentBehind: boolean;
}

interface OrgWriter {
  readonly orgId: string;
  readonly streamId: string;
  readonly lockKey: number;
  /**
   * The org as decided so far: the committed stream plus every fast batch in `inFlight`.
   * Undefined when it must be rebuilt from the stream.
   */
  state: OrgState | undefined;
  /** The stream version `state` is at. */
  version: number;
  /** Commands not yet decided, in submission order. */
  waiting: Pending[];
  /**
   * Batches decided (or, on the locked path, being decided) and not yet resolved, oldest
   * first; on the fast path the last one may be open.
   */
  inFlight: Batch[];
  /** Commands submitted and not yet answered. */
  pendingCount: number;
  /** After a failure nothing is decided until every batch in flight has resolved; the state is then rebuilt. */
  draining: boolean;
  /** Commands of failed batches, decided again when draining ends, before `waiting`. */
  toRedecide: Pending[];
  /** Transactions on the locked path still to run before the fast path is used again. */
  lockedCommitsLeft: number;
  lockedCommitsAfterConflict: number;
  /**
   * The state at a committed version, serialised: a dropped state is restored from it and
   * the events after it, instead of being read from the stream's first event. Taken only
   * while nothing of the org is in flight, when the state is exactly the committed stream.
   */
  snapshot: { version: number; bytes: Buffer } | undefined;
  /** Commands waiting with `isolation` > 0. */
  suspectCount: number;
}

type DecisionResult = { ok: true; eventCount: number; firstIndex: number; view: unknown } | { ok: false; error: unknown };

// Many governor processes may decide for the same org; this lock makes a transaction the
// only writer of the org stream while it runs, and the expected version fences any writer
// whose cached state is stale (for example one that does not take the lock).
const ORG_LOCK_NAMESPACE = 0x6f72;

/**
 * Decides budget commands for each org in order, in batches against cached in-memory state,
 * and commits the batches of several orgs in one transaction (group commit) before
 * answering any of their callers.
 *
 * The fast path, while no other process writes to the org: commands are decided as they
 * arrive on the cached state, into the org's open batch, also while its previous batch is
 * still committing (so deciding is off the commit's critical path), and a batch is committed
 * in one round trip (`EventStore.commitFenced`: locks, fence and events in one statement), so
 * the org's lock is held only inside the database. A batch is sent once the one before it has
 * committed, or (pipelining, `maxInFlightPerOrg` > 1) while up to that many are in flight,
 * fenced on the last event of the one before, so that it commits only after it and only if
 * it did. A batch whose fence fails was answered to no one: once the batches before it have
 * resolved it is sent again if it may just have overtaken them, and otherwise the org is
 * rebuilt from its stream and the commands are decided again.
 *
 * The locked path, for an org being rebuilt or that another process wrote to lately: the
 * lock is taken first, the state caught up with what others wrote, the batch decided and
 * committed, in two round trips; one transaction of the org at a time.
 */
export class OrgCommandProcessor {
  private readonly writers = new Map<string, OrgWriter>();
  /** Orgs with commands waiting to be decided, oldest first; `pump` drops those that have none. */
  private readonly ready = new Set<OrgWriter>();
  /** Orgs with an open batch, oldest first; `takeGroup` drops those whose batch was sent. */
  private readonly sendable = new Set<OrgWriter>();
  /** Decided batches to send again, oldest first. */
  private readonly resendQueue: Batch[] = [];
  /** Commands in open batches: decided ahead of sending, bounded by `maxCommandsPerCommit`. */
  private decidedUnsentCount = 0;
  private readonly options: Required<OrgCommandProcessorOptions>;
  readonly counters: OrgCommandProcessorCounters = {
    fastCommits: 0,
    lockedCommits: 0,
    staleFences: 0,
    resentBatches: 0,
    redecidedCommands: 0,
    droppedStates: 0,
    restoredStates: 0,
    rebuiltStates: 0,
    snapshots: 0,
    unstorableCommands: 0,
  };
  private committingTransactions = 0;
  private pendingCount = 0;
  private nextSeq = 0;
  private pumpScheduled = false;

  constructor(
    private readonly store: EventStore,
    options: OrgCommandProcessorOptions = { maxBatchSize: DEFAULT_OPTIONS.maxBatchSize },
  ) {
    this.options = { ...DEFAULT_OPTIONS, ...stripUndefined(options) };
    for (const [name, value] of Object.entries(this.options)) {
      if (!Number.isInteger(value) || value < 1) throw new Error(`OrgCommandProcessor option ${name} must be a positive integer, got ${String(value)}`);
    }
  }

  /**
   * Decides a command in its org's next batch. `view` runs synchronously right after the
   * decision, on the state as this command left it, so the answer cannot see later commands.
   * The promise settles only after the batch's transaction has committed (or failed).
   */
  submit<View>(command: BudgetCommand, view: (state: OrgState) => View, traceparent?: string): Promise<DecisionOutcome<View>> {
    // The org id names the stream and its lock: one the store cannot hold would fail every
    // transaction its batches share with other orgs.
    try {
      assertStorableText(command.orgId, 'orgId');
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    let writer = this.writers.get(command.orgId);
    const orgPendingCount = writer?.pendingCount ?? 0;
    if (orgPendingCount >= this.options.maxPendingPerOrg) {
      return Promise.reject(new OverloadedError('org', orgPendingCount, this.options.maxPendingPerOrg));
    }
    if (this.pendingCount >= this.options.maxPendingTotal) {
      return Promise.reject(new OverloadedError('total', this.pendingCount, this.options.maxPendingTotal));
    }
    if (writer === undefined) {
      const streamId = orgStreamId(command.orgId);
      writer = {
        orgId: command.orgId,
        streamId,
        lockKey: lockKeyOf(streamId),
        state: undefined,
        version: 0,
        waiting: [],
        inFlight: [],
        pendingCount: 0,
        draining: false,
        toRedecide: [],
        lockedCommitsLeft: 0,
        lockedCommitsAfterConflict: LOCKED_COMMITS_AFTER_CONFLICT_MIN,
        snapshot: undefined,
        suspectCount: 0,
      };
      this.writers.set(command.orgId, writer);
    }
    const target = writer;
    return new Promise<DecisionOutcome<View>>((resolve, reject) => {
      const seq = this.nextSeq;
      this.nextSeq += 1;
      target.waiting.push({ seq, decisionCount: 0, isolation: 0, isolationRounds: 0, command, view, traceparent, resolve: resolve as (o: DecisionOutcome<unknown>) => void, reject });
      target.pendingCount += 1;
      this.pendingCount += 1;
      this.ready.add(target);
      this.schedulePump();
    });
  }

  /**
   * Starts transactions on the next turn of the event loop rather than at once, so that
   * commands submitted together (or by callers just answered) share a transaction.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    this.decideAhead();
    while (this.committingTransactions < this.options.maxConcurrentCommits) {
      const group = this.takeGroup();
      if (group === undefined) return;
      this.committingTransactions += 1;
      const committing = group.path === 'fast' ? this.commitFast(group.batches) : this.commitLocked(group.batches);
      void committing.finally(() => {
        this.committingTransactions -= 1;
        this.schedulePump();
      });
      // With pipelining, the org's next batch may go in the next transaction of this turn.
      this.decideAhead();
    }
  }

  /**
   * Decides the waiting commands of orgs on the fast path into their open batches, also while
   * an org's previous batch commits: on the state after it, to be sent once it has committed.
   */
  private decideAhead(): void {
    const { maxBatchSize, maxCommandsPerCommit } = this.options;
    for (const writer of this.ready) {
      if (this.decidedUnsentCount >= maxCommandsPerCommit) return;
      const { state } = writer;
      if (writer.waiting.length === 0 || writer.draining || state === undefined || writer.lockedCommitsLeft > 0 || writer.inFlight[0]?.path === 'locked') continue;
      // Set-apart commands go on the locked path, alone; and an org due for a snapshot lets
      // its batch in flight commit first, so that its state is the committed one for a moment.
      const ordinaryCount = this.ordinaryPrefixLength(writer);
      if (ordinaryCount === 0 || (writer.inFlight.length > 0 && this.snapshotDue(writer))) continue;
      let open = writer.inFlight.at(-1);
      if (open?.status !== 'open') {
        open = { writer, path: 'fast', items: [], results: [], toAppend: [], expectedVersion: writer.version, prepared: undefined, status: 'open', sendCount: 0, sentBehind: false };
        writer.inFlight.push(open);
      }
      const items = writer.waiting.splice(0, Math.min(maxBatchSize - open.items.length, maxCommandsPerCommit - this.decidedUnsentCount, ordinaryCount));
      writer.version += this.decideInto(open, items, state);
      open.items.push(...items);
      this.decidedUnsentCount += items.length;
      this.sendable.add(writer);
      if (writer.waiting.length === 0) this.ready.delete(writer);
    }
  }

  /**
   * The next transaction's batches: batches to send again and open batches that may go now,
   * one per org; or else one batch of each org due on the locked path, up to the limits.
   */
  private takeGroup(): { path: 'fast' | 'locked'; batches: Batch[] } | undefined {
    const { maxOrgsPerCommit, maxCommandsPerCommit, maxBatchSize, maxInFlightPerOrg } = this.options;
    const batches: Batch[] = [];
    const inGroup = new Set<OrgWriter>();
    let commandCount = 0;
    const fits = (batch: Batch): boolean => batches.length < maxOrgsPerCommit && !inGroup.has(batch.writer) && (batches.length === 0 || commandCount + batch.items.length <= maxCommandsPerCommit);
    const add = (batch: Batch): void => {
      batches.push(batch);
      inGroup.add(batch.writer);
      commandCount += batch.items.length;
    };
    while (this.resendQueue[0] !== undefined && fits(this.resendQueue[0])) {
      const batch = this.resendQueue.shift();
      if (batch !== undefined) add(batch);
    }
    for (const writer of this.sendable) {
      if (batches.length >= maxOrgsPerCommit || commandCount >= maxCommandsPerCommit) break;
      const open = writer.inFlight.at(-1);
      if (open?.status !== 'open') {
        this.sendable.delete(writer);
        continue;
      }
      // Sent behind the batch decided just before it, while that one is unresolved, it is
      // fenced on that one's last event: there must be one. Answers may cross, so that batch
      // is found by where it ends, not by its place; once it has committed, the version is
      // fence enough.
      const previous = writer.inFlight.findLast((b) => b !== open && b.expectedVersion + b.toAppend.length === open.expectedVersion);
      if (writer.inFlight.length - 1 >= maxInFlightPerOrg || (previous !== undefined && (previous.toAppend.length === 0 || previous.status === 'parked')) || !fits(open)) continue;
      this.sendable.delete(writer);
      open.prepared = prepareAppend(writer.streamId, open.expectedVersion, previous?.prepared?.eventIds.at(-1) ?? null, open.toAppend);
      open.status = 'sending';
      this.decidedUnsentCount -= open.items.length;
      add(open);
    }
    if (batches.length > 0) return { path: 'fast', batches };
    for (const writer of this.ready) {
      if (batches.length >= maxOrgsPerCommit || commandCount >= maxCommandsPerCommit) break;
      if (writer.waiting.length === 0) {
        this.ready.delete(writer);
        continue;
      }
      // The locked path decides under the lock, so the org must have nothing else in flight.
      const isolation = writer.waiting[0]?.isolation ?? 0;
      if (writer.draining || writer.inFlight.length > 0 || (isolation === 0 && writer.state !== undefined && writer.lockedCommitsLeft === 0)) continue;
      if (isolation > 0) {
        // Set apart after a transaction failed on its data: in a transaction of its own.
        if (batches.length > 0) continue;
        let count = 0;
        while (count < isolation && (writer.waiting[count]?.isolation ?? 0) > 0) count += 1;
        this.ready.delete(writer);
        return { path: 'locked', batches: [this.lockedBatch(writer, writer.waiting.splice(0, count))] };
      }
      this.ready.delete(writer);
      add(this.lockedBatch(writer, writer.waiting.splice(0, Math.min(maxBatchSize, maxCommandsPerCommit - commandCount, this.ordinaryPrefixLength(writer)))));
    }
    return batches.length > 0 ? { path: 'locked', batches } : undefined;
  }

  private lockedBatch(writer: OrgWriter, items: Pending[]): Batch {
    const batch: Batch = { writer, path: 'locked', items, results: [], toAppend: [], expectedVersion: 0, prepared: undefined, status: 'sending', sendCount: 1, sentBehind: false };
    writer.inFlight.push(batch);
    return batch;
  }

  /** How many waiting commands of the org come before the first one set apart. */
  private ordinaryPrefixLength(writer: OrgWriter): number {
    if (writer.suspectCount === 0) return writer.waiting.length;
    const index = writer.waiting.findIndex((item) => item.isolation > 0);
    return index < 0 ? writer.waiting.length : index;
  }

  /**
   * Decides commands in order on `state`, adding their events and answers to the batch, and
   * returns how many events they added. A command whose events the store could not hold is
   * refused alone, before they reach the state or the batch.
   */
  private decideInto(batch: Batch, items: readonly Pending[], state: OrgState): number {
    const eventCountBefore = batch.toAppend.length;
    for (const item of items) {
      item.decisionCount += 1;
      if (item.decisionCount > MAX_DECISIONS_PER_COMMAND + item.isolationRounds) {
        batch.results.push({ ok: false, error: new Error(`command decided ${item.decisionCount} times without committing; not decided again`) });
        continue;
      }
      let events: BudgetEvent[];
      let newEvents: NewEvent[];
      try {
        events = decide(item.command, state);
        newEvents = events.map((event) => storableEvent(toNewEvent(item.command, event, item.traceparent)));
      } catch (error) {
        if (error instanceof UnstorableEventError) this.counters.unstorableCommands += 1;
        batch.results.push({ ok: false, error });
        continue;
      }
      const firstIndex = batch.toAppend.length;
      events.forEach((event, index) => {
        evolve(state, event);
        batch.toAppend.push(newEvents[index]!);
      });
      // A failing view is a bug in the caller; the decision stands and is still committed.
      try {
        batch.results.push({ ok: true, eventCount: events.length, firstIndex, view: item.view(state) });
      } catch (error) {
        batch.results.push({ ok: false, error });
      }
    }
    return batch.toAppend.length - eventCountBefore;
  }

  /** One round trip: every batch's stream fenced and appended, committed in one statement. */
  private async commitFast(batches: Batch[]): Promise<void> {
    const appends: PreparedAppend[] = [];
    for (const batch of batches) {
      assert(batch.prepared !== undefined, 'fast batch sent undecided');
      batch.status = 'sending';
      batch.sendCount += 1;
      batch.sentBehind = batch.writer.inFlight.indexOf(batch) > 0;
      appends.push(batch.prepared);
    }
    let recorded: RecordedEvent[][];
    try {
      recorded = await this.store.commitFenced(ORG_LOCK_NAMESPACE, lockKeysOf(batches), appends);
    } catch (error) {
      if (error instanceof StaleStreamsError && error.staleStreams.length > 0) {
        const stale = new Set(error.staleStreams.map((s) => s.streamId));
        for (const batch of batches) {
          if (stale.has(batch.writer.streamId)) this.fenceFailed(batch);
          else this.sendAgain(batch);
        }
      } else if (isDataError(error)) {
        this.setApart(batches, error);
      } else {
        for (const batch of batches) this.failed(batch, error);
      }
      return;
    }
    this.counters.fastCommits += 1;
    batches.forEach((batch, index) => this.committed(batch, recorded[index] ?? []));
  }

  /**
   * Two round trips with the orgs' locks held: BEGIN, the locks and the stream versions; then
   * the batches, decided on the caught-up states, appended with COMMIT in the same query.
   */
  private async commitLocked(batches: Batch[]): Promise<void> {
    const conflicted = new Set<OrgWriter>();
    let recorded: RecordedEvent[][];
    try {
      // Rebuilt before the lock is taken, so that under it only what others committed
      // meanwhile is read: a long stream does not hold other processes up.
      for (const { writer } of batches) {
        if (writer.state === undefined) await this.catchUp(this.store.pool, writer, await this.store.streamVersion(this.store.pool, writer.streamId));
      }
      recorded = await this.inTransaction(batches, async (client, versions) => {
        const appends: PreparedAppend[] = [];
        for (const batch of batches) {
          const { writer } = batch;
          if ((await this.catchUp(client, writer, versions.get(writer.streamId) ?? 0)) > 0) conflicted.add(writer);
          assert(writer.state !== undefined, 'locked batch without a caught-up state');
          batch.expectedVersion = writer.version;
          this.decideInto(batch, batch.items, writer.state);
          batch.prepared = prepareAppend(writer.streamId, writer.version, null, batch.toAppend);
          appends.push(batch.prepared);
        }
        return this.store.commitFencedInTransaction(client, ORG_LOCK_NAMESPACE, lockKeysOf(batches), appends);
      });
    } catch (error) {
      if (isDataError(error)) this.setApart(batches, error);
      else for (const batch of batches) this.failed(batch, error);
      return;
    }
    this.counters.lockedCommits += 1;
    batches.forEach((batch, index) => {
      const { writer } = batch;
      writer.version += batch.toAppend.length;
      if (conflicted.has(writer)) writer.lockedCommitsLeft = writer.lockedCommitsAfterConflict;
      else if (writer.lockedCommitsLeft > 0) writer.lockedCommitsLeft -= 1;
      this.committed(batch, recorded[index] ?? []);
    });
  }

  /** The batch committed: its callers are answered, and whatever waited on it may go on. */
  private committed(batch: Batch, events: RecordedEvent[]): void {
    const { writer } = batch;
    this.removeFromFlight(batch);
    batch.items.forEach((item, index) => {
      if (item.isolation > 0) writer.suspectCount -= 1;
      const result = batch.results[index];
      if (result === undefined) {
        item.reject(new Error('decision result missing'));
      } else if (result.ok) {
        item.resolve({ events: events.slice(result.firstIndex, result.firstIndex + result.eventCount) as RecordedEvent<BudgetEvent['data']>[], view: result.view });
      } else {
        item.reject(result.error);
      }
    });
    this.answered(writer, batch.items.length);
    // A parked batch now first in line failed only because something before it was unresolved.
    const first = writer.inFlight[0];
    if (first?.status === 'parked' && !writer.draining) this.fenceFailed(first);
    this.takeSnapshotIfDue(writer);
    this.settle(writer);
  }

  /**
   * The transaction failed on the data it carried, so nothing of it was written, and one of
   * its commands is at fault: the others must not fail with it. Each org's commands are
   * decided again apart, on the state restored to before them: first each org alone in its
   * transaction, then in halves, until a command alone fails and is refused by itself.
   */
  private setApart(batches: readonly Batch[], error: unknown): void {
    const alone = batches.length === 1;
    for (const batch of batches) {
      const { writer } = batch;
      this.removeFromFlight(batch);
      for (const item of batch.items) if (item.isolation > 0) writer.suspectCount -= 1;
      const culprit = alone && batch.items.length === 1 ? batch.items[0] : undefined;
      if (culprit !== undefined) {
        this.counters.unstorableCommands += 1;
        culprit.reject(new UnstorableEventError('', 'refused_by_store', `the event store refused this command's events (${describeDataError(error)})`));
        this.answered(writer, 1);
      } else {
        const isolation = alone ? Math.ceil(batch.items.length / 2) : batch.items.length;
        for (const item of batch.items) {
          item.isolation = isolation;
          item.isolationRounds += 1;
        }
        writer.suspectCount += batch.items.length;
        writer.toRedecide.push(...batch.items);
        this.counters.redecidedCommands += batch.items.length;
      }
      // The state holds the failed batch's effects: it is dropped, and restored without them.
      this.invalidate(writer);
      this.settle(writer);
    }
  }

  /** Serialises the org's state while it is exactly the committed stream, when one is due. */
  private takeSnapshotIfDue(writer: OrgWriter): void {
    if (writer.state === undefined || writer.draining || writer.inFlight.length > 0 || writer.version === 0 || !this.snapshotDue(writer)) return;
    writer.snapshot = { version: writer.version, bytes: serialize(writer.state) };
    this.counters.snapshots += 1;
  }

  private snapshotDue(writer: OrgWriter): boolean {
    const { snapshot } = writer;
    if (snapshot === undefined) return true;
    const intervalEvents = Math.max(this.options.snapshotIntervalEvents, Math.ceil(snapshot.bytes.length / SNAPSHOT_BYTES_PER_EVENT));
    return writer.version - snapshot.version >= intervalEvents;
  }

  /**
   * The batch's own stream was not where it expected: another process wrote, or a batch of
   * the org before it had not committed (yet, or at all). No caller has been answered for it.
   */
  private fenceFailed(batch: Batch): void {
    const { writer } = batch;
    if (batch.status === 'sending') this.counters.staleFences += 1;
    if (writer.draining) {
      this.decideAgainLater(batch);
    } else if (writer.inFlight.indexOf(batch) > 0) {
      batch.status = 'parked';
    } else if (batch.sentBehind && batch.sendCount < MAX_SENDS_PER_BATCH) {
      // It may have reached the lock before the batch it follows, which has since committed.
      this.queueResend(batch);
    } else {
      // Nothing of this process's was before it: another process wrote to the org.
      writer.lockedCommitsLeft = writer.lockedCommitsAfterConflict;
      writer.lockedCommitsAfterConflict = Math.min(LOCKED_COMMITS_AFTER_CONFLICT_MAX, 2 * writer.lockedCommitsAfterConflict);
      this.invalidate(writer);
      this.decideAgainLater(batch);
    }
    this.settle(writer);
  }

  /** The batch's fence held but its transaction failed for another org's: it is still valid. */
  private sendAgain(batch: Batch): void {
    if (batch.writer.draining) {
      this.decideAgainLater(batch);
    } else if (batch.sendCount < MAX_SENDS_PER_BATCH) {
      this.queueResend(batch);
    } else {
      this.invalidate(batch.writer);
      this.decideAgainLater(batch);
    }
    this.settle(batch.writer);
  }

  private queueResend(batch: Batch): void {
    this.counters.resentBatches += 1;
    batch.status = 'resend';
    this.resendQueue.push(batch);
    this.schedulePump();
  }

  /**
   * The batch's transaction failed otherwise (a lost connection, an error in the database):
   * it may even have committed, so its callers get the error and the org is rebuilt.
   */
  private failed(batch: Batch, error: unknown): void {
    const { writer } = batch;
    this.removeFromFlight(batch);
    for (const item of batch.items) {
      if (item.isolation > 0) writer.suspectCount -= 1;
      item.reject(error);
    }
    this.answered(writer, batch.items.length);
    this.invalidate(writer);
    this.settle(writer);
  }

  /**
   * Drops the cached state, which holds the effects of batches that will not commit. Batches
   * not in a transaction now are taken back; those in one resolve on their own (a batch fenced
   * on a failed one cannot commit) before the org decides anything again.
   */
  private invalidate(writer: OrgWriter): void {
    if (writer.state !== undefined) this.counters.droppedStates += 1;
    writer.draining = true;
    writer.state = undefined;
    writer.version = 0;
    for (const batch of [...writer.inFlight]) {
      if (batch.status !== 'sending') this.decideAgainLater(batch);
    }
  }

  /** Its commands will be decided again, in their order, once the org has drained. */
  private decideAgainLater(batch: Batch): void {
    if (batch.status === 'open') this.decidedUnsentCount -= batch.items.length;
    this.removeFromFlight(batch);
    const queued = this.resendQueue.indexOf(batch);
    if (queued >= 0) this.resendQueue.splice(queued, 1);
    batch.writer.toRedecide.push(...batch.items);
    this.counters.redecidedCommands += batch.items.length;
  }

  private removeFromFlight(batch: Batch): void {
    const { writer } = batch;
    const index = writer.inFlight.indexOf(batch);
    assert(index >= 0, `batch of ${writer.streamId} resolved twice`);
    writer.inFlight.splice(index, 1);
  }

  private answered(writer: OrgWriter, count: number): void {
    writer.pendingCount -= count;
    this.pendingCount -= count;
    assert(writer.pendingCount >= 0 && this.pendingCount >= 0, 'more commands answered than submitted');
  }

  /** Ends draining once nothing of the org is in flight, and lets the org start batches again. */
  private settle(writer: OrgWriter): void {
    if (writer.draining && writer.inFlight.length === 0) {
      writer.draining = false;
      writer.waiting = [...writer.toRedecide.sort((a, b) => a.seq - b.seq), ...writer.waiting];
      writer.toRedecide = [];
    }
    if (writer.waiting.length > 0) this.ready.add(writer);
    // The open batch may go now that the one before it has resolved.
    if (writer.waiting.length > 0 || writer.inFlight.at(-1)?.status === 'open') this.schedulePump();
  }

  /**
   * Runs `work`, which must end with COMMIT, after BEGIN on a pooled connection. BEGIN, the
   * orgs' advisory locks and the read of their stream versions go in one simple-protocol
   * query. The locks are taken in ascending key order, the same in every process, so two
   * transactions can never wait for each other in a cycle. Keys are int32 numbers computed
   * here and stream ids are escaped by the driver, so nothing from a command reaches the SQL
   * unquoted.
   */
  private async inTransaction<T>(batches: readonly Batch[], work: (client: PoolClient, versions: Map<string, number>) => Promise<T>): Promise<T> {
    const client = await this.store.pool.connect();
    let reusable = true;
    try {
      const streamIds = batches.map((b) => client.escapeLiteral(b.writer.streamId)).join(', ');
      const results = (await client.query(
        `BEGIN; SELECT pg_advisory_xact_lock(${ORG_LOCK_NAMESPACE}, k) FROM unnest('{${lockKeysOf(batches).join(',')}}'::int4[]) AS k; ` +
          `SELECT stream_id, version FROM streams WHERE stream_id IN (${streamIds})`,
      )) as unknown as { rows: { stream_id: string; version: string }[] }[];
      const versions = new Map<string, number>();
      for (const row of results[2]?.rows ?? []) versions.set(row.stream_id, Number(row.version));
      return await work(client, versions);
    } catch (error) {
      if (client.getTransactionStatus() !== 'I') {
        // A connection that cannot even roll back is closed rather than reused.
        await client.query('ROLLBACK').catch(() => {
          reusable = false;
        });
      }
      throw error;
    } finally {
      client.release(!reusable);
    }
  }

  /**
   * Brings the cached org state up to `committedVersion`, rebuilding it from the start when
   * there is none, and returns how many events it read. The loop is bounded by the number
   * of pages the missing versions can fill.
   */
  private async catchUp(db: Pool | PoolClient, writer: OrgWriter, committedVersion: number): Promise<number> {
    if (writer.state !== undefined && writer.version === committedVersion) return 0;
    let state = writer.state;
    let version = writer.version;
    if (state === undefined || version > committedVersion) {
      const { snapshot } = writer;
      if (snapshot !== undefined && snapshot.version <= committedVersion) {
        state = deserialize(snapshot.bytes) as OrgState;
        version = snapshot.version;
        this.counters.restoredStates += 1;
      } else {
        state = initialOrgState(writer.orgId);
        version = 0;
        if (committedVersion > 0) this.counters.rebuiltStates += 1;
      }
    }
    // Dropped while reading, so a failure midway leaves the org marked for a rebuild.
    writer.state = undefined;
    let readCount = 0;
    const maxPageCount = Math.ceil((committedVersion - version) / MAX_PAGE_SIZE) + 1;
    for (let pageIndex = 0; version < committedVersion; pageIndex += 1) {
      if (pageIndex >= maxPageCount) throw new Error(`catch-up of ${writer.streamId} did not reach version ${committedVersion} in ${maxPageCount} pages`);
      const page = await this.store.readStream(db, writer.streamId, version);
      if (page.length === 0) throw new Error(`stream ${writer.streamId} ends at version ${version}, before its recorded version ${committedVersion}`);
      for (const event of page) {
        state = evolve(state, { type: event.type, data: event.data } as BudgetEvent);
        version = event.streamVersion;
      }
      readCount += page.length;
    }
    writer.state = state;
    writer.version = version;
    return readCount;
  }
}

/** The orgs' advisory lock keys, distinct and ascending. */
function lockKeysOf(batches: readonly Batch[]): number[] {
  return [...new Set(batches.map((b) => b.writer.lockKey))].sort((a, b) => a - b);
}

/** The org's advisory lock key: 32-bit FNV-1a of the stream id as a signed int4. */
function lockKeyOf(streamId: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(streamId, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

function isDataError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && DATA_ERROR_SQLSTATE.test(code);
}

/** The database's SQLSTATE and the first line of its message, short: the command's own data may be quoted in it. */
function describeDataError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const firstLine = typeof message === 'string' ? (message.split('\n')[0] ?? '') : '';
  return `SQLSTATE ${String(code)}: ${firstLine.slice(0, 120)}`;
}

function stripUndefined(options: OrgCommandProcessorOptions): Partial<OrgCommandProcessorOptions> {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

function toNewEvent(command: BudgetCommand, event: BudgetEvent, traceparent: string | undefined): NewEvent {
  return {
    type: event.type,
    data: event.data,
    occurredAt: command.at,
    metadata: {
      actor: command.actor,
      orgId: command.orgId,
      correlationId: correlationIdOf(event),
      ...(traceparent === undefined ? {} : { traceparent }),
    },
  };
}

function correlationIdOf(event: BudgetEvent): string {
  switch (event.type) {
    case 'OrgCreated':
      return event.data.orgId;
    case 'TeamCreated':
      return event.data.teamId;
    case 'AgentRegistered':
    case 'AgentKeyChanged':
      return event.data.agentId;
    case 'BudgetChanged':
    case 'PolicyChanged':
    case 'Frozen':
    case 'Unfrozen':
      return event.data.levelId;
    case 'SessionOpened':
    case 'SessionClosed':
      return event.data.sessionId;
    case 'Reserved':
    case 'ApprovalRequested':
    case 'ApprovalGranted':
    case 'ApprovalDenied':
    case 'LimitExceeded':
    case 'BudgetThresholdReached':
    case 'PaymentSigned':
    case 'SettlementReported':
    case 'Settled':
    case 'Refunded':
    case 'ShadowRefusal':
      return event.data.intentId;
    default: {
      const _never: never = event;
      return '';
    }
  }
}
