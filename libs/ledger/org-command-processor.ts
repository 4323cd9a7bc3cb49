import type { PoolClient } from 'pg';
import type { BudgetCommand } from '../domain/budget/commands.js';
import { decide } from '../domain/budget/decide.js';
import type { BudgetEvent } from '../domain/budget/events.js';
import { evolve } from '../domain/budget/evolve.js';
import { initialOrgState, type OrgState } from '../domain/budget/state.js';
import type { EventStore, NewEvent, RecordedEvent } from '../eventstore/event-store.js';

export function orgStreamId(orgId: string): string {
  return `org-${orgId}`;
}

export interface DecisionOutcome<View> {
  /** The events this command appended; empty when it was a retry of one already decided. */
  events: RecordedEvent<BudgetEvent['data']>[];
  /** What the caller read from the state right after this command was decided. */
  view: View;
}

interface Pending {
  command: BudgetCommand;
  view: (state: OrgState) => unknown;
  traceparent: string | undefined;
  resolve: (outcome: DecisionOutcome<unknown>) => void;
  reject: (error: unknown) => void;
}

interface OrgWriter {
  orgId: string;
  state: OrgState | undefined;
  version: number;
  pending: Pending[];
  draining: boolean;
}

export interface OrgCommandProcessorOptions {
  /** Commands decided and committed together at most. */
  maxBatchSize: number;
}

// Many governor processes may decide for the same org; this lock makes each batch the only
// writer of the org stream while it runs, and the expected version fences any writer whose
// cached state is stale.
const ORG_LOCK_NAMESPACE = 0x6f72;

/**
 * Decides budget commands for each org in order, one batch at a time: the batch is decided
 * against in-memory state, its events are committed in one transaction, and only then is
 * any caller answered. Throughput comes from the batching: one commit and one lock round
 * trip for many decisions, instead of a row-locking transaction per payment.
 */
export class OrgCommandProcessor {
  private readonly writers = new Map<string, OrgWriter>();

  constructor(
    private readonly store: EventStore,
    private readonly options: OrgCommandProcessorOptions = { maxBatchSize: 500 },
  ) {}

  /**
   * Decides a command in its org's next batch. `view` runs synchronously right after the
   * decision, on the state as this command left it, so the answer cannot see later commands.
   */
  submit<View>(command: BudgetCommand, view: (state: OrgState) => View, traceparent?: string): Promise<DecisionOutcome<View>> {
    let writer = this.writers.get(command.orgId);
    if (writer === undefined) {
      writer = { orgId: command.orgId, state: undefined, version: 0, pending: [], draining: false };
      this.writers.set(command.orgId, writer);
    }
    const target = writer;
    return new Promise<DecisionOutcome<View>>((resolve, reject) => {
      const pending: Pending = { command, view, traceparent, resolve: resolve as (o: DecisionOutcome<unknown>) => void, reject };
      target.pending.push(pending);
      if (!target.draining) void this.drain(target);
    });
  }

  private async drain(writer: OrgWriter): Promise<void> {
    writer.draining = true;
    try {
      while (writer.pending.length > 0) {
        const batch = writer.pending.splice(0, this.options.maxBatchSize);
        await this.decideBatch(writer, batch);
      }
    } finally {
      writer.draining = false;
    }
  }

  private async decideBatch(writer: OrgWriter, batch: Pending[]): Promise<void> {
    const results: ({ ok: true; events: BudgetEvent[]; firstIndex: number; view: unknown } | { ok: false; error: unknown })[] = [];
    let recorded: RecordedEvent[] = [];
    try {
      recorded = await this.store.transaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [ORG_LOCK_NAMESPACE, writer.orgId]);
        await this.catchUp(client, writer);
        const state = writer.state ?? initialOrgState(writer.orgId);
        const toAppend: NewEvent[] = [];
        for (const item of batch) {
          let events: BudgetEvent[];
          try {
            events = decide(item.command, state);
          } catch (error) {
            results.push({ ok: false, error });
            continue;
          }
          const firstIndex = toAppend.length;
          for (const event of events) {
            evolve(state, event);
            toAppend.push(toNewEvent(item.command, event, item.traceparent));
          }
          // A failing view is a bug in the caller; the decision stands and is still committed.
          try {
            results.push({ ok: true, events, firstIndex, view: item.view(state) });
          } catch (error) {
            results.push({ ok: false, error });
          }
        }
        writer.state = state;
        const appended = await this.store.append(client, orgStreamId(writer.orgId), writer.version, toAppend);
        writer.version += appended.length;
        return appended;
      });
    } catch (error) {
      // The in-memory state already holds this batch's effects; drop it and reload next time.
      writer.state = undefined;
      writer.version = 0;
      for (const item of batch) item.reject(error);
      return;
    }
    batch.forEach((item, index) => {
      const result = results[index];
      if (result === undefined) {
        item.reject(new Error('decision result missing'));
      } else if (result.ok) {
        const events = recorded.slice(result.firstIndex, result.firstIndex + result.events.length) as RecordedEvent<BudgetEvent['data']>[];
        item.resolve({ events, view: result.view });
      } else {
        item.reject(result.error);
      }
    });
  }

  /** Brings the cached org state up to the stream's latest committed version. */
  private async catchUp(client: PoolClient, writer: OrgWriter): Promise<void> {
    const streamId = orgStreamId(writer.orgId);
    let state = writer.state ?? initialOrgState(writer.orgId);
    let version = writer.state === undefined ? 0 : writer.version;
    for (;;) {
      const page = await this.store.readStream(client, streamId, version);
      for (const event of page) {
        state = evolve(state, { type: event.type, data: event.data } as BudgetEvent);
        version = event.streamVersion;
      }
      if (page.length === 0) break;
    }
    writer.state = state;
    writer.version = version;
  }
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

