import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import type { BudgetCommand, BudgetPeriod, OpenSession, Reserve } from '../../libs/domain/budget/commands.js';
import type { BudgetEvent } from '../../libs/domain/budget/events.js';
import type { Policy } from '../../libs/domain/budget/policy.js';

// An independent check of the ledger from its events, deliberately not using the domain's
// evolve(): it replays each org stream in order and tracks every budget level itself.

interface Level {
  limitMicros: bigint | null;
  reservedMicros: bigint;
  spentMicros: bigint;
}

export interface InvariantReport {
  violations: string[];
  reserved: number;
  refused: number;
  settled: number;
  released: number;
  held: number;
  /** Reservations that are neither held, settled nor released: must be zero. */
  unaccounted: number;
}

type Data = Record<string, unknown>;

export function checkBudgetInvariants(events: readonly RecordedEvent[]): InvariantReport {
  const levels = new Map<string, Level>();
  const sessions = new Map<string, { agentId: string; teamId: string | null; orgId: string }>();
  const intents = new Map<string, { sessionId: string; amountMicros: bigint; state: 'held' | 'settled' | 'released' }>();
  const report: InvariantReport = { violations: [], reserved: 0, refused: 0, settled: 0, released: 0, held: 0, unaccounted: 0 };
  const ordered = [...events].sort((a, b) => (a.streamId === b.streamId ? a.streamVersion - b.streamVersion : a.streamId < b.streamId ? -1 : 1));

  const chain = (sessionId: string): string[] => {
    const s = sessions.get(sessionId);
    if (s === undefined) return [];
    return [`session:${sessionId}`, `agent:${s.agentId}`, ...(s.teamId === null ? [] : [`team:${s.teamId}`]), `org:${s.orgId}`];
  };
  const level = (key: string): Level => {
    let l = levels.get(key);
    if (l === undefined) {
      l = { limitMicros: null, reservedMicros: 0n, spentMicros: 0n };
      levels.set(key, l);
    }
    return l;
  };
  const check = (event: RecordedEvent, keys: string[]): void => {
    for (const key of keys) {
      const l = level(key);
      if (l.reservedMicros < 0n || l.spentMicros < 0n) report.violations.push(`${key} negative after ${event.type} v${event.streamVersion}`);
      if (l.limitMicros !== null && l.reservedMicros + l.spentMicros > l.limitMicros) {
        report.violations.push(`${key}: reserved ${l.reservedMicros} + spent ${l.spentMicros} > limit ${l.limitMicros} after ${event.type} v${event.streamVersion}`);
      }
    }
  };

  for (const event of ordered) {
    const d = event.data as Data;
    switch (event.type) {
      case 'OrgCreated':
        level(`org:${String(d.orgId)}`).limitMicros = d.limitMicros as bigint | null;
        break;
      case 'TeamCreated':
        level(`team:${String(d.teamId)}`).limitMicros = d.limitMicros as bigint | null;
        break;
      case 'AgentRegistered':
        level(`agent:${String(d.agentId)}`).limitMicros = d.limitMicros as bigint | null;
        break;
      case 'BudgetChanged':
        level(`${String(d.level)}:${String(d.levelId)}`).limitMicros = (d.after as { limitMicros: bigint | null }).limitMicros;
        break;
      case 'SessionOpened':
        sessions.set(String(d.sessionId), { agentId: String(d.agentId), teamId: (d.teamId as string | null) ?? null, orgId: String(d.orgId) });
        level(`session:${String(d.sessionId)}`).limitMicros = d.limitMicros as bigint;
        break;
      case 'Reserved':
      case 'ApprovalRequested': {
        // An approved payment was held from its request on: its Reserved moves no money.
        if (event.type === 'Reserved' && intents.has(String(d.intentId))) {
          report.reserved += 1;
          break;
        }
        const amount = d.amountMicros as bigint;
        intents.set(String(d.intentId), { sessionId: String(d.sessionId), amountMicros: amount, state: 'held' });
        const keys = chain(String(d.sessionId));
        for (const key of keys) level(key).reservedMicros += amount;
        if (event.type === 'Reserved') report.reserved += 1;
        check(event, keys);
        break;
      }
      case 'LimitExceeded':
        report.refused += 1;
        break;
      case 'Settled': {
        const intent = intents.get(String(d.intentId));
        if (intent === undefined) {
          report.violations.push(`Settled for unknown intent ${String(d.intentId)}`);
          break;
        }
        if (intent.state !== 'held') report.violations.push(`intent ${String(d.intentId)} settled while ${intent.state}`);
        const amount = d.amountMicros as bigint;
        const keys = chain(intent.sessionId);
        for (const key of keys) {
          level(key).reservedMicros -= amount;
          level(key).spentMicros += amount;
        }
        intent.amountMicros -= amount;
        intent.state = 'settled';
        check(event, keys);
        break;
      }
      case 'Refunded': {
        const intent = intents.get(String(d.intentId));
        if (intent === undefined) {
          report.violations.push(`Refunded for unknown intent ${String(d.intentId)}`);
          break;
        }
        const amount = d.amountMicros as bigint;
        if (amount > intent.amountMicros) report.violations.push(`intent ${String(d.intentId)} refunded more than it held`);
        const keys = chain(intent.sessionId);
        for (const key of keys) level(key).reservedMicros -= amount;
        intent.amountMicros -= amount;
        if (intent.state === 'held') intent.state = 'released';
        check(event, keys);
        break;
      }
      default:
        break;
    }
  }
  for (const intent of intents.values()) {
    if (intent.state === 'held') report.held += 1;
    else if (intent.state === 'settled') report.settled += 1;
    else if (intent.state === 'released') report.released += 1;
    else report.unaccounted += 1;
  }
  return report;
}

// ---------------------------------------------------------------------------------------
// A history checker for one org's decisions: it reads each command the handler ran, with
// the events decide() returned or the error it refused with, and judges them against its
// own model of budgets, periods, sessions, policies, approvals, signatures and
// idempotency keys. It shares nothing with decide(), evolve() or their helpers but the
// types of the contract, so a bug in one is not silently repeated in the other.

/** One command as the command handler ran it, and what came of it. */
export interface DecisionStep {
  command: BudgetCommand;
  /** The events decide() returned, in order; empty for a retry or when it refused with an error. */
  events: readonly BudgetEvent[];
  /** The stable code decide() refused the command with, or null when it decided. */
  errorCode: string | null;
  /** For a request with an Idempotency-Key: the session or payment it is answered with. */
  answeredEntityId: string | null;
}

export type DecisionInvariant =
  | 'no-overspend'
  | 'answered-once'
  | 'conservation'
  | 'idempotency'
  | 'repeat-answers-as-first'
  | 'session-rules'
  | 'policy'
  | 'approval'
  | 'signature'
  | 'no-premature-release'
  | 'alerts'
  | 'refusal-justified'
  | 'event-shape';

export interface DecisionViolation {
  invariant: DecisionInvariant;
  /** 1-based position of the step in the history. */
  step: number;
  message: string;
}

/** What the history did, for coverage figures. */
export interface DecisionCounts {
  steps: number;
  events: number;
  refusedByError: number;
  holds: number;
  approvalsRequested: number;
  approvalsGranted: number;
  approvalsDenied: number;
  approvalsTimedOut: number;
  refusals: Record<string, number>;
  signatures: number;
  outcomesReported: number;
  settledFull: number;
  settledPartial: number;
  released: number;
  releasedAfterExpiry: number;
  alerts: number;
  keyedRepeats: number;
  keyReusedElsewhere: number;
  workerRepeats: number;
  forgottenRepeats: number;
  /** Holds decided on a day or month budget that spent money in an earlier period. */
  holdsAfterRollover: number;
  budgetChanges: number;
  policyChanges: number;
}

interface LevelModel {
  limitMicros: bigint | null;
  period: BudgetPeriod;
  reservedMicros: bigint;
  /** Spent per period key ('' for `none`); a change of period kind starts afresh. */
  spentByPeriod: Map<string, bigint>;
  /** `${periodKey}/${percent}` for every alert raised since the budget's kind of period last changed. */
  alerted: Set<string>;
  /**
   * The alerts raised before that change. The domain may hold them against the same calendar
   * period after the change (a day budget made `none` and a day again, within one day, does not
   * raise that day's alerts again): they may stand in for an alert, but are no duplicate of one.
   */
  alertedBeforeChange: Set<string>;
}

interface SessionModel {
  agentId: string;
  teamId: string | null;
  expiresAtMs: number;
  maxPayments: number | null;
  holds: number;
  closed: boolean;
}

type IntentPhase = 'awaiting' | 'held' | 'settled' | 'refunded';

interface IntentModel {
  id: string;
  sessionId: string;
  agentId: string;
  levels: string[];
  reservedMicros: bigint;
  reservedAtomic: bigint;
  heldMicros: bigint;
  heldAtomic: bigint;
  settledMicros: bigint;
  refundedMicros: bigint;
  phase: IntentPhase;
  validBeforeMs: number;
  reservedAtMs: number;
  approvalExpiresAtMs: number | null;
  signature: { nonce: string; payer: string; validBeforeMs: number } | null;
}

interface HoldRecord {
  atMs: number;
  sessionId: string;
  loopKey: string;
}

export interface LevelBalance {
  limitMicros: bigint | null;
  reservedMicros: bigint;
  /** Spent in the period the instant falls in. */
  spentMicros: bigint;
}

const ORG_LEVEL = 'org';
const IDEMPOTENCY_REFUSALS = new Set(['idempotency_key_reused', 'session_not_found', 'agent_not_found', 'org_not_found']);

/** The UTC day (YYYY-MM-DD) or month (YYYY-MM) of an instant, from the calendar rather than the string. */
function calendarPeriod(period: BudgetPeriod, atMs: number): string {
  if (period === 'none') return '';
  const date = new Date(atMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  const month = `${String(date.getUTCFullYear()).padStart(4, '0')}-${two(date.getUTCMonth() + 1)}`;
  return period === 'month' ? month : `${month}-${two(date.getUTCDate())}`;
}

/** The host a resource names, as DNS resolves it: case and one trailing dot do not matter. */
function resolvedHost(resource: string): string | null {
  let host: string;
  try {
    host = new URL(resource).hostname.toLowerCase();
  } catch {
    return null;
  }
  return host.endsWith('.') ? host.slice(0, -1) : host;
}

function domainPatternMatches(pattern: string, host: string | null): boolean {
  if (host === null) return false;
  const p = pattern.toLowerCase();
  if (!p.startsWith('*.')) return p === host;
  const suffix = p.slice(1);
  return host.length > suffix.length && host.endsWith(suffix);
}

const sameHex = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

/** The loop guard's "same request": the method and the URL up to its fragment, as documented. */
function requestIdentity(method: string, resource: string): string {
  const hash = resource.indexOf('#');
  return `${method.toUpperCase()} ${hash === -1 ? resource : resource.slice(0, hash)}`;
}

const show = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));

export class DecisionHistoryOracle {
  private readonly levels = new Map<string, LevelModel>();
  private readonly teams = new Map<string, true>();
  private readonly agents = new Map<string, { teamId: string | null }>();
  private readonly sessions = new Map<string, SessionModel>();
  private readonly intents = new Map<string, IntentModel>();
  /** Every intent id ever answered (held, waiting for approval or refused), with how. */
  private readonly answers = new Map<string, 'hold' | 'refusal'>();
  private readonly policies = new Map<string, { policy: Policy; version: number }>();
  private readonly holdsByAgent = new Map<string, HoldRecord[]>();
  private readonly keys = new Map<string, { requestHash: string; entityId: string }>();
  private orgExists = false;
  private stepNumber = 0;
  readonly violations: DecisionViolation[] = [];
  readonly counts: DecisionCounts = {
    steps: 0,
    events: 0,
    refusedByError: 0,
    holds: 0,
    approvalsRequested: 0,
    approvalsGranted: 0,
    approvalsDenied: 0,
    approvalsTimedOut: 0,
    refusals: {},
    signatures: 0,
    outcomesReported: 0,
    settledFull: 0,
    settledPartial: 0,
    released: 0,
    releasedAfterExpiry: 0,
    alerts: 0,
    keyedRepeats: 0,
    keyReusedElsewhere: 0,
    workerRepeats: 0,
    forgottenRepeats: 0,
    holdsAfterRollover: 0,
    budgetChanges: 0,
    policyChanges: 0,
  };

  constructor(readonly orgId: string) {}

  /** Judges one step and takes it into the model; returns what it found wrong in it. */
  observe(step: DecisionStep): DecisionViolation[] {
    this.stepNumber += 1;
    this.counts.steps += 1;
    this.counts.events += step.events.length;
    if (step.errorCode !== null) this.counts.refusedByError += 1;
    const found: DecisionViolation[] = [];
    const fail = (invariant: DecisionInvariant, message: string): void => {
      found.push({ invariant, step: this.stepNumber, message });
    };
    const atMs = Date.parse(step.command.at);
    if (step.errorCode !== null && step.events.length > 0) fail('event-shape', `decided ${step.events.length} events and refused with ${step.errorCode}`);

    this.judgeKeyBefore(step, fail);
    this.judgeRepeatBefore(step, fail);
    const newHolds: IntentModel[] = [];
    const touched = new Set<IntentModel>();
    step.events.forEach((event, index) => this.apply(step, event, index, atMs, fail, newHolds, touched));
    this.judgeAnswer(step, fail);
    for (const intent of touched) this.judgeConservation(intent, fail);
    for (const hold of newHolds) this.judgeAlertsComplete(hold, atMs, fail);
    this.violations.push(...found);
    return found;
  }

  /** What the model holds and has spent at every level, in the period `atMs` falls in. */
  balances(atMs: number): Map<string, LevelBalance> {
    const result = new Map<string, LevelBalance>();
    for (const [key, level] of this.levels) {
      result.set(key, { limitMicros: level.limitMicros, reservedMicros: level.reservedMicros, spentMicros: this.spentIn(level, atMs) });
    }
    return result;
  }

  /** Each intent the model knows with what it still holds; `phase` is awaiting, held, settled or refunded. */
  payments(): { intentId: string; phase: IntentPhase; signed: boolean; heldMicros: bigint; heldAtomic: bigint }[] {
    return [...this.intents.values()].map((i) => ({ intentId: i.id, phase: i.phase, signed: i.signature !== null, heldMicros: i.heldMicros, heldAtomic: i.heldAtomic }));
  }

  sessionHolds(): Map<string, number> {
    return new Map([...this.sessions].map(([id, s]) => [id, s.holds]));
  }

  /** The whole history's money: every reservation is settled, refunded or still held. */
  finish(): DecisionViolation[] {
    const found: DecisionViolation[] = [];
    let reserved = 0n;
    let accounted = 0n;
    for (const intent of this.intents.values()) {
      reserved += intent.reservedMicros;
      accounted += intent.settledMicros + intent.refundedMicros + intent.heldMicros;
    }
    if (reserved !== accounted) {
      found.push({ invariant: 'conservation', step: this.stepNumber, message: `in sum ${reserved} reserved but ${accounted} settled + refunded + held` });
    }
    this.violations.push(...found);
    return found;
  }

  private level(key: string): LevelModel | undefined {
    return this.levels.get(key);
  }

  private spentIn(level: LevelModel, atMs: number): bigint {
    return level.spentByPeriod.get(calendarPeriod(level.period, atMs)) ?? 0n;
  }

  private usedAt(level: LevelModel, atMs: number): bigint {
    return level.reservedMicros + this.spentIn(level, atMs);
  }

  private chainOf(sessionId: string): string[] {
    const session = this.sessions.get(sessionId);
    if (session === undefined) return [];
    return [`session:${sessionId}`, `agent:${session.agentId}`, ...(session.teamId === null ? [] : [`team:${session.teamId}`]), ORG_LEVEL];
  }

  private policiesFor(session: SessionModel): { source: string; policy: Policy }[] {
    const sources = [ORG_LEVEL, ...(session.teamId === null ? [] : [`team:${session.teamId}`]), `agent:${session.agentId}`];
    return sources.flatMap((source) => {
      const entry = this.policies.get(source);
      return entry === undefined ? [] : [{ source, policy: entry.policy }];
    });
  }

  private idempotencyOf(command: BudgetCommand): { index: string; requestHash: string } | null {
    if ((command.type !== 'Reserve' && command.type !== 'OpenSession') || command.idempotency === null) return null;
    return { index: `${command.agentId}/${command.idempotency.key}`, requestHash: command.idempotency.requestHash };
  }

  /** A key seen before is answered from its first answer, and never decides again. */
  private judgeKeyBefore(step: DecisionStep, fail: (i: DecisionInvariant, m: string) => void): void {
    const claim = this.idempotencyOf(step.command);
    if (claim === null) return;
    const first = this.keys.get(claim.index);
    if (first === undefined) return;
    if (first.requestHash === claim.requestHash) {
      this.counts.keyedRepeats += 1;
      if (step.events.length > 0) fail('idempotency', `a repeat of key ${claim.index} decided again: ${step.events.map((e) => e.type).join(', ')}`);
      if (step.errorCode !== null) fail('idempotency', `a repeat of key ${claim.index} was refused with ${step.errorCode} instead of answered as the first`);
      if (step.answeredEntityId !== first.entityId) fail('idempotency', `a repeat of key ${claim.index} answered ${String(step.answeredEntityId)}, the first answer was ${first.entityId}`);
      return;
    }
    this.counts.keyReusedElsewhere += 1;
    if (step.events.length > 0) fail('idempotency', `key ${claim.index} reused with another request decided: ${step.events.map((e) => e.type).join(', ')}`);
    if (step.errorCode === null || !IDEMPOTENCY_REFUSALS.has(step.errorCode)) {
      fail('idempotency', `key ${claim.index} reused with another request was answered with ${step.errorCode ?? 'no error'}, not idempotency_key_reused`);
    }
  }

  /** A worker outcome or a payment already carried out is answered with nothing new. */
  private judgeRepeatBefore(step: DecisionStep, fail: (i: DecisionInvariant, m: string) => void): void {
    const command = step.command;
    const repeatOf = (intent: IntentModel | undefined): boolean => {
      if (intent === undefined) return false;
      if (command.type === 'Settle') return intent.phase === 'settled';
      if (command.type === 'Release') return intent.phase === 'refunded';
      if (command.type === 'ReportOutcome') return intent.phase === 'settled' || intent.phase === 'refunded';
      // Signing a refunded payment again is refused, rightly: its authorization must not be used.
      if (command.type === 'RecordSignature') return intent.phase !== 'refunded' && intent.signature !== null && intent.signature.nonce === command.nonce && intent.signature.payer === command.payer;
      return false;
    };
    if (command.type === 'Reserve' && this.answers.has(command.intentId) && step.events.length > 0) {
      fail('answered-once', `payment ${command.intentId} was already answered and was decided again`);
    }
    if (command.type === 'DecideApproval') {
      const intent = this.intents.get(command.intentId);
      if (intent !== undefined && intent.phase !== 'awaiting' && step.events.length > 0) {
        fail('approval', `payment ${command.intentId} is not waiting for approval, yet the answer decided ${step.events.map((e) => e.type).join(', ')}`);
      }
    }
    if (command.type !== 'Settle' && command.type !== 'Release' && command.type !== 'ReportOutcome' && command.type !== 'RecordSignature') return;
    const intent = this.intents.get(command.intentId);
    if (!repeatOf(intent)) return;
    this.counts.workerRepeats += 1;
    if (step.events.length > 0) fail('repeat-answers-as-first', `${command.type} of ${command.intentId} repeated decided again: ${step.events.map((e) => e.type).join(', ')}`);
    if (step.errorCode === 'payment_not_found' && intent !== undefined && intent.phase !== 'awaiting' && intent.phase !== 'held') {
      // A payment that is over may have been forgotten (see ClosedPayments); nothing is decided.
      this.counts.forgottenRepeats += 1;
    } else if (step.errorCode !== null) {
      fail('repeat-answers-as-first', `${command.type} of ${command.intentId} repeated was refused with ${step.errorCode}`);
    }
  }

  /** A Reserve that decided is answered exactly once; one that decided nothing must be a keyed repeat. */
  private judgeAnswer(step: DecisionStep, fail: (i: DecisionInvariant, m: string) => void): void {
    const command = step.command;
    const claim = this.idempotencyOf(command);
    if (command.type === 'Reserve') {
      const answers = step.events.filter((e) => (e.type === 'Reserved' || e.type === 'ApprovalRequested' || e.type === 'LimitExceeded') && e.data.intentId === command.intentId);
      if (step.events.length > 0 && answers.length !== 1) fail('answered-once', `Reserve ${command.intentId} was answered ${answers.length} times`);
      if (step.events.length === 0 && step.errorCode === null && (claim === null || this.keys.get(claim.index) === undefined)) {
        fail('answered-once', `Reserve ${command.intentId} decided nothing and refused nothing`);
      }
    }
    if (claim === null || this.keys.has(claim.index)) return;
    const key = (command as Reserve | OpenSession).idempotency?.key ?? null;
    for (const event of step.events) {
      if (event.type === 'SessionOpened' || event.type === 'Reserved' || event.type === 'ApprovalRequested' || event.type === 'LimitExceeded') {
        if (event.data.idempotencyKey !== key || event.data.requestHash !== claim.requestHash) {
          fail('idempotency', `${event.type} does not record the request's Idempotency-Key ${String(key)}`);
        }
        const entityId = event.type === 'SessionOpened' ? event.data.sessionId : event.data.intentId;
        this.keys.set(claim.index, { requestHash: claim.requestHash, entityId });
        if (step.answeredEntityId !== entityId) fail('idempotency', `a keyed request was answered with ${String(step.answeredEntityId)}, not ${entityId}`);
        return;
      }
    }
  }

  private apply(
    step: DecisionStep,
    event: BudgetEvent,
    index: number,
    atMs: number,
    fail: (i: DecisionInvariant, m: string) => void,
    newHolds: IntentModel[],
    touched: Set<IntentModel>,
  ): void {
    const command = step.command;
    const previous = index > 0 ? step.events[index - 1] : undefined;
    switch (event.type) {
      case 'OrgCreated':
        if (this.orgExists) fail('event-shape', 'the org was created twice');
        this.orgExists = true;
        this.levels.set(ORG_LEVEL, newLevel(event.data.limitMicros));
        return;
      case 'TeamCreated':
        if (this.teams.has(event.data.teamId)) fail('event-shape', `team ${event.data.teamId} was created twice`);
        this.teams.set(event.data.teamId, true);
        this.levels.set(`team:${event.data.teamId}`, newLevel(event.data.limitMicros));
        return;
      case 'AgentRegistered':
        if (this.agents.has(event.data.agentId)) fail('event-shape', `agent ${event.data.agentId} was registered twice`);
        if (event.data.teamId !== null && !this.teams.has(event.data.teamId)) fail('event-shape', `agent ${event.data.agentId} joined unknown team ${event.data.teamId}`);
        this.agents.set(event.data.agentId, { teamId: event.data.teamId });
        this.levels.set(`agent:${event.data.agentId}`, newLevel(event.data.limitMicros));
        return;
      case 'BudgetChanged': {
        const key = event.data.level === 'org' ? ORG_LEVEL : `${event.data.level}:${event.data.levelId}`;
        const level = this.level(key);
        this.counts.budgetChanges += 1;
        if (level === undefined) {
          fail('event-shape', `budget of unknown ${key} changed`);
          return;
        }
        if (level.limitMicros !== event.data.before.limitMicros || level.period !== event.data.before.period) {
          fail('event-shape', `BudgetChanged of ${key} says before ${show(event.data.before)}, it was ${show({ limitMicros: level.limitMicros, period: level.period })}`);
        }
        level.limitMicros = event.data.after.limitMicros;
        if (level.period !== event.data.after.period) {
          // A new kind of period counts afresh (the documented rule).
          level.period = event.data.after.period;
          level.spentByPeriod.clear();
          for (const mark of level.alerted) level.alertedBeforeChange.add(mark);
          level.alerted.clear();
        }
        return;
      }
      case 'PolicyChanged': {
        const source = event.data.level === 'org' ? ORG_LEVEL : `${event.data.level}:${event.data.levelId}`;
        const current = this.policies.get(source);
        this.counts.policyChanges += 1;
        if (event.data.version !== (current?.version ?? 0) + 1) fail('event-shape', `policy ${source} went from version ${current?.version ?? 0} to ${event.data.version}`);
        if (command.type === 'ChangePolicy' && command.expectedVersion !== null && command.expectedVersion !== (current?.version ?? 0)) {
          fail('event-shape', `policy ${source} changed though the editor saw version ${command.expectedVersion}, not ${current?.version ?? 0}`);
        }
        this.policies.set(source, { policy: event.data.after, version: event.data.version });
        return;
      }
      case 'AgentKeyChanged':
        if (!this.agents.has(event.data.agentId)) fail('event-shape', `key of unknown agent ${event.data.agentId} changed`);
        return;
      case 'SessionOpened': {
        const data = event.data;
        const agent = this.agents.get(data.agentId);
        if (this.sessions.has(data.sessionId)) fail('event-shape', `session ${data.sessionId} opened twice`);
        if (agent === undefined) fail('event-shape', `session ${data.sessionId} opened for unknown agent ${data.agentId}`);
        else if (agent.teamId !== data.teamId) fail('event-shape', `session ${data.sessionId} is in team ${String(data.teamId)}, its agent in ${String(agent.teamId)}`);
        if (data.limitMicros <= 0n) fail('event-shape', `session ${data.sessionId} opened with limit ${data.limitMicros}`);
        const openMax = command.type === 'OpenSession' ? (command.openSessionsMax ?? null) : null;
        if (openMax !== null) {
          const open = [...this.sessions.values()].filter((s) => s.agentId === data.agentId && !s.closed && atMs < s.expiresAtMs).length;
          if (open >= openMax) fail('session-rules', `session ${data.sessionId} opened while agent ${data.agentId} had ${open} open, at most ${openMax}`);
        }
        this.sessions.set(data.sessionId, { agentId: data.agentId, teamId: data.teamId, expiresAtMs: Date.parse(data.expiresAt), maxPayments: data.maxPayments, holds: 0, closed: false });
        this.levels.set(`session:${data.sessionId}`, newLevel(data.limitMicros));
        return;
      }
      case 'SessionClosed': {
        const session = this.sessions.get(event.data.sessionId);
        if (command.type !== 'CloseSession') fail('event-shape', `SessionClosed decided by ${command.type}`);
        if (session === undefined || session.agentId !== event.data.agentId) fail('session-rules', `session ${event.data.sessionId} closed by agent ${event.data.agentId}, which does not have it`);
        else if (session.closed) fail('event-shape', `session ${event.data.sessionId} closed twice`);
        else session.closed = true;
        return;
      }
      case 'Reserved':
      case 'ApprovalRequested': {
        const existing = this.intents.get(event.data.intentId);
        if (event.type === 'Reserved' && existing !== undefined) {
          // An approval: the money has been held since it was requested, and nothing moves.
          const granted = previous?.type === 'ApprovalGranted' && previous.data.intentId === existing.id;
          if (existing.phase !== 'awaiting' || !granted) fail('approval', `payment ${existing.id} reserved again while ${existing.phase}${granted ? '' : ', without ApprovalGranted'}`);
          existing.phase = existing.phase === 'awaiting' ? 'held' : existing.phase;
          return;
        }
        const hold = this.judgeHold(command, event, atMs, fail);
        if (hold !== null) {
          newHolds.push(hold);
          touched.add(hold);
        }
        return;
      }
      case 'ApprovalGranted': {
        const intent = this.intents.get(event.data.intentId);
        this.counts.approvalsGranted += 1;
        if (intent?.phase !== 'awaiting') fail('approval', `approval granted to payment ${event.data.intentId} that is ${intent?.phase ?? 'unknown'}`);
        if (command.type !== 'DecideApproval' || !command.approve) fail('approval', `approval granted by ${command.type}`);
        else if (intent?.approvalExpiresAtMs != null && atMs >= intent.approvalExpiresAtMs) fail('approval', `approval of ${event.data.intentId} granted after it expired`);
        const next = step.events[index + 1];
        if (next?.type !== 'Reserved' || next.data.intentId !== event.data.intentId) fail('approval', `ApprovalGranted for ${event.data.intentId} is not followed by its Reserved`);
        return;
      }
      case 'ApprovalDenied': {
        const intent = this.intents.get(event.data.intentId);
        if (event.data.reason === 'timeout') this.counts.approvalsTimedOut += 1;
        else this.counts.approvalsDenied += 1;
        if (intent?.phase !== 'awaiting') fail('approval', `approval denied to payment ${event.data.intentId} that is ${intent?.phase ?? 'unknown'}`);
        if (command.type !== 'DecideApproval') fail('approval', `approval denied by ${command.type}`);
        else {
          const late = intent?.approvalExpiresAtMs != null && atMs >= intent.approvalExpiresAtMs;
          const expected = !command.approve && command.reason !== 'timeout' ? 'denied' : 'timeout';
          if (command.approve && !late) fail('approval', `an approval in time of ${event.data.intentId} was denied`);
          if (event.data.reason !== expected) fail('approval', `approval of ${event.data.intentId} denied as ${event.data.reason}, expected ${expected}`);
        }
        const next = step.events[index + 1];
        if (next?.type !== 'Refunded' || next.data.intentId !== event.data.intentId) fail('approval', `ApprovalDenied for ${event.data.intentId} does not release its hold`);
        return;
      }
      case 'LimitExceeded':
        this.judgeRefusal(command, event, atMs, fail);
        return;
      case 'BudgetThresholdReached':
        this.judgeAlert(command, event, atMs, fail);
        return;
      case 'Frozen':
      case 'Unfrozen':
      case 'ShadowRefusal':
        // The kill switch and shadow policies move no money; their own unit tests judge them.
        return;
      case 'PaymentSigned': {
        const intent = this.intents.get(event.data.intentId);
        this.counts.signatures += 1;
        if (command.type !== 'RecordSignature') fail('signature', `PaymentSigned decided by ${command.type}`);
        if (intent === undefined) {
          fail('signature', `unknown payment ${event.data.intentId} signed`);
          return;
        }
        if (intent.phase !== 'held' || intent.signature !== null) fail('signature', `payment ${intent.id} signed while ${intent.phase}${intent.signature === null ? '' : ' and already signed'}`);
        const validBeforeMs = Date.parse(event.data.validBefore);
        if (validBeforeMs > intent.validBeforeMs) fail('signature', `payment ${intent.id} signed valid until ${event.data.validBefore}, beyond what was reserved`);
        intent.signature = { nonce: event.data.nonce, payer: event.data.payer, validBeforeMs };
        return;
      }
      case 'SettlementReported': {
        const intent = this.intents.get(event.data.intentId);
        this.counts.outcomesReported += 1;
        if (intent === undefined || intent.signature === null || (intent.phase !== 'held' && intent.phase !== 'awaiting')) {
          fail('signature', `an outcome was reported for payment ${event.data.intentId}, which is ${intent === undefined ? 'unknown' : `${intent.phase}${intent.signature === null ? ' and was never signed' : ''}`}`);
        }
        return;
      }
      case 'Settled':
        this.judgeSettled(command, event, fail, touched);
        return;
      case 'Refunded':
        this.judgeRefunded(command, event, previous, fail, touched);
        return;
      default: {
        const _never: never = event;
        return;
      }
    }
  }

  private judgeHold(
    command: BudgetCommand,
    event: Extract<BudgetEvent, { type: 'Reserved' | 'ApprovalRequested' }>,
    atMs: number,
    fail: (i: DecisionInvariant, m: string) => void,
  ): IntentModel | null {
    const data = event.data;
    if (this.answers.has(data.intentId)) fail('answered-once', `payment ${data.intentId} answered a second time (${event.type}, first a ${this.answers.get(data.intentId)})`);
    if (command.type !== 'Reserve' || command.intentId !== data.intentId) {
      fail('event-shape', `${event.type} of ${data.intentId} decided by ${command.type}`);
      return null;
    }
    const session = this.sessions.get(data.sessionId);
    if (session === undefined || session.agentId !== command.agentId || data.sessionId !== command.sessionId) {
      fail('session-rules', `payment ${data.intentId} held in session ${data.sessionId}, which agent ${command.agentId} does not have`);
      return null;
    }
    const asked: [string, unknown, unknown][] = [
      ['amountMicros', data.amountMicros, command.amountMicros],
      ['amountAtomic', data.amountAtomic, command.amountAtomic],
      ['agentId', data.agentId, command.agentId],
      ['teamId', data.teamId, session.teamId],
      ['asset', data.asset, command.asset],
      ['network', data.network, command.network],
      ['payTo', data.payTo, command.payTo],
      ['resource', data.resource, command.resource],
      ['method', data.method, command.method],
    ];
    for (const [field, got, wanted] of asked) if (got !== wanted) fail('event-shape', `${event.type} of ${data.intentId} has ${field} ${show(got)}, the request ${show(wanted)}`);
    if (command.amountMicros <= 0n || command.amountAtomic <= 0n) fail('event-shape', `payment ${data.intentId} of ${command.amountMicros} µ$ / ${command.amountAtomic} held`);

    // The request's own maximum (pay-and-fetch maxPrice) holds like a policy's.
    const maxPriceMicros = command.maxPriceMicros ?? null;
    if (maxPriceMicros !== null && data.amountMicros > maxPriceMicros) fail('policy', `payment ${data.intentId} of ${data.amountMicros} µ$ held above the request's maxPrice ${maxPriceMicros}`);

    // The session: open, not expired, and under its count of payments.
    if (session.closed) fail('session-rules', `payment ${data.intentId} held in closed session ${data.sessionId}`);
    if (atMs >= session.expiresAtMs) fail('session-rules', `payment ${data.intentId} held at ${command.at}, after session ${data.sessionId} expired`);
    if (session.maxPayments !== null && session.holds >= session.maxPayments) fail('session-rules', `payment ${data.intentId} is payment ${session.holds + 1} of session ${data.sessionId}, which allows ${session.maxPayments}`);
    const validBeforeMs = Date.parse(data.validBefore);
    if (validBeforeMs > Date.parse(command.validBefore) || validBeforeMs > session.expiresAtMs) {
      fail('session-rules', `payment ${data.intentId} may be signed until ${data.validBefore}, beyond the offer or the session`);
    }

    // Every level has room for it, in the period this instant falls in.
    const chain = this.chainOf(data.sessionId);
    let afterRollover = false;
    for (const key of chain) {
      const level = this.level(key);
      if (level === undefined) {
        fail('event-shape', `payment ${data.intentId} draws on unknown level ${key}`);
        continue;
      }
      const period = calendarPeriod(level.period, atMs);
      if (level.period !== 'none' && [...level.spentByPeriod].some(([earlier, spent]) => earlier !== period && spent > 0n)) afterRollover = true;
      const used = this.usedAt(level, atMs);
      if (level.limitMicros !== null && used + data.amountMicros > level.limitMicros) {
        fail('no-overspend', `${key}: held ${level.reservedMicros} + spent ${this.spentIn(level, atMs)} in period '${calendarPeriod(level.period, atMs)}' + ${data.amountMicros} > limit ${level.limitMicros} (payment ${data.intentId})`);
      }
    }
    if (afterRollover) this.counts.holdsAfterRollover += 1;
    const wallet = command.walletAvailableAtomic ?? null;
    if (wallet !== null && command.amountAtomic > wallet) fail('no-overspend', `payment ${data.intentId} of ${command.amountAtomic} held, the wallet can cover ${wallet}`);

    // Every policy in force allows it, and it waits for approval exactly when one asks for it.
    const policies = this.policiesFor(session);
    for (const { source, policy } of policies) {
      for (const code of this.policyRefusals(policy, command, atMs)) fail('policy', `payment ${data.intentId} held though ${source}'s policy refuses it: ${code}`);
    }
    const approvers = policies.filter(({ policy }) => policy.approvalAboveMicros !== null && command.amountMicros > policy.approvalAboveMicros);
    if (event.type === 'Reserved' && approvers.length > 0) fail('approval', `payment ${data.intentId} of ${command.amountMicros} reserved without the approval ${approvers.map((a) => a.source).join(', ')} asks for`);
    if (event.type === 'ApprovalRequested') {
      this.counts.approvalsRequested += 1;
      if (approvers.length === 0) fail('approval', `payment ${data.intentId} of ${command.amountMicros} waits for an approval no policy asks for`);
      else {
        const threshold = approvers.reduce((min, a) => (a.policy.approvalAboveMicros! < min ? a.policy.approvalAboveMicros! : min), approvers[0]!.policy.approvalAboveMicros!);
        const timeoutMs = Math.min(...approvers.map((a) => a.policy.approvalTimeoutSeconds)) * 1000;
        if (event.data.thresholdMicros !== threshold) fail('approval', `payment ${data.intentId} waits under threshold ${event.data.thresholdMicros}, the strictest is ${threshold}`);
        if (Date.parse(event.data.approvalExpiresAt) !== atMs + timeoutMs) fail('approval', `approval of ${data.intentId} expires at ${event.data.approvalExpiresAt}, expected ${timeoutMs / 1000} s after the request`);
      }
    } else {
      this.counts.holds += 1;
    }

    const intent: IntentModel = {
      id: data.intentId,
      sessionId: data.sessionId,
      agentId: data.agentId,
      levels: chain,
      reservedMicros: data.amountMicros,
      reservedAtomic: data.amountAtomic,
      heldMicros: data.amountMicros,
      heldAtomic: data.amountAtomic,
      settledMicros: 0n,
      refundedMicros: 0n,
      phase: event.type === 'Reserved' ? 'held' : 'awaiting',
      validBeforeMs,
      reservedAtMs: atMs,
      approvalExpiresAtMs: event.type === 'ApprovalRequested' ? Date.parse(event.data.approvalExpiresAt) : null,
      signature: null,
    };
    this.intents.set(intent.id, intent);
    this.answers.set(intent.id, 'hold');
    for (const key of chain) {
      const level = this.level(key);
      if (level !== undefined) level.reservedMicros += data.amountMicros;
    }
    session.holds += 1;
    const history = this.holdsByAgent.get(data.agentId) ?? [];
    history.push({ atMs, sessionId: data.sessionId, loopKey: requestIdentity(command.method, command.resource) });
    this.holdsByAgent.set(data.agentId, history);
    return intent;
  }

  /** The rules of one policy this payment breaks, judged from the request and the holds so far. */
  private policyRefusals(policy: Policy, command: Reserve, atMs: number): string[] {
    const codes: string[] = [];
    const host = resolvedHost(command.resource);
    if (policy.deniedDomains.some((p) => domainPatternMatches(p, host))) codes.push('domain_not_allowed');
    if (policy.allowedDomains !== null && !policy.allowedDomains.some((p) => domainPatternMatches(p, host))) codes.push('domain_not_allowed');
    if (policy.allowedNetworks !== null && !policy.allowedNetworks.includes(command.network)) codes.push('network_not_allowed');
    if (policy.allowedAssets !== null && !policy.allowedAssets.some((a) => sameHex(a, command.asset))) codes.push('asset_not_allowed');
    if (policy.deniedPayees.some((p) => sameHex(p, command.payTo))) codes.push('payee_not_allowed');
    if (policy.allowedPayees !== null && !policy.allowedPayees.some((p) => sameHex(p, command.payTo))) codes.push('payee_not_allowed');
    if (policy.maxPerPaymentMicros !== null && command.amountMicros > policy.maxPerPaymentMicros) codes.push('price_above_max');
    const history = this.holdsByAgent.get(command.agentId) ?? [];
    const since = (windowMs: number, match: (h: HoldRecord) => boolean): number => history.filter((h) => h.atMs > atMs - windowMs && h.atMs <= atMs && match(h)).length;
    if (policy.loopGuard !== null) {
      const identity = requestIdentity(command.method, command.resource);
      if (since(policy.loopGuard.windowSeconds * 1000, (h) => h.loopKey === identity) >= policy.loopGuard.maxPayments) codes.push('loop_detected');
    }
    if (policy.maxPaymentsPerMinutePerAgent !== null && since(60_000, () => true) >= policy.maxPaymentsPerMinutePerAgent) codes.push('rate_limited');
    if (policy.maxPaymentsPerMinutePerSession !== null && since(60_000, (h) => h.sessionId === command.sessionId) >= policy.maxPaymentsPerMinutePerSession) codes.push('rate_limited');
    return codes;
  }

  private judgeRefusal(command: BudgetCommand, event: Extract<BudgetEvent, { type: 'LimitExceeded' }>, atMs: number, fail: (i: DecisionInvariant, m: string) => void): void {
    const data = event.data;
    this.counts.refusals[data.code] = (this.counts.refusals[data.code] ?? 0) + 1;
    if (this.answers.has(data.intentId)) fail('answered-once', `payment ${data.intentId} refused after it was already answered (first a ${this.answers.get(data.intentId)})`);
    this.answers.set(data.intentId, 'refusal');
    if (command.type !== 'Reserve' || command.intentId !== data.intentId) {
      fail('event-shape', `LimitExceeded of ${data.intentId} decided by ${command.type}`);
      return;
    }
    if (data.requestedMicros !== command.amountMicros) fail('event-shape', `refusal of ${data.intentId} names ${data.requestedMicros} requested, the request ${command.amountMicros}`);
    const session = this.sessions.get(command.sessionId);
    if (session === undefined) {
      fail('refusal-justified', `payment ${data.intentId} refused in unknown session ${command.sessionId}`);
      return;
    }
    const unjustified = (why: string): void => fail('refusal-justified', `payment ${data.intentId} refused ${data.level}/${data.code}, but ${why}`);
    const moneyRefusal = (key: string): void => {
      const level = this.level(key);
      if (level === undefined || level.limitMicros === null) {
        unjustified(`${key} has no limit`);
        return;
      }
      const remaining = level.limitMicros - this.usedAt(level, atMs);
      if (command.amountMicros <= remaining) unjustified(`${key} has ${remaining} left of ${level.limitMicros} for ${command.amountMicros}`);
      if (data.limitMicros !== level.limitMicros || data.remainingMicros !== remaining) {
        fail('refusal-justified', `refusal of ${data.intentId} names limit ${String(data.limitMicros)} and remaining ${String(data.remainingMicros)}; ${key} has ${level.limitMicros} and ${remaining}`);
      }
    };
    switch (data.level) {
      case 'session':
        if (data.code === 'session_closed') {
          if (!session.closed) unjustified('the session is open');
        } else if (data.code === 'session_expired') {
          if (atMs < session.expiresAtMs) unjustified(`the session expires only at ${new Date(session.expiresAtMs).toISOString()}`);
        } else if (data.code === 'session_limit_exceeded' && data.limitCount !== null) {
          if (session.maxPayments === null || session.holds < session.maxPayments || data.limitCount !== session.maxPayments) {
            unjustified(`the session made ${session.holds} of ${String(session.maxPayments)} payments`);
          }
        } else if (data.code === 'session_limit_exceeded') moneyRefusal(`session:${command.sessionId}`);
        else unjustified('that is not a session refusal');
        return;
      case 'agent':
      case 'team':
      case 'org': {
        if (data.code !== `${data.level}_limit_exceeded`) unjustified('the code does not name the level');
        const key = data.level === 'org' ? ORG_LEVEL : data.level === 'agent' ? `agent:${session.agentId}` : `team:${String(session.teamId)}`;
        moneyRefusal(key);
        return;
      }
      case 'policy': {
        const source = data.policySource ?? '';
        const policy = this.policiesFor(session).find((p) => p.source === source)?.policy;
        if (policy === undefined) unjustified(`no policy ${source} is in force`);
        else if (!this.policyRefusals(policy, command, atMs).includes(data.code)) unjustified(`${source}'s policy allows it`);
        return;
      }
      case 'request': {
        const maxPriceMicros = command.maxPriceMicros ?? null;
        if (data.code !== 'price_above_max') unjustified('the request refuses only above its maxPrice');
        else if (maxPriceMicros === null || command.amountMicros <= maxPriceMicros) unjustified(`the request's maxPrice is ${String(maxPriceMicros)}`);
        else if (data.limitMicros !== maxPriceMicros) fail('refusal-justified', `refusal of ${data.intentId} names limit ${String(data.limitMicros)}, the request's maxPrice is ${maxPriceMicros}`);
        return;
      }
      case 'wallet': {
        const wallet = command.walletAvailableAtomic ?? null;
        if (wallet === null || command.amountAtomic <= wallet) unjustified(`the wallet can cover ${String(wallet)}`);
        return;
      }
      default: {
        const _never: never = data.level;
        return;
      }
    }
  }

  /** An alert names a threshold the level's used money reached this period, once per period. */
  private judgeAlert(command: BudgetCommand, event: Extract<BudgetEvent, { type: 'BudgetThresholdReached' }>, atMs: number, fail: (i: DecisionInvariant, m: string) => void): void {
    const data = event.data;
    this.counts.alerts += 1;
    const key = data.level === 'org' ? ORG_LEVEL : `${data.level}:${data.levelId}`;
    const level = this.level(key);
    if (command.type !== 'Reserve' || level === undefined || level.limitMicros === null) {
      fail('alerts', `alert for ${key} raised by ${command.type} on a level ${level === undefined ? 'unknown' : 'without a limit'}`);
      return;
    }
    const periodKey = calendarPeriod(level.period, atMs);
    const used = this.usedAt(level, atMs);
    const session = this.sessions.get(command.sessionId);
    const percents = session === undefined ? [] : this.alertPercents(data.level, session);
    if (!percents.includes(data.thresholdPercent)) fail('alerts', `alert of ${data.thresholdPercent}% for ${key}, whose thresholds are ${show(percents)}`);
    if (data.periodKey !== periodKey) fail('alerts', `alert for ${key} in period '${data.periodKey}', the payment is in '${periodKey}'`);
    if (data.limitMicros !== level.limitMicros || data.usedMicros !== used) fail('alerts', `alert for ${key} names used ${data.usedMicros} of ${data.limitMicros}; it is ${used} of ${level.limitMicros}`);
    if (used * 100n < level.limitMicros * BigInt(data.thresholdPercent)) fail('alerts', `alert of ${data.thresholdPercent}% for ${key} at ${used} of ${level.limitMicros}`);
    const mark = `${periodKey}/${data.thresholdPercent}`;
    if (level.alerted.has(mark)) fail('alerts', `alert of ${data.thresholdPercent}% for ${key} raised twice in period '${periodKey}'`);
    level.alerted.add(mark);
  }

  /** Every threshold a hold made its levels reach was raised, now or before in the period. */
  private judgeAlertsComplete(hold: IntentModel, atMs: number, fail: (i: DecisionInvariant, m: string) => void): void {
    const session = this.sessions.get(hold.sessionId);
    if (session === undefined) return;
    for (const key of hold.levels) {
      const level = this.level(key);
      if (level === undefined || level.limitMicros === null || level.limitMicros <= 0n) continue;
      const kind = key === ORG_LEVEL ? 'org' : (key.slice(0, key.indexOf(':')) as 'session' | 'agent' | 'team');
      const used = this.usedAt(level, atMs);
      const periodKey = calendarPeriod(level.period, atMs);
      for (const percent of this.alertPercents(kind, session)) {
        const mark = `${periodKey}/${percent}`;
        if (used * 100n >= level.limitMicros * BigInt(percent) && !level.alerted.has(mark) && !level.alertedBeforeChange.has(mark)) {
          fail('alerts', `${key} reached ${percent}% (${used} of ${level.limitMicros}) with payment ${hold.id} and no alert was raised`);
        }
      }
    }
  }

  /** A level's own thresholds, else its nearest ancestor's; a session's start at its agent. */
  private alertPercents(kind: 'session' | 'agent' | 'team' | 'org', session: SessionModel): number[] {
    const sources: string[] = [];
    if (kind === 'session' || kind === 'agent') sources.push(`agent:${session.agentId}`);
    if (kind !== 'org' && session.teamId !== null) sources.push(`team:${session.teamId}`);
    sources.push(ORG_LEVEL);
    for (const source of sources) {
      const percents = this.policies.get(source)?.policy.budgetAlertPercents ?? [];
      if (percents.length > 0) return percents;
    }
    return [];
  }

  private judgeSettled(command: BudgetCommand, event: Extract<BudgetEvent, { type: 'Settled' }>, fail: (i: DecisionInvariant, m: string) => void, touched: Set<IntentModel>): void {
    const data = event.data;
    const intent = this.intents.get(data.intentId);
    if (command.type !== 'Settle' || command.intentId !== data.intentId) fail('event-shape', `Settled of ${data.intentId} decided by ${command.type}`);
    if (intent === undefined) {
      fail('conservation', `unknown payment ${data.intentId} settled`);
      return;
    }
    touched.add(intent);
    if (intent.phase !== 'held') fail('conservation', `payment ${intent.id} settled while ${intent.phase}`);
    if (intent.signature === null) fail('signature', `payment ${intent.id} settled, but it was never signed, so it cannot have been paid`);
    if (data.amountAtomic <= 0n || data.amountAtomic > intent.heldAtomic) fail('conservation', `payment ${intent.id} settled ${data.amountAtomic} atomic, it holds ${intent.heldAtomic}`);
    // Charged what was paid, in proportion, rounded up: never less, and less than one micro-dollar more.
    const floorMicros = (intent.reservedMicros * data.amountAtomic) / intent.reservedAtomic;
    const exact = floorMicros * intent.reservedAtomic === intent.reservedMicros * data.amountAtomic;
    const expected = exact ? floorMicros : floorMicros + 1n;
    if (data.amountMicros !== expected) fail('conservation', `payment ${intent.id} settled ${data.amountAtomic} of ${intent.reservedAtomic} atomic and was charged ${data.amountMicros} µ$, not ${expected} of ${intent.reservedMicros}`);
    if (data.amountMicros > intent.heldMicros) fail('no-overspend', `payment ${intent.id} charged ${data.amountMicros}, more than the ${intent.heldMicros} it holds`);
    const settledAtMs = Date.parse(data.settledAt);
    for (const key of intent.levels) {
      const level = this.level(key);
      if (level === undefined) continue;
      level.reservedMicros -= data.amountMicros;
      const period = calendarPeriod(level.period, settledAtMs);
      level.spentByPeriod.set(period, (level.spentByPeriod.get(period) ?? 0n) + data.amountMicros);
    }
    intent.heldMicros -= data.amountMicros;
    intent.heldAtomic -= data.amountAtomic;
    intent.settledMicros += data.amountMicros;
    intent.phase = 'settled';
    if (data.amountAtomic === intent.reservedAtomic) this.counts.settledFull += 1;
    else this.counts.settledPartial += 1;
  }

  private judgeRefunded(
    command: BudgetCommand,
    event: Extract<BudgetEvent, { type: 'Refunded' }>,
    previous: BudgetEvent | undefined,
    fail: (i: DecisionInvariant, m: string) => void,
    touched: Set<IntentModel>,
  ): void {
    const data = event.data;
    const intent = this.intents.get(data.intentId);
    if (intent === undefined) {
      fail('conservation', `unknown payment ${data.intentId} refunded`);
      return;
    }
    touched.add(intent);
    const paidLess = previous?.type === 'Settled' && previous.data.intentId === intent.id;
    if (paidLess) {
      if (data.amountMicros !== intent.heldMicros || data.amountAtomic !== intent.heldAtomic) {
        fail('conservation', `payment ${intent.id} paid less and gave back ${data.amountMicros} µ$ / ${data.amountAtomic}, it held ${intent.heldMicros} / ${intent.heldAtomic}`);
      }
    } else {
      if (intent.phase !== 'held' && intent.phase !== 'awaiting') fail('conservation', `payment ${intent.id} refunded while ${intent.phase}`);
      if (command.type === 'DecideApproval') {
        if (previous?.type !== 'ApprovalDenied') fail('approval', `payment ${intent.id} refunded by an approval without ApprovalDenied`);
      } else if (command.type === 'Release') {
        this.counts.released += 1;
        if (intent.signature !== null) {
          const proof = command.proof;
          if (proof.kind !== 'expired_unused' || Date.parse(proof.chainTime) < intent.signature.validBeforeMs) {
            fail('no-premature-release', `signed payment ${intent.id} released with proof ${show(proof)} before its authorization expired at ${new Date(intent.signature.validBeforeMs).toISOString()}`);
          } else this.counts.releasedAfterExpiry += 1;
        }
      } else fail('event-shape', `payment ${intent.id} refunded by ${command.type}`);
      if (data.amountMicros !== intent.heldMicros || data.amountAtomic !== intent.heldAtomic) {
        fail('conservation', `payment ${intent.id} released ${data.amountMicros} µ$ / ${data.amountAtomic}, it held ${intent.heldMicros} / ${intent.heldAtomic}`);
      }
    }
    for (const key of intent.levels) {
      const level = this.level(key);
      if (level !== undefined) level.reservedMicros -= data.amountMicros;
    }
    intent.heldMicros -= data.amountMicros;
    intent.heldAtomic -= data.amountAtomic;
    intent.refundedMicros += data.amountMicros;
    if (intent.phase === 'held' || intent.phase === 'awaiting') intent.phase = 'refunded';
  }

  /** reserved = settled + refunded + held, nothing negative, and nothing held once it is over. */
  private judgeConservation(intent: IntentModel, fail: (i: DecisionInvariant, m: string) => void): void {
    if (intent.settledMicros + intent.refundedMicros + intent.heldMicros !== intent.reservedMicros) {
      fail('conservation', `payment ${intent.id}: settled ${intent.settledMicros} + refunded ${intent.refundedMicros} + held ${intent.heldMicros} ≠ reserved ${intent.reservedMicros}`);
    }
    if (intent.heldMicros < 0n || intent.heldAtomic < 0n || intent.settledMicros < 0n || intent.refundedMicros < 0n) fail('conservation', `payment ${intent.id} has a negative amount`);
    if ((intent.phase === 'settled' || intent.phase === 'refunded') && (intent.heldMicros !== 0n || intent.heldAtomic !== 0n)) {
      fail('conservation', `payment ${intent.id} is ${intent.phase} and still holds ${intent.heldMicros} µ$ / ${intent.heldAtomic}`);
    }
    for (const key of intent.levels) {
      const level = this.level(key);
      if (level !== undefined && level.reservedMicros < 0n) fail('conservation', `${key} holds ${level.reservedMicros}`);
    }
  }
}

function newLevel(limitMicros: bigint | null): LevelModel {
  return { limitMicros, period: 'none', reservedMicros: 0n, spentByPeriod: new Map(), alerted: new Set(), alertedBeforeChange: new Set() };
}

/** Judges a whole history at once. */
export function checkDecisionHistory(orgId: string, steps: readonly DecisionStep[]): { violations: DecisionViolation[]; counts: DecisionCounts } {
  const oracle = new DecisionHistoryOracle(orgId);
  for (const step of steps) oracle.observe(step);
  oracle.finish();
  return { violations: oracle.violations, counts: oracle.counts };
}
