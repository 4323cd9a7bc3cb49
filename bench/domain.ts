import { performance } from 'node:perf_hooks';
import type { BudgetCommand, Reserve } from '../libs/domain/budget/commands.js';
import { decide } from '../libs/domain/budget/decide.js';
import { evolve } from '../libs/domain/budget/evolve.js';
import { EMPTY_POLICY, HISTORY_PER_AGENT_MAX } from '../libs/domain/budget/policy.js';
import { initialOrgState } from '../libs/domain/budget/state.js';
import { formatTable } from './stats.js';

// The pure decision, timed without the database: microseconds per Reserve (decide and
// evolve) when the paying agent has a long history, against agents with a short one, with
// no policy and with a loop guard and rate limits. The guards look back over an agent's
// recent payments, so a busy agent must not cost more per payment than the payments in the
// guards' windows: this is the check that it does not.

export interface DomainRow {
  policy: 'none' | 'loop guard + rate limits';
  agents: string;
  /** The paying agent's remembered payments when the timed decisions start. */
  historyPerAgent: number;
  microsPerReserve: number;
}

const MEASURED_DECISIONS = 20_000;
const FRESH_AGENT_COUNT = 2_000;
const START_MS = Date.parse('2026-01-05T00:00:00.000Z');
// Each agent pays once a second, so a one-minute window holds 60 of its payments.
const SECONDS_PER_PAYMENT_PER_AGENT = 1;

type Report = (label: string, message: string) => void;

export interface RetentionFigures {
  settledCount: number;
  paymentTimeHours: number;
  intentsRemembered: number;
}

const RETENTION_PAYMENTS = 100_000;
const RETENTION_SPAN_MS = 2 * 3_600_000;

/**
 * An org that reserves, signs and settles RETENTION_PAYMENTS payments over two hours of
 * payment time: only the last hour's closed payments (and the open ones) stay in its state.
 */
export function runRetentionCheck(report: Report): RetentionFigures {
  const state = initialOrgState('org-bench');
  const apply = (command: BudgetCommand): void => {
    for (const event of decide(command, state)) evolve(state, event);
  };
  setUp(apply, 1, 'none');
  for (let index = 0; index < RETENTION_PAYMENTS; index += 1) {
    const atMs = START_MS + Math.floor((index * RETENTION_SPAN_MS) / RETENTION_PAYMENTS);
    const reserve = reserveOf(0, atMs, index);
    const base = { orgId: reserve.orgId, actor: 'worker:bench', at: reserve.at, intentId: reserve.intentId };
    apply(reserve);
    apply({ ...base, type: 'RecordSignature', scheme: 'exact', payer: '0xpayer', nonce: `0x${index.toString(16)}`, validAfter: reserve.at, validBefore: reserve.validBefore });
    apply({ ...base, type: 'Settle', amountAtomic: reserve.amountAtomic, network: reserve.network, transaction: `0xtx${index}`, payer: '0xpayer' });
  }
  const intentsRemembered = state.intents.size;
  // Two hours of payment time and a one-hour retention: about half, and never all.
  if (intentsRemembered > RETENTION_PAYMENTS * 0.55 || intentsRemembered < RETENTION_PAYMENTS * 0.45) {
    report('domain retention', `${intentsRemembered} of ${RETENTION_PAYMENTS} settled payments remembered, expected the last hour's (about half)`);
  }
  return { settledCount: RETENTION_PAYMENTS, paymentTimeHours: RETENTION_SPAN_MS / 3_600_000, intentsRemembered };
}

export function printRetention(figures: RetentionFigures): void {
  console.log(
    `Domain: after ${figures.settledCount} payments reserved, signed and settled over ${figures.paymentTimeHours} h of payment time, ` +
      `the org's state remembers ${figures.intentsRemembered} of them (the last hour's)\n`,
  );
}

export function runDomainBench(report: Report): DomainRow[] {
  const rows: DomainRow[] = [];
  for (const policy of ['none', 'loop guard + rate limits'] as const) {
    rows.push(measure(policy, FRESH_AGENT_COUNT, 0, report));
    rows.push(measure(policy, 1, HISTORY_PER_AGENT_MAX, report));
  }
  return rows;
}

function measure(policy: DomainRow['policy'], agentCount: number, prefillPerAgent: number, report: Report): DomainRow {
  const state = initialOrgState('org-bench');
  const apply = (command: BudgetCommand): string | undefined => {
    const events = decide(command, state);
    for (const event of events) evolve(state, event);
    return events[0]?.type;
  };
  setUp(apply, agentCount, policy);
  let paymentIndex = 0;
  const nextReserve = (): Reserve => {
    const index = paymentIndex;
    paymentIndex += 1;
    return reserveOf(index % agentCount, START_MS + Math.floor(index / agentCount) * SECONDS_PER_PAYMENT_PER_AGENT * 1_000, index);
  };
  // The prefill, then a warm-up, go through the same code as the timed decisions.
  for (let index = 0; index < prefillPerAgent * agentCount + 5_000; index += 1) apply(nextReserve());
  const historyPerAgent = state.recentPayments.get(agentIdOf(0))?.length ?? 0;
  const commands = Array.from({ length: MEASURED_DECISIONS }, nextReserve);
  let reservedCount = 0;
  const startedAtMs = performance.now();
  for (const command of commands) if (apply(command) === 'Reserved') reservedCount += 1;
  const elapsedMs = performance.now() - startedAtMs;
  const agents = agentCount === 1 ? 'one busy agent' : `${agentCount} agents, round-robin`;
  if (reservedCount !== MEASURED_DECISIONS) report(`domain ${policy} ${agents}`, `${reservedCount} of ${MEASURED_DECISIONS} payments reserved, expected all`);
  return { policy, agents, historyPerAgent, microsPerReserve: (elapsedMs * 1_000) / MEASURED_DECISIONS };
}

function setUp(apply: (command: BudgetCommand) => unknown, agentCount: number, policy: DomainRow['policy']): void {
  const at = new Date(START_MS).toISOString();
  const base = { orgId: 'org-bench', actor: 'admin:bench', at };
  const plenty = 10n ** 15n;
  apply({ ...base, type: 'CreateOrg', name: 'bench', limitMicros: plenty });
  for (let agentIndex = 0; agentIndex < agentCount; agentIndex += 1) {
    apply({ ...base, type: 'RegisterAgent', agentId: agentIdOf(agentIndex), teamId: null, name: 'bench', limitMicros: plenty });
    apply({
      ...base,
      type: 'OpenSession',
      sessionId: sessionIdOf(agentIndex),
      agentId: agentIdOf(agentIndex),
      limitMicros: plenty,
      expiresAt: new Date(START_MS + 30 * 86_400_000).toISOString(),
      maxPayments: null,
      metadata: {},
      idempotency: null,
    });
  }
  if (policy === 'none') return;
  // Limits no payment reaches: every guard is evaluated in full and lets it through.
  apply({
    ...base,
    type: 'ChangePolicy',
    level: 'org',
    levelId: 'org-bench',
    policy: { ...EMPTY_POLICY, loopGuard: { maxPayments: 100_000, windowSeconds: 60 }, maxPaymentsPerMinutePerAgent: 1_000_000, maxPaymentsPerMinutePerSession: 1_000_000 },
    expectedVersion: null,
  });
}

function reserveOf(agentIndex: number, atMs: number, paymentIndex: number): Reserve {
  return {
    type: 'Reserve',
    orgId: 'org-bench',
    actor: `agent:${agentIdOf(agentIndex)}`,
    at: new Date(atMs).toISOString(),
    intentId: `i-${paymentIndex}`,
    sessionId: sessionIdOf(agentIndex),
    agentId: agentIdOf(agentIndex),
    amountMicros: 1n,
    amountAtomic: 1n,
    asset: '0x0000000000000000000000000000000000000001',
    network: 'eip155:31337',
    payTo: '0x0000000000000000000000000000000000000002',
    resource: 'http://127.0.0.1/bench',
    validBefore: new Date(atMs + 5 * 60_000).toISOString(),
    method: 'GET',
    idempotency: null,
  };
}

const agentIdOf = (agentIndex: number): string => `a-${agentIndex}`;
const sessionIdOf = (agentIndex: number): string => `s-${agentIndex}`;

export function printDomainTable(rows: readonly DomainRow[]): void {
  const header = ['policy', 'agents', 'history per agent', 'us per Reserve', 'vs short history'];
  const cells = rows.map((row) => {
    const fresh = rows.find((other) => other.policy === row.policy && other !== row && other.historyPerAgent < row.historyPerAgent);
    return [row.policy, row.agents, String(row.historyPerAgent), row.microsPerReserve.toFixed(1), fresh === undefined ? '' : `${(row.microsPerReserve / fresh.microsPerReserve).toFixed(2)}x`];
  });
  console.log(`\nDomain: decide + evolve per Reserve, ${MEASURED_DECISIONS} timed decisions each\n\n${formatTable(header, cells, false)}\n`);
  console.log(`Markdown:\n\n${formatTable(header, cells, true)}\n`);
}
