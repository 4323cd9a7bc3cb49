import type { BudgetLevel } from './commands.js';
import type { ApprovalRequested, BudgetEvent, Reserved } from './events.js';
import { HISTORY_PER_AGENT_MAX, HISTORY_WINDOW_MS_MAX, withPolicyDefaults, type RecentPayment } from './policy.js';
import { CLOSED_PAYMENT_RETENTION_MS, emptyBudget, idempotencyIndex, periodKeyAt, policyKey, type Budget, type IntentStatus, type OrgState } from './state.js';

/**
 * Applies one event to the org state. Total: it never throws, and an event that refers to
 * something unknown changes nothing. It updates the given state in place and returns it,
 * because copying maps of thousands of sessions for every event would make a batch of
 * decisions quadratic; a caller that must keep the old state rebuilds it from events.
 */
export function evolve(state: OrgState, event: BudgetEvent): OrgState {
  switch (event.type) {
    case 'OrgCreated':
      state.exists = true;
      state.name = event.data.name;
      state.budget = emptyBudget(event.data.limitMicros);
      return state;
    case 'TeamCreated':
      state.teams.set(event.data.teamId, { name: event.data.name, budget: emptyBudget(event.data.limitMicros) });
      return state;
    case 'AgentRegistered':
      state.agents.set(event.data.agentId, {
        teamId: event.data.teamId,
        name: event.data.name,
        budget: emptyBudget(event.data.limitMicros),
      });
      return state;
    case 'BudgetChanged': {
      const budget = levelBudget(state, event.data.level, event.data.levelId);
      if (budget === undefined) return state;
      budget.limitMicros = event.data.after.limitMicros;
      if (budget.period !== event.data.after.period) {
        // A new kind of period starts counting afresh; the history stays in the events.
        budget.period = event.data.after.period;
        budget.periodKey = '';
        budget.spentMicros = 0n;
      }
      return state;
    }
    case 'AgentKeyChanged':
      // Keys are checked outside the domain; the event is the audit record.
      return state;
    case 'PolicyChanged': {
      const key = policyKey(event.data.level, event.data.levelId);
      if (event.data.mode === 'shadow') {
        state.shadowPolicies.set(key, { policy: withPolicyDefaults(event.data.after), version: event.data.version });
        return state;
      }
      state.policies.set(key, { policy: withPolicyDefaults(event.data.after), version: event.data.version });
      // A promoted shadow is in force now; its version keeps counting, so an old ETag never matches again.
      if (event.data.promotedFromShadowVersion !== undefined) state.shadowPolicies.set(key, { policy: null, version: event.data.promotedFromShadowVersion });
      return state;
    }
    case 'Frozen':
      state.frozen.set(policyKey(event.data.level, event.data.levelId), { reason: event.data.reason });
      return state;
    case 'Unfrozen':
      state.frozen.delete(policyKey(event.data.level, event.data.levelId));
      return state;
    case 'ShadowRefusal':
      // A record for finance: the shadow policy decided nothing.
      return state;
    case 'SessionOpened': {
      const { data } = event;
      state.sessions.set(data.sessionId, {
        agentId: data.agentId,
        teamId: data.teamId,
        budget: { ...emptyBudget(data.limitMicros), limitMicros: data.limitMicros },
        expiresAt: data.expiresAt,
        maxPayments: data.maxPayments,
        paymentsCount: 0,
        closed: false,
      });
      rememberOpenSession(state, data.agentId, data.sessionId);
      if (data.idempotencyKey !== null && data.requestHash !== null) {
        state.idempotency.set(idempotencyIndex(data.agentId, data.idempotencyKey), {
          kind: 'session',
          entityId: data.sessionId,
          requestHash: data.requestHash,
        });
      }
      return state;
    }
    case 'SessionClosed': {
      const session = state.sessions.get(event.data.sessionId);
      if (session !== undefined) session.closed = true;
      state.openSessionsByAgent.get(event.data.agentId)?.delete(event.data.sessionId);
      return state;
    }
    case 'Reserved':
    case 'ApprovalRequested': {
      const { data } = event;
      const existing = state.intents.get(data.intentId);
      if (existing !== undefined) {
        // An approved payment: its money has been held since it was requested.
        if (existing.status === 'awaiting_approval' && event.type === 'Reserved') {
          existing.status = 'reserved';
          existing.pendingApproval = null;
        }
        return state;
      }
      state.intents.set(data.intentId, {
        sessionId: data.sessionId,
        agentId: data.agentId,
        teamId: data.teamId,
        amountMicros: data.amountMicros,
        amountAtomic: data.amountAtomic,
        status: event.type === 'Reserved' ? 'reserved' : 'awaiting_approval',
        network: data.network,
        asset: data.asset,
        payTo: data.payTo,
        validBefore: data.validBefore,
        payer: null,
        nonce: null,
        requestHash: data.requestHash,
        pendingApproval: event.type === 'ApprovalRequested' ? { reservation: withoutApprovalFields(event.data), expiresAt: event.data.approvalExpiresAt } : null,
      });
      for (const budget of hierarchy(state, data.sessionId)) budget.reservedMicros += data.amountMicros;
      const session = state.sessions.get(data.sessionId);
      if (session !== undefined) session.paymentsCount += 1;
      const reservedAtMs = Date.parse(data.reservedAt);
      advanceClock(state, reservedAtMs);
      forgetClosed(state);
      rememberRecentPayment(state, data.agentId, { atMs: reservedAtMs, sessionId: data.sessionId, loopKey: data.loopKey ?? loopKeyOf(data.method, data.resource) });
      rememberIntentKey(state, data.agentId, data.idempotencyKey, data.requestHash, data.intentId);
      return state;
    }
    case 'ApprovalGranted':
    case 'ApprovalDenied':
      // The Reserved or Refunded event that follows carries the change.
      return state;
    case 'LimitExceeded': {
      const { data } = event;
      state.refusals.set(data.intentId, {
        sessionId: data.sessionId,
        level: data.level,
        code: data.code,
        requestHash: data.requestHash,
      });
      rememberIntentKey(state, data.agentId, data.idempotencyKey, data.requestHash, data.intentId);
      rememberClosed(state, data.intentId);
      forgetClosed(state);
      return state;
    }
    case 'BudgetThresholdReached': {
      const { data } = event;
      const budget = data.level === 'session' ? state.sessions.get(data.levelId)?.budget : levelBudget(state, data.level, data.levelId);
      if (budget === undefined) return state;
      if (budget.alerted.periodKey !== data.periodKey) budget.alerted = { periodKey: data.periodKey, percents: [] };
      if (!budget.alerted.percents.includes(data.thresholdPercent)) budget.alerted.percents.push(data.thresholdPercent);
      return state;
    }
    case 'PaymentSigned': {
      const intent = state.intents.get(event.data.intentId);
      if (intent === undefined || intent.status !== 'reserved') return state;
      intent.status = 'signed';
      intent.payer = event.data.payer;
      intent.nonce = event.data.nonce;
      intent.validBefore = event.data.validBefore;
      return state;
    }
    case 'SettlementReported': {
      const intent = state.intents.get(event.data.intentId);
      if (intent !== undefined && intent.status === 'signed' && event.data.outcome !== 'paid') intent.status = 'unknown';
      return state;
    }
    case 'Settled': {
      const intent = state.intents.get(event.data.intentId);
      if (intent === undefined || !isOpen(intent.status)) return state;
      // The whole hold leaves `reserved`; what was paid moves to `spent`, and the rest is
      // given back by the Refunded event that accompanies a partial settlement.
      for (const budget of hierarchy(state, intent.sessionId)) {
        budget.reservedMicros -= event.data.amountMicros;
        const key = periodKeyAt(budget.period, event.data.settledAt);
        if (key !== budget.periodKey) {
          budget.periodKey = key;
          budget.spentMicros = 0n;
        }
        budget.spentMicros += event.data.amountMicros;
      }
      intent.amountMicros -= event.data.amountMicros;
      intent.amountAtomic -= event.data.amountAtomic;
      intent.status = 'settled';
      advanceClock(state, Date.parse(event.data.settledAt));
      rememberClosed(state, event.data.intentId);
      return state;
    }
    case 'Refunded': {
      const intent = state.intents.get(event.data.intentId);
      if (intent === undefined) return state;
      for (const budget of hierarchy(state, intent.sessionId)) budget.reservedMicros -= event.data.amountMicros;
      intent.amountMicros -= event.data.amountMicros;
      intent.amountAtomic -= event.data.amountAtomic;
      if (isOpen(intent.status)) {
        intent.status = 'refunded';
        rememberClosed(state, event.data.intentId);
      }
      return state;
    }
    default: {
      const _never: never = event;
      return state;
    }
  }
}

function withoutApprovalFields(data: ApprovalRequested['data']): Reserved['data'] {
  const { approvalExpiresAt: _expires, policySource: _source, thresholdMicros: _threshold, ...reservation } = data;
  return reservation;
}

/** The loop guard's notion of "the same request": method and URL without the fragment. */
export function loopKeyOf(method: string, resource: string): string {
  return `${method.toUpperCase()} ${resource.split('#')[0] ?? resource}`;
}

function rememberRecentPayment(state: OrgState, agentId: string, payment: RecentPayment): void {
  const list = state.recentPayments.get(agentId);
  if (list === undefined) {
    state.recentPayments.set(agentId, [payment]);
    return;
  }
  list.push(payment);
  // Forget what no guard can look at any more (older than the longest window, or beyond the
  // newest HISTORY_PER_AGENT_MAX), so the state stays bounded. It goes in chunks of at least
  // an eighth of the list: dropping one payment per payment would move the whole list each
  // time, which for a busy agent is 10,000 entries per decision.
  const minDrop = Math.max(1, list.length >> 3);
  const horizonMs = payment.atMs - HISTORY_WINDOW_MS_MAX;
  if (list.length - HISTORY_PER_AGENT_MAX < minDrop && list[minDrop - 1]!.atMs >= horizonMs) return;
  let drop = 0;
  while (drop < list.length && (list[drop]!.atMs < horizonMs || list.length - drop > HISTORY_PER_AGENT_MAX)) drop += 1;
  if (drop >= minDrop) list.splice(0, drop);
}

/**
 * Adds the session to its agent's possibly-open sessions, and drops those already closed or
 * expired by the org's payment time, so the set the cap counts stays near the open ones.
 */
function rememberOpenSession(state: OrgState, agentId: string, sessionId: string): void {
  let open = state.openSessionsByAgent.get(agentId);
  if (open === undefined) {
    open = new Set();
    state.openSessionsByAgent.set(agentId, open);
  }
  for (const id of open) {
    const session = state.sessions.get(id);
    if (session === undefined || session.closed || Date.parse(session.expiresAt) <= state.closed.clockMs) open.delete(id);
  }
  open.add(sessionId);
}

function advanceClock(state: OrgState, atMs: number): void {
  if (Number.isFinite(atMs) && atMs > state.closed.clockMs) state.closed.clockMs = atMs;
}

/** The payment is over: it is remembered from the org's current payment time on. */
function rememberClosed(state: OrgState, intentId: string): void {
  state.closed.queue.push({ intentId, closedAtMs: state.closed.clockMs });
}

/**
 * Forgets the closed payments past their retention, oldest first; called at each new
 * payment, so it costs O(1) per payment amortized. The queue is compacted once most of it
 * is forgotten.
 */
function forgetClosed(state: OrgState): void {
  const closed = state.closed;
  const horizonMs = closed.clockMs - CLOSED_PAYMENT_RETENTION_MS;
  while (closed.head < closed.queue.length) {
    const oldest = closed.queue[closed.head]!;
    if (closed.queue.length - closed.head <= closed.retainedMax && oldest.closedAtMs > horizonMs) break;
    const intent = state.intents.get(oldest.intentId);
    if (intent === undefined) state.refusals.delete(oldest.intentId);
    else if (!isOpen(intent.status)) state.intents.delete(oldest.intentId);
    closed.head += 1;
  }
  if (closed.head >= 1_024 && closed.head * 2 >= closed.queue.length) {
    closed.queue.splice(0, closed.head);
    closed.head = 0;
  }
}

/** A payment whose money is still held: not yet settled or refunded. */
export function isOpen(status: IntentStatus): boolean {
  return status === 'awaiting_approval' || status === 'reserved' || status === 'signed' || status === 'unknown';
}

function rememberIntentKey(state: OrgState, agentId: string, key: string | null, requestHash: string | null, intentId: string): void {
  if (key === null || requestHash === null) return;
  state.idempotency.set(idempotencyIndex(agentId, key), { kind: 'intent', entityId: intentId, requestHash });
}

function levelBudget(state: OrgState, level: 'org' | 'team' | 'agent', levelId: string): Budget | undefined {
  switch (level) {
    case 'org':
      return state.budget;
    case 'team':
      return state.teams.get(levelId)?.budget;
    case 'agent':
      return state.agents.get(levelId)?.budget;
    default: {
      const _never: never = level;
      return undefined;
    }
  }
}

/** The budgets a payment in this session draws on, session first and org last. */
export function hierarchy(state: OrgState, sessionId: string): Budget[] {
  return hierarchyLevels(state, sessionId).map((entry) => entry.budget);
}

export interface HierarchyLevel {
  level: BudgetLevel;
  levelId: string;
  budget: Budget;
}

export function hierarchyLevels(state: OrgState, sessionId: string): HierarchyLevel[] {
  const session = state.sessions.get(sessionId);
  if (session === undefined) return [];
  const levels: HierarchyLevel[] = [{ level: 'session', levelId: sessionId, budget: session.budget }];
  const agent = state.agents.get(session.agentId);
  if (agent !== undefined) levels.push({ level: 'agent', levelId: session.agentId, budget: agent.budget });
  const team = session.teamId === null ? undefined : state.teams.get(session.teamId);
  if (team !== undefined && session.teamId !== null) levels.push({ level: 'team', levelId: session.teamId, budget: team.budget });
  levels.push({ level: 'org', levelId: state.orgId, budget: state.budget });
  return levels;
}
