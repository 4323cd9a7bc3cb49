import type { PoolClient } from 'pg';
import type { BudgetCommand } from '../domain/budget/commands.js';
import { decide } from '../domain/budget/decide.js';
import type { BudgetEvent } from '../domain/budget/events.js';
import { evolve } from '../domain/budget/evolve.js';
import { initialOrgState, type OrgState } from '../domain/budget/state.js';
import { MAX_PAGE_SIZE, type EventStore, type NewEvent, type RecordedEvent, type StreamAppend } from '../eventstore/event-store.js';
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
    super(503, 'overloaded', `too many budget decisions waiting (${scope}: ${pendingCount} of at most ${pendingCountMax}); retry shortly`, { scope });
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
  /** Transactions committing at once; each holds one pooled connection. */
  maxConcurrentCommits?: number;
  /** Commands waiting or being committed for one org before `submit` refuses with OverloadedError. */
  maxPendingPerOrg?: number;
  /** Commands waiting or being committed over all orgs before `submit` refuses with OverloadedError. */
  maxPendingTotal?: number;
}

const DEFAULT_OPTIONS: Required<OrgCommandProcessorOptions> = {
  maxBatchSize: 500,
  maxOrgsPerCommit: 64,
  maxCommandsPerCommit: 1_000,
  maxConcurrentCommits: 3,
  maxPendingPerOrg: 10_000,
  maxPendingTotal: 100_000,
};

interface Pending {
  command: BudgetCommand;
  view: (state: OrgState) => unknown;
  traceparent: string | undefined;
  resolve: (outcome: DecisionOutcome<unknown>) => void;
  reject: (error: unknown) => void;
}

interface OrgWriter {
  readonly orgId: string;
  readonly streamId: string;
  readonly lockKey: number;
  /** The org as of `version`; undefined when it must be rebuilt from the stream. */
  state: OrgState | undefined;
  version: number;
  /** Commands not yet in a transaction, in submission order. */
  waiting: Pending[];
  /** Commands in the org's transaction now in flight; an org is in at most one. */
  committingCount: number;
}

/** One org's share of a group transaction. */
interface OrgBatch {
  writer: OrgWriter;
  items: Pending[];
  results: DecisionResult[];
  toAppend: NewEvent[];
}

type DecisionResult = { ok: true; eventCount: number; firstIndex: number; view: unknown } | { ok: false; error: unknown };

// Many governor processes may decide for the same org; this lock makes a transaction the
// only writer of the org stream while it runs, and the expected version fences any writer
// whose cached state is stale (for example one that does not take the lock).
const ORG_LOCK_NAMESPACE = 0x6f72;

/**
 * Decides budget commands for each org in order, in batches against cached in-memory state,
 * and commits the batches of several orgs in one transaction (group commit) before
 * answering any of their callers. Throughput comes from sharing round trips and the durable
 * commit: on one busy org a batch holds many decisions, and across many quiet orgs one
 * transaction holds many orgs' batches. A few transactions run at once so the pipeline
 * stays full, but an org is never in two at once, which keeps its commands in order.
 */
export class OrgCommandProcessor {
  private readonly writers = new Map<string, OrgWriter>();
  /** Orgs with waiting commands and no transaction in flight, oldest first. */
  private readonly ready = new Set<OrgWriter>();
  private readonly options: Required<OrgCommandProcessorOptions>;
  private committingTransactions = 0;
  private pendingCount = 0;
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
    let writer = this.writers.get(command.orgId);
    const orgPendingCount = writer === undefined ? 0 : writer.waiting.length + writer.committingCount;
    if (orgPendingCount >= this.options.maxPendingPerOrg) {
      return Promise.reject(new OverloadedError('org', orgPendingCount, this.options.maxPendingPerOrg));
    }
    if (this.pendingCount >= this.options.maxPendingTotal) {
      return Promise.reject(new OverloadedError('total', this.pendingCount, this.options.maxPendingTotal));
    }
    if (writer === undefined) {
      const streamId = orgStreamId(command.orgId);
      writer = { orgId: command.orgId, streamId, lockKey: lockKeyOf(streamId), state: undefined, version: 0, waiting: [], committingCount: 0 };
      this.writers.set(command.orgId, writer);
    }
    const target = writer;
    return new Promise<DecisionOutcome<View>>((resolve, reject) => {
      target.waiting.push({ command, view, traceparent, resolve: resolve as (o: DecisionOutcome<unknown>) => void, reject });
      this.pendingCount += 1;
      if (target.committingCount === 0) this.ready.add(target);
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
    const { maxConcurrentCommits, maxOrgsPerCommit, maxCommandsPerCommit, maxBatchSize } = this.options;
    while (this.committingTransactions < maxConcurrentCommits && this.ready.size > 0) {
      const group: OrgBatch[] = [];
      let commandCount = 0;
      for (const writer of this.ready) {
        if (group.length >= maxOrgsPerCommit || commandCount >= maxCommandsPerCommit) break;
        this.ready.delete(writer);
        const items = writer.waiting.splice(0, Math.min(maxBatchSize, maxCommandsPerCommit - commandCount));
        writer.committingCount = items.length;
        commandCount += items.length;
        group.push({ writer, items, results: [], toAppend: [] });
      }
      this.committingTransactions += 1;
      void this.commitGroup(group).finally(() => {
        this.committingTransactions -= 1;
        for (const { writer, items } of group) {
          writer.committingCount = 0;
          this.pendingCount -= items.length;
          if (writer.waiting.length > 0) this.ready.add(writer);
        }
        this.schedulePump();
      });
    }
  }

  /**
   * One transaction for the batches of several orgs, in three round trips when no other
   * process wrote to them: BEGIN with the orgs' locks and stream versions; the stream
   * versions and events written in one statement; COMMIT. Callers are answered after it.
   */
  private async commitGroup(group: OrgBatch[]): Promise<void> {
    let recorded: RecordedEvent[][];
    try {
      recorded = await this.inTransaction(group, async (client, versions) => {
        for (const batch of group) {
          await this.catchUp(client, batch.writer, versions.get(batch.writer.streamId) ?? 0);
          decideBatch(batch);
        }
        const appends: StreamAppend[] = group.map((batch) => ({ streamId: batch.writer.streamId, expectedVersion: batch.writer.version, events: batch.toAppend }));
        return this.store.appendToStreams(client, appends);
      });
    } catch (error) {
      // The cached states already hold the failed batches' effects; drop them so the next
      // batch of each org rebuilds its state from the committed stream.
      for (const { writer, items } of group) {
        writer.state = undefined;
        writer.version = 0;
        for (const item of items) item.reject(error);
      }
      return;
    }
    group.forEach((batch, batchIndex) => {
      const events = recorded[batchIndex] ?? [];
      batch.writer.version += events.length;
      batch.items.forEach((item, index) => {
        const result = batch.results[index];
        if (result === undefined) {
          item.reject(new Error('decision result missing'));
        } else if (result.ok) {
          item.resolve({ events: events.slice(result.firstIndex, result.firstIndex + result.eventCount) as RecordedEvent<BudgetEvent['data']>[], view: result.view });
        } else {
          item.reject(result.error);
        }
      });
    });
  }

  /**
   * Runs `work` between BEGIN and COMMIT on a pooled connection. BEGIN, the orgs' advisory
   * locks and the read of their stream versions go in one simple-protocol query. The locks
   * are taken in ascending key order, the same in every process, so two transactions can
   * never wait for each other in a cycle. Keys are int32 numbers computed here and stream
   * ids are escaped by the driver, so nothing from a command reaches the SQL unquoted.
   */
  private async inTransaction<T>(group: readonly OrgBatch[], work: (client: PoolClient, versions: Map<string, number>) => Promise<T>): Promise<T> {
    const client = await this.store.pool.connect();
    let broken = false;
    try {
      const lockKeys = [...new Set(group.map((b) => b.writer.lockKey))].sort((a, b) => a - b);
      const streamIds = group.map((b) => client.escapeLiteral(b.writer.streamId)).join(', ');
      const results = (await client.query(
        `BEGIN; SELECT pg_advisory_xact_lock(${ORG_LOCK_NAMESPACE}, k) FROM unnest('{${lockKeys.join(',')}}'::int4[]) AS k; ` +
          `SELECT stream_id, version FROM streams WHERE stream_id IN (${streamIds})`,
      )) as unknown as { rows: { stream_id: string; version: string }[] }[];
      const versions = new Map<string, number>();
      for (const row of results[2]?.rows ?? []) versions.set(row.stream_id, Number(row.version));
      const value = await work(client, versions);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
      throw error;
    } finally {
      // A connection that could not even roll back is closed rather than reused.
      client.release(broken);
    }
  }

  /**
   * Brings the cached org state up to `committedVersion`, read under the org's lock. Nothing
   * is read when no other process wrote since this one's last batch. The loop is bounded by
   * the number of pages the missing versions can fill.
   */
  private async catchUp(client: PoolClient, writer: OrgWriter, committedVersion: number): Promise<void> {
    if (writer.state !== undefined && writer.version === committedVersion) return;
    let state = writer.state;
    let version = writer.version;
    if (state === undefined || version > committedVersion) {
      state = initialOrgState(writer.orgId);
      version = 0;
    }
    // Dropped while reading, so a failure midway leaves the org marked for a rebuild.
    writer.state = undefined;
    const maxPageCount = Math.ceil((committedVersion - version) / MAX_PAGE_SIZE) + 1;
    for (let pageIndex = 0; version < committedVersion; pageIndex += 1) {
      if (pageIndex >= maxPageCount) throw new Error(`catch-up of ${writer.streamId} did not reach version ${committedVersion} in ${maxPageCount} pages`);
      const page = await this.store.readStream(client, writer.streamId, version);
      if (page.length === 0) throw new Error(`stream ${writer.streamId} ends at version ${version}, before its recorded version ${committedVersion}`);
      for (const event of page) {
        state = evolve(state, { type: event.type, data: event.data } as BudgetEvent);
        version = event.streamVersion;
      }
    }
    writer.state = state;
    writer.version = version;
  }
}

/** Decides one org's batch in order against its cached state, collecting the events. */
function decideBatch(batch: OrgBatch): void {
  const { writer } = batch;
  const state = writer.state ?? initialOrgState(writer.orgId);
  writer.state = state;
  for (const item of batch.items) {
    let events: BudgetEvent[];
    try {
      events = decide(item.command, state);
    } catch (error) {
      batch.results.push({ ok: false, error });
      continue;
    }
    const firstIndex = batch.toAppend.length;
    for (const event of events) {
      evolve(state, event);
      batch.toAppend.push(toNewEvent(item.command, event, item.traceparent));
    }
    // A failing view is a bug in the caller; the decision stands and is still committed.
    try {
      batch.results.push({ ok: true, eventCount: events.length, firstIndex, view: item.view(state) });
    } catch (error) {
      batch.results.push({ ok: false, error });
    }
  }
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
      return event.data.levelId;
    case 'SessionOpened':
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
      return event.data.intentId;
    default: {
      const _never: never = event;
      return '';
    }
  }
}
