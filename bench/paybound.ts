import { performance } from 'node:perf_hooks';
import type { BudgetCommand, Reserve } from '../libs/domain/budget/commands.js';
import { remainingMicros } from '../libs/domain/budget/state.js';
import { EventStore, LOG_START, MAX_PAGE_SIZE, positionOf, type RecordedEvent } from '../libs/eventstore/event-store.js';
import { OrgCommandProcessor } from '../libs/ledger/org-command-processor.js';
import { checkBudgetInvariants, type InvariantReport } from '../test/support/invariants.js';
import type { DecideIntent } from './load.js';
import { agentIdOf, orgIdOf, sessionIdOf, targetOf, type Workload } from './workload.js';

// Paybound's decision path as the governor uses it: every command goes through
// OrgCommandProcessor.submit, which decides it in its org's next batch.

/**
 * The event store with every fenced commit timed, from the call to its answer: what a batch
 * waits for once it is sent. A command's answer waits for the org's batch in flight and then
 * for its own, so a run's latency reads against about two of these.
 */
export class TimedEventStore extends EventStore {
  readonly commitDurationsMs: number[] = [];

  override async commitFenced(...args: Parameters<EventStore['commitFenced']>): Promise<RecordedEvent[][]> {
    const startedAtMs = performance.now();
    try {
      return await super.commitFenced(...args);
    } finally {
      this.commitDurationsMs.push(performance.now() - startedAtMs);
    }
  }
}

/** Time and ids arrive in commands; one instant for the whole bench keeps them comparable. */
export interface BenchClock {
  atIso: string;
  sessionExpiresAtIso: string;
  validBeforeIso: string;
}

export function benchClock(nowMs: number): BenchClock {
  return {
    atIso: new Date(nowMs).toISOString(),
    sessionExpiresAtIso: new Date(nowMs + 24 * 3_600_000).toISOString(),
    validBeforeIso: new Date(nowMs + 5 * 60_000).toISOString(),
  };
}

/**
 * Creates every org, its agents and their sessions through the processor. An org's
 * commands are submitted together so they are decided in as few batches as possible.
 */
export async function setUpPaybound(processor: OrgCommandProcessor, workload: Workload, clock: BenchClock): Promise<void> {
  const decisions: Promise<unknown>[] = [];
  const submit = (command: BudgetCommand): void => {
    decisions.push(processor.submit(command, () => undefined));
  };
  for (let orgIndex = 0; orgIndex < workload.orgCount; orgIndex += 1) {
    const base = { orgId: orgIdOf(orgIndex), actor: 'admin:bench', at: clock.atIso };
    submit({ ...base, type: 'CreateOrg', name: `bench org ${orgIndex}`, limitMicros: workload.orgLimitMicros });
    for (let agentIndex = 0; agentIndex < workload.agentsPerOrg; agentIndex += 1) {
      const agentId = agentIdOf(orgIndex, agentIndex);
      submit({ ...base, type: 'RegisterAgent', agentId, teamId: null, name: `bench agent ${agentIndex}`, limitMicros: workload.agentLimitMicros });
      submit({
        ...base,
        type: 'OpenSession',
        sessionId: sessionIdOf(orgIndex, agentIndex),
        agentId,
        limitMicros: workload.sessionLimitMicros,
        expiresAt: clock.sessionExpiresAtIso,
        maxPayments: null,
        metadata: {},
        idempotency: null,
      });
    }
  }
  await Promise.all(decisions);
}

export function payboundDecider(processor: OrgCommandProcessor, workload: Workload, clock: BenchClock, runTag: string): DecideIntent {
  return async (intentIndex) => {
    const target = targetOf(workload, intentIndex);
    const command: Reserve = {
      type: 'Reserve',
      orgId: target.orgId,
      actor: `agent:${target.agentId}`,
      at: clock.atIso,
      intentId: `${runTag}-${intentIndex}`,
      sessionId: target.sessionId,
      agentId: target.agentId,
      amountMicros: workload.amountMicros,
      amountAtomic: workload.amountMicros,
      asset: '0x0000000000000000000000000000000000000001',
      network: 'eip155:31337',
      payTo: '0x0000000000000000000000000000000000000002',
      resource: 'http://127.0.0.1/bench',
      validBefore: clock.validBeforeIso,
      method: 'GET',
      idempotency: null,
    };
    // The view is what the governor answers with: the session's remaining budget.
    const outcome = await processor.submit(command, (state) => {
      const session = state.sessions.get(target.sessionId);
      return session === undefined ? null : remainingMicros(session.budget, clock.atIso);
    });
    const decision = outcome.events[0]?.type;
    if (decision === 'Reserved') return 'accepted';
    if (decision === 'LimitExceeded') return 'refused';
    throw new Error(`intent ${command.intentId} was decided as ${decision ?? 'nothing'}`);
  };
}

export interface PayboundAudit {
  report: InvariantReport;
  eventCount: number;
  /** Distinct transactions that committed Reserved or LimitExceeded events: the batches. */
  decisionCommitCount: number;
}

// How long the audit waits for every committed event to become readable.
const LOG_SETTLE_TIMEOUT_MS = 30_000;
const LOG_SETTLE_POLL_MS = 50;

/**
 * Reads the whole committed log in pages and replays it with the independent checker. A
 * reader of the log only sees events below the oldest transaction still open anywhere on
 * the server (see EventStore.readAll), and other databases on a shared server have theirs;
 * so the audit keeps reading until it has every event the table holds, for a bounded time.
 */
export async function auditPaybound(store: EventStore, maxEventCount: number): Promise<PayboundAudit> {
  const events: RecordedEvent[] = [];
  const maxPageCount = Math.ceil(maxEventCount / MAX_PAGE_SIZE) + 2;
  const committedCount = Number((await store.pool.query<{ count: string }>('SELECT count(*) FROM events')).rows[0]?.count ?? 0);
  if (committedCount > maxEventCount) throw new Error(`the log holds ${committedCount} events, more than the ${maxEventCount} this run can have made`);
  const deadlineMs = Date.now() + LOG_SETTLE_TIMEOUT_MS;
  let position = LOG_START;
  for (let pageIndex = 0; events.length < committedCount; pageIndex += 1) {
    if (pageIndex >= maxPageCount + LOG_SETTLE_TIMEOUT_MS / LOG_SETTLE_POLL_MS || Date.now() > deadlineMs) {
      throw new Error(`only ${events.length} of ${committedCount} committed events became readable within ${LOG_SETTLE_TIMEOUT_MS} ms`);
    }
    const page = await store.readAll(store.pool, position, MAX_PAGE_SIZE);
    const last = page[page.length - 1];
    if (last === undefined) {
      await new Promise((resolve) => setTimeout(resolve, LOG_SETTLE_POLL_MS));
    } else {
      events.push(...page);
      position = positionOf(last);
    }
  }
  const decisionTransactions = new Set(events.filter((e) => e.type === 'Reserved' || e.type === 'LimitExceeded').map((e) => e.transactionId));
  return { report: checkBudgetInvariants(events), eventCount: events.length, decisionCommitCount: decisionTransactions.size };
}
