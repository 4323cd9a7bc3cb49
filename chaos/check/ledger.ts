import { encodeAbiParameters, getAddress, keccak256 } from 'viem';

import { money, moneyOrNull, text, type LogEvent, type Violations } from './model.js';

// The ledger judge: folds the event log in commit order with its own arithmetic and checks, at
// every reservation, that no budget level holds and spends more than its limit in the period,
// that the policies in force allowed it, and that every payment's money moves consistently
// (held → settled and/or refunded, never more than held). It shares no code with the
// governor's decide/evolve or the projections: only the meaning of the events.

type Period = 'none' | 'day' | 'month';

interface Level {
  name: string;
  limitMicros: bigint | null;
  period: Period;
  reservedMicros: bigint;
  /** What was spent in `periodKey` (all time for `none`). */
  spentMicros: bigint;
  periodKey: string;
}

interface SessionFacts {
  level: Level;
  agentId: string;
  teamId: string | null;
  expiresAtMs: number;
  maxPayments: number | null;
  payments: number;
}

interface PolicyFacts {
  maxPerPaymentMicros: bigint | null;
  loopGuard: { maxPayments: number; windowSeconds: number } | null;
  perMinuteAgent: number | null;
  perMinuteSession: number | null;
}

interface OrgFacts {
  level: Level;
  teams: Map<string, Level>;
  agents: Map<string, Level>;
  sessions: Map<string, SessionFacts>;
  policies: Map<string, PolicyFacts>;
  /** Each agent's payments of the last minutes, for the loop and rate rules. */
  recent: Map<string, { atMs: number; sessionId: string; loopKey: string }[]>;
}

export interface IntentFacts {
  intentId: string;
  orgId: string;
  sessionId: string;
  agentId: string;
  teamId: string | null;
  payTo: string;
  reservedMicros: bigint;
  reservedAtomic: bigint;
  /** Still held: reserved less settled and refunded. */
  heldMicros: bigint;
  settledMicros: bigint;
  settledAtomic: bigint;
  settledTransaction: string | null;
  settledCount: number;
  refundedMicros: bigint;
  refundReasons: string[];
  nonce: string | null;
  payer: string | null;
  signedCount: number;
  outcomeReports: string[];
  refused: boolean;
}

export interface LedgerFigures {
  events: number;
  eventsByType: Record<string, number>;
  intents: number;
  reserved: number;
  refused: number;
  refusedByCode: Record<string, number>;
  signed: number;
  settled: number;
  refunded: number;
  partiallySettled: number;
  reservationChecks: number;
  levelChecks: number;
  settledMicros: bigint;
  refundedMicros: bigint;
  /** Reservations that brought a level to within 1 % of its limit: the checks that bit. */
  levelsNearLimit: number;
  sessions: number;
  orgs: number;
}

const periodKeyAt = (period: Period, iso: string): string => (period === 'none' ? '' : period === 'day' ? iso.slice(0, 10) : iso.slice(0, 7));
const newLevel = (name: string, limitMicros: bigint | null, period: Period = 'none'): Level => ({ name, limitMicros, period, reservedMicros: 0n, spentMicros: 0n, periodKey: '' });
const spentAt = (level: Level, iso: string): bigint => (level.period === 'none' || level.periodKey === periodKeyAt(level.period, iso) ? level.spentMicros : 0n);
const RECENT_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The EIP-3009 nonce Paybound must use for an intent: keccak256(abi.encode(wallet, intentId)). */
export function expectedNonce(wallet: string, intentId: string): string {
  return keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'string' }], [getAddress(wallet), intentId])).toLowerCase();
}

function policyOf(after: Record<string, unknown>): PolicyFacts {
  const guard = after.loopGuard as { maxPayments?: unknown; windowSeconds?: unknown } | null | undefined;
  return {
    maxPerPaymentMicros: moneyOrNull(after.maxPerPaymentMicros),
    loopGuard: guard == null ? null : { maxPayments: Number(guard.maxPayments), windowSeconds: Number(guard.windowSeconds) },
    perMinuteAgent: after.maxPaymentsPerMinutePerAgent == null ? null : Number(after.maxPaymentsPerMinutePerAgent),
    perMinuteSession: after.maxPaymentsPerMinutePerSession == null ? null : Number(after.maxPaymentsPerMinutePerSession),
  };
}

export class LedgerJudge {
  readonly intents = new Map<string, IntentFacts>();
  /** Intents per (agent, Idempotency-Key): one key must make one intent. */
  private readonly intentsByKey = new Map<string, Set<string>>();
  private readonly orgs = new Map<string, OrgFacts>();
  readonly figures: LedgerFigures = {
    events: 0,
    eventsByType: {},
    intents: 0,
    reserved: 0,
    refused: 0,
    refusedByCode: {},
    signed: 0,
    settled: 0,
    refunded: 0,
    partiallySettled: 0,
    reservationChecks: 0,
    levelChecks: 0,
    settledMicros: 0n,
    refundedMicros: 0n,
    levelsNearLimit: 0,
    sessions: 0,
    orgs: 0,
  };

  constructor(private readonly violations: Violations) {}

  apply(event: LogEvent): void {
    this.figures.events += 1;
    this.figures.eventsByType[event.type] = (this.figures.eventsByType[event.type] ?? 0) + 1;
    if (!event.streamId.startsWith('org-')) return;
    const d = event.data;
    const orgId = text(d.orgId) || event.orgId;
    switch (event.type) {
      case 'OrgCreated':
        this.orgs.set(orgId, { level: newLevel(`org ${orgId}`, moneyOrNull(d.limitMicros)), teams: new Map(), agents: new Map(), sessions: new Map(), policies: new Map(), recent: new Map() });
        this.figures.orgs += 1;
        return;
      case 'TeamCreated':
        this.org(orgId)?.teams.set(text(d.teamId), newLevel(`team ${text(d.teamId)}`, moneyOrNull(d.limitMicros)));
        return;
      case 'AgentRegistered':
        this.org(orgId)?.agents.set(text(d.agentId), newLevel(`agent ${text(d.agentId)}`, moneyOrNull(d.limitMicros)));
        return;
      case 'BudgetChanged': {
        const org = this.org(orgId);
        const levelName = text(d.level);
        const level = levelName === 'org' ? org?.level : levelName === 'team' ? org?.teams.get(text(d.levelId)) : org?.agents.get(text(d.levelId));
        if (level === undefined) return;
        const after = d.after as { limitMicros: unknown; period: Period };
        level.limitMicros = moneyOrNull(after.limitMicros);
        if (after.period !== level.period) {
          // A new kind of period counts afresh.
          level.period = after.period;
          level.periodKey = '';
          level.spentMicros = 0n;
        }
        return;
      }
      case 'PolicyChanged': {
        const key = text(d.level) === 'org' ? 'org' : `${text(d.level)}:${text(d.levelId)}`;
        this.org(orgId)?.policies.set(key, policyOf(d.after as Record<string, unknown>));
        return;
      }
      case 'SessionOpened': {
        const org = this.org(orgId);
        if (org === undefined) return;
        org.sessions.set(text(d.sessionId), {
          level: newLevel(`session ${text(d.sessionId)}`, money(d.limitMicros)),
          agentId: text(d.agentId),
          teamId: d.teamId === null ? null : text(d.teamId),
          expiresAtMs: Date.parse(text(d.expiresAt)),
          maxPayments: d.maxPayments === null || d.maxPayments === undefined ? null : Number(d.maxPayments),
          payments: 0,
        });
        this.figures.sessions += 1;
        return;
      }
      case 'Reserved':
      case 'ApprovalRequested':
        this.reserve(event, orgId);
        return;
      case 'LimitExceeded': {
        const intentId = text(d.intentId);
        this.rememberKey(text(d.agentId), d.idempotencyKey, intentId);
        if (this.intents.has(intentId)) {
          this.violations.add({ invariant: 'intent_lifecycle', detail: `LimitExceeded for ${intentId}, which was already reserved`, intentId, orgId });
          return;
        }
        this.figures.intents += 1;
        this.figures.refused += 1;
        const code = text(d.code);
        this.figures.refusedByCode[code] = (this.figures.refusedByCode[code] ?? 0) + 1;
        this.intents.set(intentId, { ...this.blankIntent(intentId, orgId, d), heldMicros: 0n, refused: true });
        return;
      }
      case 'PaymentSigned': {
        const intent = this.intent(text(d.intentId), orgId, event.type);
        if (intent === undefined) return;
        intent.signedCount += 1;
        const nonce = text(d.nonce).toLowerCase();
        const payer = text(d.payer).toLowerCase();
        if (intent.nonce !== null && intent.nonce !== nonce) {
          this.violations.add({ invariant: 'double_payment', detail: `${intent.intentId} was signed twice with different nonces (${intent.nonce}, ${nonce})`, intentId: intent.intentId, orgId });
        }
        intent.nonce = nonce;
        intent.payer = payer;
        this.figures.signed += 1;
        if (nonce !== expectedNonce(payer, intent.intentId)) {
          this.violations.add({ invariant: 'nonce_derivation', detail: `${intent.intentId}: nonce ${nonce} is not keccak256(abi.encode(${payer}, intentId))`, intentId: intent.intentId, orgId });
        }
        if (intent.heldMicros === 0n) {
          this.violations.add({ invariant: 'intent_lifecycle', detail: `${intent.intentId} was signed after its money was released or spent`, intentId: intent.intentId, orgId });
        }
        return;
      }
      case 'SettlementReported': {
        this.intent(text(d.intentId), orgId, event.type)?.outcomeReports.push(text(d.outcome));
        return;
      }
      case 'Settled': {
        const intent = this.intent(text(d.intentId), orgId, event.type);
        if (intent === undefined) return;
        const amountMicros = money(d.amountMicros);
        const amountAtomic = money(d.amountAtomic);
        intent.settledCount += 1;
        if (intent.settledCount > 1) this.violations.add({ invariant: 'intent_lifecycle', detail: `${intent.intentId} was settled ${intent.settledCount} times`, intentId: intent.intentId, orgId });
        if (amountMicros > intent.heldMicros || amountAtomic > intent.reservedAtomic) {
          this.violations.add({ invariant: 'overspend', detail: `${intent.intentId} settled ${amountMicros} micros with ${intent.heldMicros} held (${amountAtomic} of ${intent.reservedAtomic} atomic)`, intentId: intent.intentId, orgId });
        }
        if (intent.nonce === null) this.violations.add({ invariant: 'intent_lifecycle', detail: `${intent.intentId} was settled without a recorded signature`, intentId: intent.intentId, orgId });
        const settledAt = text(d.settledAt);
        for (const level of this.levels(intent)) {
          level.reservedMicros -= amountMicros;
          const key = periodKeyAt(level.period, settledAt);
          if (key !== level.periodKey) {
            level.periodKey = key;
            level.spentMicros = 0n;
          }
          level.spentMicros += amountMicros;
        }
        intent.heldMicros -= amountMicros;
        intent.settledMicros += amountMicros;
        intent.settledAtomic += amountAtomic;
        intent.settledTransaction = text(d.transaction).toLowerCase();
        this.figures.settled += 1;
        this.figures.settledMicros += amountMicros;
        return;
      }
      case 'Refunded': {
        const intent = this.intent(text(d.intentId), orgId, event.type);
        if (intent === undefined) return;
        const amountMicros = money(d.amountMicros);
        if (amountMicros > intent.heldMicros) {
          this.violations.add({ invariant: 'intent_lifecycle', detail: `${intent.intentId} refunded ${amountMicros} micros with only ${intent.heldMicros} held`, intentId: intent.intentId, orgId });
        }
        for (const level of this.levels(intent)) level.reservedMicros -= amountMicros;
        intent.heldMicros -= amountMicros;
        intent.refundedMicros += amountMicros;
        intent.refundReasons.push(text(d.reason));
        if (intent.settledCount > 0) this.figures.partiallySettled += 1;
        else this.figures.refunded += 1;
        this.figures.refundedMicros += amountMicros;
        return;
      }
      default:
        // Approvals' decisions, alerts, keys: no money moves with them.
        return;
    }
  }

  /** After the whole log: one key must have made one intent. (Open reservations are judged with the chain's evidence.) */
  finish(): void {
    for (const [key, intents] of this.intentsByKey) {
      if (intents.size > 1) this.violations.add({ invariant: 'idempotency', detail: `key ${key.replace('\u0000', ' / ')} made ${intents.size} intents: ${[...intents].join(', ')}` });
    }
  }

  private reserve(event: LogEvent, orgId: string): void {
    const d = event.data;
    const intentId = text(d.intentId);
    const existing = this.intents.get(intentId);
    if (existing !== undefined) {
      // An approved payment is reserved again after its ApprovalRequested; its money was held since.
      if (!(event.type === 'Reserved' && !existing.refused)) {
        this.violations.add({ invariant: 'intent_lifecycle', detail: `${intentId} was reserved twice`, intentId, orgId });
      }
      return;
    }
    const org = this.org(orgId);
    const session = org?.sessions.get(text(d.sessionId));
    if (org === undefined || session === undefined) {
      this.violations.add({ invariant: 'intent_lifecycle', detail: `${intentId} reserved in an unknown session ${text(d.sessionId)}`, intentId, orgId });
      return;
    }
    this.rememberKey(text(d.agentId), d.idempotencyKey, intentId);
    const intent = this.blankIntent(intentId, orgId, d);
    intent.teamId = session.teamId;
    this.intents.set(intentId, intent);
    this.figures.intents += 1;
    this.figures.reserved += 1;
    const reservedAt = text(d.reservedAt);
    const atMs = Date.parse(reservedAt);

    // Session rules.
    session.payments += 1;
    if (atMs >= session.expiresAtMs) this.violations.add({ invariant: 'session_rules', detail: `${intentId} reserved at ${reservedAt}, after its session expired`, intentId, orgId });
    if (session.maxPayments !== null && session.payments > session.maxPayments) {
      this.violations.add({ invariant: 'session_rules', detail: `${intentId} is payment ${session.payments} of a session allowing ${session.maxPayments}`, intentId, orgId });
    }

    // Policies in force: org, the session's team, the agent.
    const policies = [org.policies.get('org'), session.teamId === null ? undefined : org.policies.get(`team:${session.teamId}`), org.policies.get(`agent:${intent.agentId}`)].filter((p): p is PolicyFacts => p !== undefined);
    const loopKey = `${text(d.method).toUpperCase()} ${text(d.resource).split('#')[0]}`;
    const recent = org.recent.get(intent.agentId) ?? [];
    for (const policy of policies) {
      if (policy.maxPerPaymentMicros !== null && intent.reservedMicros > policy.maxPerPaymentMicros) {
        this.violations.add({ invariant: 'policy', detail: `${intentId} reserved ${intent.reservedMicros} micros above maxPerPayment ${policy.maxPerPaymentMicros}`, intentId, orgId });
      }
      if (policy.loopGuard !== null) {
        const since = atMs - policy.loopGuard.windowSeconds * 1000;
        const repeats = recent.filter((p) => p.atMs > since && p.loopKey === loopKey).length;
        if (repeats >= policy.loopGuard.maxPayments) this.violations.add({ invariant: 'policy', detail: `${intentId}: ${repeats} earlier payments for ${loopKey} within ${policy.loopGuard.windowSeconds} s, loop guard allows ${policy.loopGuard.maxPayments}`, intentId, orgId });
      }
      if (policy.perMinuteAgent !== null && recent.filter((p) => p.atMs > atMs - 60_000).length >= policy.perMinuteAgent) {
        this.violations.add({ invariant: 'policy', detail: `${intentId}: agent over ${policy.perMinuteAgent} payments per minute`, intentId, orgId });
      }
      if (policy.perMinuteSession !== null && recent.filter((p) => p.atMs > atMs - 60_000 && p.sessionId === intent.sessionId).length >= policy.perMinuteSession) {
        this.violations.add({ invariant: 'policy', detail: `${intentId}: session over ${policy.perMinuteSession} payments per minute`, intentId, orgId });
      }
    }
    recent.push({ atMs, sessionId: intent.sessionId, loopKey });
    // History older than the longest window no rule can look at; kept in decision order.
    while (recent.length > 0 && recent[0]!.atMs < atMs - RECENT_WINDOW_MS) recent.shift();
    if (recent.length > 2_000) recent.splice(0, recent.length - 2_000);
    org.recent.set(intent.agentId, recent);

    // No overspend: at every level, what is held plus what was spent in the period stays within the limit.
    this.figures.reservationChecks += 1;
    for (const level of this.levels(intent)) {
      level.reservedMicros += intent.reservedMicros;
      if (level.limitMicros === null) continue;
      this.figures.levelChecks += 1;
      const used = level.reservedMicros + spentAt(level, reservedAt);
      if (used > level.limitMicros) {
        this.violations.add({ invariant: 'overspend', detail: `${intentId} took ${level.name} to ${used} micros held and spent, over its limit of ${level.limitMicros}`, intentId, orgId });
      } else if (used * 100n >= level.limitMicros * 99n) {
        this.figures.levelsNearLimit += 1;
      }
    }
  }

  private levels(intent: IntentFacts): Level[] {
    const org = this.orgs.get(intent.orgId);
    if (org === undefined) return [];
    const session = org.sessions.get(intent.sessionId);
    const levels: Level[] = [];
    if (session !== undefined) levels.push(session.level);
    const agent = org.agents.get(intent.agentId);
    if (agent !== undefined) levels.push(agent);
    const team = intent.teamId === null ? undefined : org.teams.get(intent.teamId);
    if (team !== undefined) levels.push(team);
    levels.push(org.level);
    return levels;
  }

  private org(orgId: string): OrgFacts | undefined {
    return this.orgs.get(orgId);
  }

  private intent(intentId: string, orgId: string, type: string): IntentFacts | undefined {
    const intent = this.intents.get(intentId);
    if (intent === undefined || intent.refused) {
      this.violations.add({ invariant: 'intent_lifecycle', detail: `${type} for ${intentId}, which was never reserved`, intentId, orgId });
      return undefined;
    }
    return intent;
  }

  private rememberKey(agentId: string, key: unknown, intentId: string): void {
    if (typeof key !== 'string' || key === '') return;
    const index = `${agentId}\u0000${key}`;
    const set = this.intentsByKey.get(index) ?? new Set<string>();
    set.add(intentId);
    this.intentsByKey.set(index, set);
  }

  private blankIntent(intentId: string, orgId: string, d: Record<string, unknown>): IntentFacts {
    const micros = d.amountMicros === undefined ? money(d.requestedMicros ?? '0') : money(d.amountMicros);
    return {
      intentId,
      orgId,
      sessionId: text(d.sessionId),
      agentId: text(d.agentId),
      teamId: null,
      payTo: text(d.payTo).toLowerCase(),
      reservedMicros: micros,
      reservedAtomic: d.amountAtomic === undefined ? 0n : money(d.amountAtomic),
      heldMicros: micros,
      settledMicros: 0n,
      settledAtomic: 0n,
      settledTransaction: null,
      settledCount: 0,
      refundedMicros: 0n,
      refundReasons: [],
      nonce: null,
      payer: null,
      signedCount: 0,
      outcomeReports: [],
      refused: false,
    };
  }
}
