import { FAULT_KINDS, type FaultKind } from './faults.js';
import type { ChaosReport } from './harness.js';
import type { Invariant } from './check/model.js';

// The run's report: the figures a reader needs to judge it, and the command that replays it.

const INVARIANTS: readonly { id: Invariant; claim: string; how: string }[] = [
  {
    id: 'overspend',
    claim: 'no budget level (session, agent, team, org; per period) holds and spends more than its limit at any reservation in the log; no payment settles above what it held',
    how: "the log folded in commit order with the checker's own arithmetic: at each Reserved, held + spent in the period at every level ≤ its limit; at each Settled, amount ≤ held; on chain, moved ≤ reserved",
  },
  { id: 'policy', claim: 'every reservation obeyed the policies in force (max per payment, loop guard, payments per minute)', how: 'PolicyChanged events folded; each Reserved held against the rules in force and the agent’s earlier reservations' },
  { id: 'session_rules', claim: 'no reservation after its session expired or beyond its maxPayments', how: 'reservedAt against the session’s expiresAt, payments counted per session' },
  { id: 'intent_lifecycle', claim: 'each intent is reserved once, signed at most once, settled at most once, never refunded beyond what it held', how: 'per intent: Reserved, PaymentSigned, Settled and Refunded counted and their amounts against what is held' },
  { id: 'idempotency', claim: 'one Idempotency-Key makes one intent, and every answer to it names the same payment', how: 'intents per (agent, key) in the log; every HTTP answer the workload recorded for a key (sequential and concurrent repeats) compared' },
  { id: 'nonce_derivation', claim: "every authorization's nonce is keccak256(abi.encode(wallet, intentId))", how: 'recomputed for every PaymentSigned' },
  { id: 'double_payment', claim: 'at most one on-chain payment per intent', how: 'every AuthorizationUsed and Transfer from the wallet read from the chain, mapped to intents by nonce' },
  { id: 'unattributed_payment', claim: 'every transfer out of the wallet is the authorization of a signed intent', how: 'each transaction’s Transfer paired with its AuthorizationUsed, whose nonce must belong to a signed intent' },
  {
    id: 'unresolved_reservation',
    claim: 'every reservation ends settled or refunded once the chain allows',
    how: 'after the workload, chain time moved past every validBefore and the workers given time to reconcile: no intent may still hold money',
  },
  { id: 'premature_release', claim: 'no payment that executed on chain was released', how: 'an intent paid on chain must not have been refunded without a settlement' },
  { id: 'spent_vs_chain', claim: 'spent equals what moved on chain, per intent, per session and per org', how: 'Settled amounts and transactions against the chain’s transfers, summed per intent, session and org' },
  { id: 'topic_exactly_once', claim: 'the topic holds every event of the log exactly once', how: 'the topic read from offset 0 of every partition: each event id of the log found once, no message for an event not in the log' },
  { id: 'topic_order', claim: "each stream's events are in stream order within one partition, keyed by org", how: 'per stream, the versions on the topic must be 1, 2, 3, … in one partition' },
  { id: 'topic_envelope', claim: 'each message is the CloudEvents 1.0 JSON of its event', how: 'key, type, stream id and version of each message against the log’s row' },
  { id: 'projection', claim: 'a projection rebuilt from the log equals the live one, row for row', how: 'the log copied to a scratch database, the projections rebuilt there by `projections:rebuild`, every row of the four tables compared as canonical JSON' },
  { id: 'api_contradiction', claim: 'no answer the agents got contradicts the log (paid but not settled, refused but reserved)', how: 'every answer the workload recorded held against the ledger’s verdict for its payment id' },
];

const seconds = (ms: number): string => `${(ms / 1000).toFixed(0)} s`;
const usdOfMicros = (micros: bigint): string => `${micros / 1_000_000n}.${(micros % 1_000_000n).toString().padStart(6, '0').slice(0, 2)}`;

export function replayCommand(report: ChaosReport): string {
  const o = report.options;
  return [
    `CHAOS_SEED=${o.seed}`,
    `CHAOS_INTENTS=${o.intents}`,
    `CHAOS_ORGS=${o.orgs}`,
    `CHAOS_CONCURRENCY=${o.concurrency}`,
    `CHAOS_KILLS=${o.faults.kills}`,
    `CHAOS_PG_FREEZES=${o.faults.postgresFreezes}`,
    `CHAOS_KAFKA_STOPS=${o.faults.kafkaStops}`,
    `CHAOS_KAFKA_KILLS=${o.faults.kafkaKills}`,
    `CHAOS_SELLER_KILLS=${o.faults.sellerKills}`,
    `CHAOS_PARTITIONS=${o.faults.partitions}`,
    `CHAOS_KAFKA_NODES=${o.kafkaNodes}`,
    `CHAOS_PARTITION_MIN_MS=${o.timings.partitionMinMs}`,
    `CHAOS_PARTITION_MAX_MS=${o.timings.partitionMaxMs}`,
    `CHAOS_KAFKA_STOP_S=${o.timings.kafkaStopMs / 1000}`,
    `CHAOS_KAFKA_KILL_DOWN_S=${o.timings.kafkaKillDownMs / 1000}`,
    `CHAOS_FREEZE_MIN_MS=${o.timings.freezeMinMs}`,
    `CHAOS_FREEZE_MAX_MS=${o.timings.freezeMaxMs}`,
    `CHAOS_RESTART_DELAY_MAX_MS=${o.timings.restartDelayMaxMs}`,
    `CHAOS_FETCH_TIMEOUT_MS=${o.fetchTimeoutMs}`,
    `CHAOS_DURATION_MAX_S=${Math.round(o.durationMaxMs / 1000)}`,
    'npm run chaos',
  ].join(' ');
}

export function faultsByKind(report: ChaosReport): Record<FaultKind, { planned: number; fired: number }> {
  const table = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, { planned: 0, fired: 0 }])) as Record<FaultKind, { planned: number; fired: number }>;
  for (const fault of report.planned) table[fault.kind].planned += 1;
  for (const fault of report.fired) table[fault.kind].fired += 1;
  return table;
}

/** The run's section of docs/reliability.md (and the console summary). */
export function renderRun(report: ChaosReport): string {
  const { check, workload } = report;
  const f = check.figures;
  const v = check.violations;
  const lines: string[] = [];
  const kills = report.fired.filter((fault) => fault.kind.startsWith('kill_') && fault.kind !== 'kill_seller' && fault.kind !== 'kill_kafka_broker').length;
  lines.push(`- **Verdict: ${v.total === 0 ? 'no violation' : `${v.total} violations`}** (seed ${report.options.seed})`);
  lines.push(`- Started ${report.startedAt}; ${seconds(report.phasesMs.total)} in all: start-up ${seconds(report.phasesMs.startup)}, tenants ${seconds(report.phasesMs.setup)}, workload under faults ${seconds(report.phasesMs.workload)}, settling ${seconds(report.phasesMs.settle)}, checking ${seconds(report.phasesMs.check)}.`);
  lines.push(`- Topology: ${report.options.governors} governors behind a round-robin TCP proxy (connections per governor: ${Object.values(report.proxyConnections).join(' / ')}), ${report.options.workers} settlement workers in one consumer group (Kafka source), a ${report.options.kafkaNodes}-node KRaft cluster (replication factor ${Math.min(3, report.options.kafkaNodes)}, min.insync.replicas ${Math.min(2, report.options.kafkaNodes)}), one PostgreSQL primary, anvil with the official x402 facilitator and 7 sellers (normal, premium, 502 before and after settling, hanging before and after settling, settling late).`);
  lines.push(`- Workload: ${workload.orgs} orgs, ${workload.teams} teams, ${workload.agents} agents, ${workload.policies} policies, ${workload.sessionsOpened} sessions; ${workload.issued} payment requests with distinct Idempotency-Keys (target ${report.options.intents}), ${workload.requests} requests with repeats (${workload.repeats} sequential repeats, ${workload.concurrentDuplicates} concurrent duplicates, ${workload.bursts} bursts at one session), ${workload.attempts} HTTP attempts of which ${workload.retried} retries after ${workload.transportErrors} lost answers; ${workload.topUps} budget top-ups.`);
  lines.push(`- Kinds: ${Object.entries(workload.byKind).map(([k, n]) => `${k} ${n}`).join(', ')}. Answers: ${Object.entries(workload.byStatus).sort().map(([k, n]) => `${k}: ${n}`).join(', ')}.`);
  lines.push('');
  lines.push('| fault | planned | fired |');
  lines.push('| --- | ---: | ---: |');
  for (const [kind, counts] of Object.entries(faultsByKind(report))) lines.push(`| ${kind} | ${counts.planned} | ${counts.fired} |`);
  lines.push(`| **SIGKILLs of governors, workers and the relay's leader** | ${report.planned.filter((p) => p.kind === 'kill_governor' || p.kind === 'kill_worker' || p.kind === 'kill_relay_leader').length} | ${kills} |`);
  lines.push('');
  if (report.faultErrors.length > 0) lines.push(`Fault errors: ${report.faultErrors.join('; ')}`, '');
  lines.push(`Restarts by process: ${Object.entries(report.restarts).filter(([, n]) => n > 0).map(([name, n]) => `${name} ${n}`).join(', ') || 'none'}.`);
  lines.push('');
  lines.push('**The checker\'s figures**');
  lines.push('');
  lines.push(`- Log: ${f.ledger.events} events (${Object.entries(f.ledger.eventsByType).sort().map(([k, n]) => `${k} ${n}`).join(', ')}).`);
  lines.push(`- Intents: ${f.ledger.intents} (${f.ledger.reserved} reserved, ${f.ledger.refused} refused: ${Object.entries(f.ledger.refusedByCode).sort().map(([k, n]) => `${k} ${n}`).join(', ')}); ${f.ledger.signed} signed, ${f.ledger.settled} settled (${f.ledger.partiallySettled} partly refunded), ${f.ledger.refunded} refunded; spent ${usdOfMicros(f.ledger.settledMicros)} USD, released ${usdOfMicros(f.ledger.refundedMicros)} USD.`);
  lines.push(`- Budget checks: ${f.ledger.reservationChecks} reservations checked at ${f.ledger.levelChecks} limited levels; ${f.ledger.levelsNearLimit} of them brought a level to within 1 % of its limit.`);
  lines.push(`- Chain: ${f.chain.authorizationsUsed} authorizations used, ${f.chain.transfersFromPayer} transfers from the wallet, ${f.chain.paidIntents} intents paid; moved ${f.chain.movedAtomic} atomic units, ledger settled ${f.chain.settledAtomic}; ${f.chain.sessionsCompared} sessions and ${f.chain.orgsCompared} orgs compared (${f.chain.sessionsDiffering} and ${f.chain.orgsDiffering} differ).`);
  lines.push(`- Settling: ${report.settle.unresolvedBeforeWarp} reservations open when the workload ended (${report.settle.paidButOpenBeforeWarp} of them already paid on chain, waiting for the workers' reconciliation), chain time moved ${report.settle.chainTimeMovedSec} s, ${report.settle.unresolvedAfter} still open after ${seconds(report.settle.waitedMs)}.`);
  lines.push(`- Topic: ${f.topic.messages} messages in ${f.topic.partitions} partitions for ${f.topic.logEvents} events; ${f.topic.distinctEvents} distinct, ${f.topic.duplicates} duplicates, ${f.topic.missing} missing, ${f.topic.unknown} unknown; streams out of order: ${f.topic.streamsOutOfOrderRaw} counting every message, ${f.topic.streamsOutOfOrderDeduplicated} after dropping repeated ids.`);
  lines.push(`- Projection: rebuilt from ${f.projection.events} events in ${seconds(f.projection.rebuildMs)}; ${f.projection.tables.map((t) => `${t.table} ${t.liveRows} live / ${t.rebuiltRows} rebuilt, ${t.differing} differ`).join('; ')}.`);
  lines.push(`- API answers: ${f.api.answers} recorded, ${f.api.paidPerSeller} paid answers and ${f.api.refusedWithPaymentId} refusals held against the log, ${f.api.keysWithSeveralAnswers} keys answered with more than one payment.`);
  lines.push('');
  lines.push('| invariant | violations |');
  lines.push('| --- | ---: |');
  for (const { id, claim } of INVARIANTS) lines.push(`| ${claim} (\`${id}\`) | ${v.counts.get(id) ?? 0} |`);
  if (v.total > 0) {
    lines.push('');
    lines.push('**Violations** (the first of each kind):');
    lines.push('');
    for (const violation of v.details) lines.push(`- \`${violation.invariant}\`: ${violation.detail}`);
  }
  lines.push('');
  lines.push(`Replay: \`${replayCommand(report)}\``);
  return lines.join('\n');
}

export function consoleSummary(report: ChaosReport): string {
  return `\n=== chaos run, seed ${report.options.seed} ===\n${renderRun(report)}\n`;
}

const FINDINGS_START = '<!-- findings: kept when the run rewrites this file -->';
const FINDINGS_END = '<!-- /findings -->';

/** The hand-written findings section of an existing docs/reliability.md, if any. */
export function keptFindings(existing: string | undefined): string {
  if (existing === undefined) return '';
  const start = existing.indexOf(FINDINGS_START);
  const end = existing.indexOf(FINDINGS_END);
  return start === -1 || end < start ? '' : existing.slice(start + FINDINGS_START.length, end).trim();
}

/**
 * docs/reliability.md: what the run is, how to run it, the findings (written by people, kept
 * across runs), and the figures of the last full run.
 */
export function renderReliabilityDoc(report: ChaosReport, findings = ''): string {
  return `# Reliability: the chaos run

Paybound's invariants (ARCHITECTURE.md) are attacked here by the whole system under faults and
judged from outside. \`npm run chaos\` starts the deployment as it would run on several
machines, drives a seeded workload of agents through the public HTTP API while a seeded
schedule of faults strikes, lets the system settle, and then an independent checker reads the
evidence straight from its sources: the \`events\` table with SQL in commit order, every
\`Transfer\` and \`AuthorizationUsed\` log of the token on chain, and the Kafka topic from
offset 0. It trusts neither the API nor the projections, and it does not import the domain's
decide/evolve or the projection code for what it judges (\`chaos/check/\`). A short run of the
same harness, with every fault kind and the full checker, is part of \`npm test\`
(\`test/chaos/chaos-short.int.spec.ts\`).

## What is guaranteed

Whatever crashes, stalls or is cut off, and in whatever order:

1. **No overspend.** No budget level (session, agent, team, org, per period) ever holds and
   spends more than its limit, and no payment moves more than it reserved.
2. **No double payment.** At most one on-chain payment per intent, and no money leaves the
   wallet except for an intent the ledger signed.
3. **Every \`Reserved\` is resolved.** Each reservation ends settled (with what moved on chain)
   or refunded (when nothing did) once the chain allows: when the authorization's
   \`validBefore\` has passed. What the ledger calls spent is what moved on chain.
4. **The topic is the log.** Every committed event is on the Kafka topic exactly once, in
   stream order, in the partition of its org; a projection rebuilt from the log equals the
   live one.

The table under "What the checker proves" says how each is checked, from outside; the
findings say where a run found one broken, and whether it is fixed (today the fourth is not:
the relay can lose or repeat an event on Kafka).

## What runs

- Two governors (\`dist/apps/governor/main.js\`) behind a plain round-robin TCP proxy
  (\`chaos/proxy.ts\`): any request of any agent may reach either; a governor that refuses the
  connection is skipped, as a load balancer's health check would. The outbox relay runs in the
  governors; one of them holds its lock at a time.
- Two settlement workers (\`dist/apps/settlement-worker/main.js\`) in one Kafka consumer group,
  sending their budget commands to the governors through the same proxy.
- Kafka as a three-node KRaft cluster on loopback ports (\`chaos/kafka-cluster.ts\`; each node
  broker and controller, replication factor 3, \`min.insync.replicas\` 2).
- One PostgreSQL primary (embedded, the run's own cluster, so that it can be frozen).
- Anvil with the test dollar, the official x402 facilitator, and seven sellers built on the
  official \`@x402/express\` (libs/devnet), each its own process behind a forwarder on a fixed
  port: normal (0.01), premium (0.05), 502 before settling, 502 after settling (paid, but the
  buyer sees an error), hanging before and after settling, and one whose settlement lands
  seconds after the buyer gave up waiting.

## The workload (\`chaos/workload.ts\`)

Seeded and randomized: orgs with teams and agents, limits at every level (some per day or per
month), policies (max per payment, loop guard, payments per minute per session), sessions with
limits and payment counts. Agents pay-and-fetch and sign-only (then send the header to the
seller themselves and report the result, report a failure without sending, send without
reporting, or abandon the payment), repeat requests with the same \`Idempotency-Key\` one after
the other and concurrently, fire bursts at one session, and run budgets out; admins raise
budgets now and then. An answer lost to a fault is retried with the same key, as a careful
runtime would.

## The faults (\`chaos/faults.ts\`)

Drawn from the seed before the run, each firing once the workload has issued a given share of
its requests: SIGKILLs of governors, workers and the relay's leader (found through the
advisory lock it holds), each restarted by PID after a short pause; SIGSTOP of PostgreSQL (the
postmaster and every backend) for 5-20 s; one Kafka node stopped for 60 s and one killed; a
seller killed while connections to it are open; network partitions between one governor or
one worker and PostgreSQL (each process reaches the database over a link of its own: during a
partition its bytes stop in both directions without an error, new connections wait, and when
it heals the connections that lived through it are reset). Only processes the run started are
signalled, always by PID.

## What the checker proves

Every invariant below is checked on the whole run; a violation names the intent, org or event.
After the workload the run restarts anything still down, waits for the late settlements, moves
anvil's time past every authorization's \`validBefore\` (\`evm_increaseTime\`) instead of
sleeping, and waits until the workers have settled or released every reservation.

| invariant | how it is checked | name |
| --- | --- | --- |
${INVARIANTS.map(({ id, claim, how }) => `| ${claim} | ${how} | \`${id}\` |`).join('\n')}

A replay with the same seed and parameters runs the same workload plan and the same fault
schedule; the interleaving of concurrent requests and processes is the machine's, so a
violation that depends on timing may need several replays.

## Findings

${FINDINGS_START}
${findings === '' ? 'None recorded yet.' : findings}
${FINDINGS_END}

## The last full run

${renderRun(report)}
`;
}
