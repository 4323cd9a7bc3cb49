import { context } from '@opentelemetry/api';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { BudgetCommand, Reserve } from '../domain/budget/commands.js';
import { DomainError } from '../domain/budget/errors.js';
import type { BudgetEvent } from '../domain/budget/events.js';
import { remainingMicros, type OrgState } from '../domain/budget/state.js';
import { formatUsdMicros } from '../domain/money.js';
import { inSpan, traceparentOf } from '../platform/tracing.js';
import type { DecisionOutcome, OrgCommandProcessor } from './org-command-processor.js';

// Every budget decision, as operators see it: a span with the payment's figures and the
// session's remaining budget after it, and Prometheus counts by outcome, refusal code and
// asset. It wraps the org command processor rather than living in it, so the hot path
// itself stays free of telemetry.

/** What a decision did, as a metric label: one word per outcome, most telling first. */
export type DecisionOutcomeName =
  | 'refused'
  | 'settled'
  | 'refunded'
  | 'signed'
  | 'held'
  | 'reserved'
  | 'reported'
  | 'applied'
  | 'unchanged'
  | 'rejected'
  | 'failed';

export interface DecisionSummary {
  outcome: DecisionOutcomeName;
  /** The refusal or error code; '' when there is none. */
  code: string;
}

/** The outcome of a committed decision from the events it appended (none: a retry of one already decided). */
export function summarizeEvents(events: readonly { type: string; data: unknown }[]): DecisionSummary {
  const typed = events as readonly BudgetEvent[];
  const refusal = typed.find((e) => e.type === 'LimitExceeded' || e.type === 'ApprovalDenied');
  if (refusal !== undefined && (refusal.type === 'LimitExceeded' || refusal.type === 'ApprovalDenied')) return { outcome: 'refused', code: refusal.data.code };
  const order: [BudgetEvent['type'], DecisionOutcomeName][] = [
    ['Settled', 'settled'],
    ['Refunded', 'refunded'],
    ['PaymentSigned', 'signed'],
    ['ApprovalRequested', 'held'],
    ['Reserved', 'reserved'],
    ['SettlementReported', 'reported'],
  ];
  for (const [type, outcome] of order) if (typed.some((e) => e.type === type)) return { outcome, code: '' };
  return { outcome: events.length === 0 ? 'unchanged' : 'applied', code: '' };
}

/** The outcome of a decision that threw: a domain refusal of the command, or a failure to decide at all. */
export function summarizeError(error: unknown): DecisionSummary {
  if (error instanceof DomainError) return { outcome: 'rejected', code: error.code };
  const code = (error as { code?: unknown }).code;
  return { outcome: 'failed', code: typeof code === 'string' && /^[a-z_]{1,64}$/.test(code) ? code : 'error' };
}

export class DecisionMetrics {
  readonly decisions: Counter<'command' | 'outcome' | 'code'>;
  readonly durationSeconds: Histogram<'command'>;
  readonly reservedAtomic: Counter<'network' | 'asset'>;
  readonly settledAtomic: Counter<'network' | 'asset'>;
  readonly refundedAtomic: Counter<'network' | 'asset'>;

  constructor(private readonly registry: Registry) {
    const registers = [registry];
    this.decisions = new Counter({ name: 'paybound_decisions_total', help: 'Budget decisions by command, outcome and refusal or error code', labelNames: ['command', 'outcome', 'code'], registers });
    this.durationSeconds = new Histogram({
      name: 'paybound_decision_duration_seconds',
      help: 'Time from submitting a budget command to its durable commit',
      labelNames: ['command'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const amount = (name: string, what: string) => new Counter({ name, help: `Asset units ${what}, in the asset's atomic units`, labelNames: ['network', 'asset'], registers });
    this.reservedAtomic = amount('paybound_reserved_atomic_total', 'reserved for payments');
    this.settledAtomic = amount('paybound_settled_atomic_total', 'paid (settled on chain)');
    this.refundedAtomic = amount('paybound_refunded_atomic_total', 'released from reservations without being paid');
  }

  /**
   * The processor's own counters, read at each scrape: how its commits went. Locked commits
   * and stale fences rising together mean another process writes to the same orgs.
   */
  watchProcessor(processor: OrgCommandProcessor): void {
    const { counters } = processor;
    const registers = [this.registry];
    const absolute = (name: string, help: string, read: () => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read());
        },
      });
    new Counter({
      name: 'paybound_decision_commits_total',
      help: 'Transactions that committed budget decisions, by path: fast (one round trip on cached state) or locked (the org locked first, after another writer or a rebuild)',
      labelNames: ['path'],
      registers,
      collect() {
        this.reset();
        this.inc({ path: 'fast' }, counters.fastCommits);
        this.inc({ path: 'locked' }, counters.lockedCommits);
      },
    });
    absolute('paybound_decision_stale_fences_total', 'Batches whose org stream had moved when they were committed (another writer, or a batch overtaken)', () => counters.staleFences);
    absolute('paybound_decision_state_rebuilds_total', 'Times an org state cached in memory was dropped, to be rebuilt from its stream', () => counters.droppedStates);
    absolute('paybound_decision_redecided_commands_total', 'Commands decided again because the batch they were in could not commit', () => counters.redecidedCommands);
    absolute('paybound_decision_unstorable_commands_total', 'Commands refused alone because the event store could not hold their events (NUL, unpaired surrogates, sizes)', () => counters.unstorableCommands);
    new Counter({
      name: 'paybound_decision_state_reads_total',
      help: 'Dropped org states read back: from their snapshot and the events after it, or from the first event',
      labelNames: ['from'],
      registers,
      collect() {
        this.reset();
        this.inc({ from: 'snapshot' }, counters.restoredStates);
        this.inc({ from: 'first_event' }, counters.rebuiltStates);
      },
    });
  }
}

/** The payment a command is about, as the state held it right after the decision. */
type PaymentFacts = Pick<Reserve, 'sessionId' | 'agentId' | 'amountMicros' | 'amountAtomic' | 'asset' | 'network' | 'payTo'>;

/**
 * Submits budget commands to the org command processor with a span and metrics around each
 * decision. The span is the parent of whatever the decision's events cause elsewhere: its
 * traceparent is stored with them, so the settlement worker continues the same trace.
 */
export class ObservedDecisions {
  constructor(
    readonly processor: OrgCommandProcessor,
    private readonly metrics: DecisionMetrics | undefined,
  ) {
    metrics?.watchProcessor(processor);
  }

  submit<View>(command: BudgetCommand, view: (state: OrgState) => View): Promise<DecisionOutcome<View>> {
    return inSpan('paybound.decision', { attributes: commandAttributes(command) }, async (span) => {
      const startedAt = process.hrtime.bigint();
      let payment: PaymentFacts | undefined = paymentOfCommand(command);
      let sessionRemainingMicros: bigint | null = null;
      const observedView = (state: OrgState): View => {
        // Runs right after this command's decision, before later commands change the state.
        const intent = 'intentId' in command ? state.intents.get(command.intentId) : undefined;
        if (intent !== undefined) {
          const { sessionId, agentId, amountMicros, amountAtomic, asset, network, payTo } = intent;
          payment = { sessionId, agentId, amountMicros, amountAtomic, asset, network, payTo };
        }
        const sessionId = payment?.sessionId ?? ('sessionId' in command ? command.sessionId : undefined);
        const session = sessionId === undefined ? undefined : state.sessions.get(sessionId);
        sessionRemainingMicros = session === undefined ? null : remainingMicros(session.budget, command.at);
        return view(state);
      };
      let summary: DecisionSummary | undefined;
      try {
        const outcome = await this.processor.submit(command, observedView, traceparentOf(context.active()));
        summary = summarizeEvents(outcome.events);
        this.countAmounts(outcome.events, payment);
        return outcome;
      } catch (error) {
        summary = summarizeError(error);
        throw error;
      } finally {
        span.setAttributes({ 'paybound.outcome': summary?.outcome ?? 'failed', ...(summary?.code ? { 'paybound.refusal_code': summary.code } : {}) });
        if (payment !== undefined) span.setAttributes(paymentAttributes(payment));
        if (sessionRemainingMicros !== null) span.setAttribute('paybound.session.remaining', formatUsdMicros(sessionRemainingMicros));
        this.metrics?.decisions.inc({ command: command.type, outcome: summary?.outcome ?? 'failed', code: summary?.code ?? '' });
        this.metrics?.durationSeconds.observe({ command: command.type }, Number(process.hrtime.bigint() - startedAt) / 1e9);
      }
    });
  }

  private countAmounts(events: readonly { type: string; data: unknown }[], payment: PaymentFacts | undefined): void {
    if (this.metrics === undefined) return;
    for (const event of events as readonly BudgetEvent[]) {
      if (event.type === 'Reserved') this.metrics.reservedAtomic.inc({ network: event.data.network, asset: event.data.asset.toLowerCase() }, Number(event.data.amountAtomic));
      // Settled and Refunded name the intent; its asset comes from the state.
      if (payment === undefined) continue;
      const labels = { network: payment.network, asset: payment.asset.toLowerCase() };
      if (event.type === 'Settled') this.metrics.settledAtomic.inc(labels, Number(event.data.amountAtomic));
      if (event.type === 'Refunded') this.metrics.refundedAtomic.inc(labels, Number(event.data.amountAtomic));
    }
  }
}

function paymentOfCommand(command: BudgetCommand): PaymentFacts | undefined {
  if (command.type !== 'Reserve') return undefined;
  const { sessionId, agentId, amountMicros, amountAtomic, asset, network, payTo } = command;
  return { sessionId, agentId, amountMicros, amountAtomic, asset, network, payTo };
}

function commandAttributes(command: BudgetCommand): Record<string, string> {
  return {
    'paybound.command': command.type,
    'paybound.org.id': command.orgId,
    'paybound.actor': command.actor,
    ...('intentId' in command ? { 'paybound.intent.id': command.intentId } : {}),
  };
}

/** What a span knows of a payment; whatever is missing is left out. */
export interface PaymentSpanFacts {
  intentId?: string;
  orgId?: string;
  sessionId?: string;
  agentId?: string;
  /** USD decimal string. */
  amount?: string;
  amountAtomic?: bigint | string | null;
  asset?: string | null;
  network?: string | null;
  payTo?: string | null;
}

/**
 * The attributes every payment span carries, named the same in the governor and the worker.
 * Addresses are lower-case, as in the metrics' labels, so one payee is one value.
 */
export function paymentSpanAttributes(facts: PaymentSpanFacts): Record<string, string> {
  const attributes: Record<string, string | null | undefined> = {
    'paybound.intent.id': facts.intentId,
    'paybound.org.id': facts.orgId,
    'paybound.session.id': facts.sessionId,
    'paybound.agent.id': facts.agentId,
    'paybound.amount': facts.amount,
    'paybound.amount_atomic': facts.amountAtomic?.toString(),
    'paybound.asset': facts.asset?.toLowerCase(),
    'paybound.network': facts.network,
    'paybound.payee': facts.payTo?.toLowerCase(),
  };
  return Object.fromEntries(Object.entries(attributes).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

function paymentAttributes(payment: PaymentFacts): Record<string, string> {
  return paymentSpanAttributes({ ...payment, amount: formatUsdMicros(payment.amountMicros) });
}

