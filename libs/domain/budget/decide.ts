import type {
  BudgetCommand,
  BudgetLevel,
  ChangeBudget,
  CreateOrg,
  CreateTeam,
  ChangePolicy,
  CloseSession,
  DecideApproval,
  FreezeLevel,
  OpenSession,
  PromoteShadowPolicy,
  UnfreezeLevel,
  RecordSignature,
  RegisterAgent,
  Release,
  ReportOutcome,
  Reserve,
  Settle,
} from './commands.js';
import { ATOMIC_AMOUNT_MAX, USD_MICROS_MAX } from '../money.js';
import { DomainError } from './errors.js';
import type { BudgetEvent, BudgetThresholdReached, LimitExceeded, RefusalCode, Reserved, ShadowRefusal } from './events.js';
import { hierarchyLevels, isOpen, loopKeyOf, type HierarchyLevel } from './evolve.js';
import { approvalNeeded, EMPTY_POLICY, evaluatePolicies, type Policy } from './policy.js';
import { idempotencyIndex, openSessionCount, periodKeyAt, policyKey, remainingMicros, spentInPeriodMicros, type OrgState } from './state.js';

/**
 * Decides one command against the org state. Returns the events that record the decision
 * (a refusal to pay is an event too: LimitExceeded), an empty list when the command was
 * already carried out (a retry), or throws a DomainError when the command cannot apply.
 */
export function decide(command: BudgetCommand, state: OrgState): BudgetEvent[] {
  switch (command.type) {
    case 'CreateOrg':
      return createOrg(command, state);
    case 'CreateTeam':
      return createTeam(command, state);
    case 'RegisterAgent':
      return registerAgent(command, state);
    case 'ChangeBudget':
      return changeBudget(command, state);
    case 'ChangePolicy':
      return changePolicy(command, state);
    case 'ChangeAgentKey':
      requireOrg(state);
      if (!state.agents.has(command.agentId)) throw new DomainError('agent_not_found', `agent ${command.agentId} does not exist`);
      return [{ type: 'AgentKeyChanged', data: { orgId: command.orgId, agentId: command.agentId, change: command.change } }];
    case 'OpenSession':
      return openSession(command, state);
    case 'CloseSession':
      return closeSession(command, state);
    case 'Reserve':
      return reserve(command, state);
    case 'RecordSignature':
      return recordSignature(command, state);
    case 'ReportOutcome':
      return reportOutcome(command, state);
    case 'DecideApproval':
      return decideApproval(command, state);
    case 'Settle':
      return settle(command, state);
    case 'Release':
      return release(command, state);
    case 'PromoteShadowPolicy':
      return promoteShadowPolicy(command, state);
    case 'FreezeLevel':
    case 'UnfreezeLevel':
      return changeFreeze(command, state);
    default: {
      const _never: never = command;
      throw new DomainError('invalid_command', 'unknown command');
    }
  }
}

function createOrg(command: CreateOrg, state: OrgState): BudgetEvent[] {
  if (state.exists) throw new DomainError('org_already_exists', `org ${command.orgId} already exists`);
  assertLimit(command.limitMicros);
  return [{ type: 'OrgCreated', data: { orgId: command.orgId, name: command.name, limitMicros: command.limitMicros } }];
}

function createTeam(command: CreateTeam, state: OrgState): BudgetEvent[] {
  requireOrg(state);
  if (state.teams.has(command.teamId)) throw new DomainError('team_already_exists', `team ${command.teamId} already exists`);
  assertLimit(command.limitMicros);
  return [
    { type: 'TeamCreated', data: { orgId: command.orgId, teamId: command.teamId, name: command.name, limitMicros: command.limitMicros } },
  ];
}

function registerAgent(command: RegisterAgent, state: OrgState): BudgetEvent[] {
  requireOrg(state);
  if (state.agents.has(command.agentId)) throw new DomainError('agent_already_exists', `agent ${command.agentId} already exists`);
  if (command.teamId !== null && !state.teams.has(command.teamId)) {
    throw new DomainError('team_not_found', `team ${command.teamId} does not exist`);
  }
  assertLimit(command.limitMicros);
  return [
    {
      type: 'AgentRegistered',
      data: { orgId: command.orgId, agentId: command.agentId, teamId: command.teamId, name: command.name, limitMicros: command.limitMicros },
    },
  ];
}

function changeBudget(command: ChangeBudget, state: OrgState): BudgetEvent[] {
  requireOrg(state);
  assertLimit(command.limitMicros);
  const budget =
    command.level === 'org'
      ? state.budget
      : command.level === 'team'
        ? state.teams.get(command.levelId)?.budget
        : state.agents.get(command.levelId)?.budget;
  if (budget === undefined) throw new DomainError(`${command.level}_not_found`, `${command.level} ${command.levelId} does not exist`);
  if (budget.limitMicros === command.limitMicros && budget.period === command.period) return [];
  return [
    {
      type: 'BudgetChanged',
      data: {
        orgId: command.orgId,
        level: command.level,
        levelId: command.levelId,
        before: { limitMicros: budget.limitMicros, period: budget.period },
        after: { limitMicros: command.limitMicros, period: command.period },
      },
    },
  ];
}

function changePolicy(command: ChangePolicy, state: OrgState): BudgetEvent[] {
  requireOrg(state);
  if (command.level === 'team' && !state.teams.has(command.levelId)) throw new DomainError('team_not_found', `team ${command.levelId} does not exist`);
  if (command.level === 'agent' && !state.agents.has(command.levelId)) throw new DomainError('agent_not_found', `agent ${command.levelId} does not exist`);
  const key = policyKey(command.level, command.levelId);
  const shadow = command.mode === 'shadow';
  const stored = shadow ? state.shadowPolicies.get(key) : state.policies.get(key);
  const current = { policy: stored?.policy ?? EMPTY_POLICY, version: stored?.version ?? 0 };
  if (command.expectedVersion !== null && command.expectedVersion !== current.version) {
    throw new DomainError('policy_version_mismatch', `the ${shadow ? 'shadow ' : ''}policy is at version ${current.version}, not ${command.expectedVersion}`);
  }
  if (command.policy.maxPerPaymentMicros !== null) assertUsdBound(command.policy.maxPerPaymentMicros, 'maxPerPayment');
  if (command.policy.approvalAboveMicros !== null) assertUsdBound(command.policy.approvalAboveMicros, 'approvalAbove');
  return [
    {
      type: 'PolicyChanged',
      data: {
        orgId: command.orgId,
        level: command.level,
        levelId: command.levelId,
        version: current.version + 1,
        before: current.policy,
        after: command.policy,
        ...(shadow ? { mode: 'shadow' as const } : {}),
      },
    },
  ];
}

function promoteShadowPolicy(command: PromoteShadowPolicy, state: OrgState): BudgetEvent[] {
  requireOrg(state);
  const key = policyKey(command.level, command.levelId);
  const shadow = state.shadowPolicies.get(key);
  if (shadow === undefined || shadow.policy === null) {
    throw new DomainError('shadow_policy_not_found', `${key} has no shadow policy to promote`);
  }
  if (command.expectedShadowVersion !== null && command.expectedShadowVersion !== shadow.version) {
    throw new DomainError('policy_version_mismatch', `the shadow policy is at version ${shadow.version}, not ${command.expectedShadowVersion}`);
  }
  const enforced = state.policies.get(key) ?? { policy: EMPTY_POLICY, version: 0 };
  return [
    {
      type: 'PolicyChanged',
      data: {
        orgId: command.orgId,
        level: command.level,
        levelId: command.levelId,
        version: enforced.version + 1,
        before: enforced.policy,
        after: shadow.policy,
        promotedFromShadowVersion: shadow.version,
      },
    },
  ];
}

/** Freezing a frozen level, or unfreezing one that is not, records nothing: the state is already so. */
function changeFreeze(command: FreezeLevel | UnfreezeLevel, state: OrgState): BudgetEvent[] {
  requireOrg(state);
  requireLevel(state, command.level, command.levelId);
  const frozen = state.frozen.has(policyKey(command.level, command.levelId));
  const freeze = command.type === 'FreezeLevel';
  if (frozen === freeze) return [];
  const data = { orgId: command.orgId, level: command.level, levelId: command.levelId, reason: command.reason };
  return [freeze ? { type: 'Frozen', data } : { type: 'Unfrozen', data }];
}

function requireLevel(state: OrgState, level: 'org' | 'team' | 'agent', levelId: string): void {
  if (level === 'org' && levelId !== state.orgId) throw new DomainError('org_not_found', `org ${levelId} does not exist`);
  if (level === 'team' && !state.teams.has(levelId)) throw new DomainError('team_not_found', `team ${levelId} does not exist`);
  if (level === 'agent' && !state.agents.has(levelId)) throw new DomainError('agent_not_found', `agent ${levelId} does not exist`);
}

/** The frozen level a payment or session of this agent falls under, org first; null when none is. */
export function frozenLevelOf(state: OrgState, teamId: string | null, agentId: string): { level: 'org' | 'team' | 'agent'; levelId: string } | null {
  if (state.frozen.size === 0) return null;
  if (state.frozen.has('org')) return { level: 'org', levelId: state.orgId };
  if (teamId !== null && state.frozen.has(policyKey('team', teamId))) return { level: 'team', levelId: teamId };
  if (state.frozen.has(policyKey('agent', agentId))) return { level: 'agent', levelId: agentId };
  return null;
}

function openSession(command: OpenSession, state: OrgState): BudgetEvent[] {
  requireOrg(state);
  const agent = state.agents.get(command.agentId);
  if (agent === undefined) throw new DomainError('agent_not_found', `agent ${command.agentId} does not exist`);
  if (command.idempotency !== null) {
    const previous = state.idempotency.get(idempotencyIndex(command.agentId, command.idempotency.key));
    if (previous !== undefined) {
      assertSameRequest(previous.requestHash, command.idempotency.requestHash);
      return [];
    }
  }
  if (state.sessions.has(command.sessionId)) throw new DomainError('session_already_exists', `session ${command.sessionId} already exists`);
  const frozen = frozenLevelOf(state, agent.teamId, command.agentId);
  if (frozen !== null) throw new DomainError('agent_frozen', `${frozen.level} ${frozen.levelId} is frozen by an admin: no new sessions`);
  if (command.limitMicros <= 0n) throw new DomainError('invalid_command', 'a session limit must be positive');
  assertUsdBound(command.limitMicros, 'a session limit');
  if (command.maxPayments !== null && command.maxPayments < 1) throw new DomainError('invalid_command', 'maxPayments must be at least 1');
  const openMax = command.openSessionsMax ?? null;
  if (openMax !== null) {
    const open = openSessionCount(state, command.agentId, command.at);
    if (open >= openMax) {
      throw new DomainError('too_many_open_sessions', `agent ${command.agentId} has ${open} open sessions, the most it may have at once; close one first`, { limit: openMax, open });
    }
  }
  return [
    {
      type: 'SessionOpened',
      data: {
        sessionId: command.sessionId,
        agentId: command.agentId,
        teamId: agent.teamId,
        orgId: command.orgId,
        limitMicros: command.limitMicros,
        expiresAt: command.expiresAt,
        maxPayments: command.maxPayments,
        metadata: command.metadata,
        idempotencyKey: command.idempotency?.key ?? null,
        requestHash: command.idempotency?.requestHash ?? null,
      },
    },
  ];
}

function closeSession(command: CloseSession, state: OrgState): BudgetEvent[] {
  const session = state.sessions.get(command.sessionId);
  // Another agent's session is reported exactly like a missing one, so ids reveal nothing.
  if (session === undefined || session.agentId !== command.agentId) {
    throw new DomainError('session_not_found', `session ${command.sessionId} does not exist`);
  }
  // Closing is idempotent: a closed session stays closed, and a retry changes nothing.
  if (session.closed) return [];
  return [{ type: 'SessionClosed', data: { sessionId: command.sessionId, agentId: command.agentId, orgId: command.orgId, closedAt: command.at } }];
}

function reserve(command: Reserve, state: OrgState): BudgetEvent[] {
  const session = state.sessions.get(command.sessionId);
  // Another agent's session is reported exactly like a missing one, so ids reveal nothing.
  if (session === undefined || session.agentId !== command.agentId) {
    throw new DomainError('session_not_found', `session ${command.sessionId} does not exist`);
  }
  if (command.idempotency !== null) {
    const previous = state.idempotency.get(idempotencyIndex(command.agentId, command.idempotency.key));
    if (previous !== undefined) {
      assertSameRequest(previous.requestHash, command.idempotency.requestHash);
      return [];
    }
  }
  if (state.intents.has(command.intentId) || state.refusals.has(command.intentId)) {
    throw new DomainError('intent_conflict', `payment ${command.intentId} already exists`);
  }
  if (command.amountMicros <= 0n || command.amountAtomic <= 0n) throw new DomainError('invalid_command', 'a payment amount must be positive');
  // Beyond these no store can hold the amount, and a refusal records it too.
  assertUsdBound(command.amountMicros, 'a payment amount');
  if (command.amountAtomic > ATOMIC_AMOUNT_MAX) throw new DomainError('invalid_command', 'a payment amount in atomic units must fit in 256 bits');

  const refuse = (
    level: LimitExceeded['data']['level'],
    code: RefusalCode,
    limitMicros: bigint | null,
    left: bigint | null,
    extra: { limitCount?: number; policySource?: string } = {},
  ): BudgetEvent[] => [
    {
      type: 'LimitExceeded',
      data: {
        intentId: command.intentId,
        sessionId: command.sessionId,
        agentId: command.agentId,
        orgId: command.orgId,
        level,
        code,
        limitMicros,
        requestedMicros: command.amountMicros,
        remainingMicros: left,
        limitCount: extra.limitCount ?? null,
        policySource: extra.policySource ?? null,
        resource: command.resource,
        idempotencyKey: command.idempotency?.key ?? null,
        requestHash: command.idempotency?.requestHash ?? null,
      },
    },
  ];

  const sessionLeft = remainingMicros(session.budget, command.at);
  // The kill switch comes first: an admin froze the agent, its team or its org.
  const frozen = frozenLevelOf(state, session.teamId, command.agentId);
  if (frozen !== null) return refuse(frozen.level, 'agent_frozen', null, sessionLeft);
  if (session.closed) return refuse('session', 'session_closed', session.budget.limitMicros, sessionLeft);
  if (Date.parse(command.at) >= Date.parse(session.expiresAt)) {
    return refuse('session', 'session_expired', session.budget.limitMicros, sessionLeft);
  }
  if (session.maxPayments !== null && session.paymentsCount >= session.maxPayments) {
    return refuse('session', 'session_limit_exceeded', session.budget.limitMicros, sessionLeft, { limitCount: session.maxPayments });
  }
  // Most orgs set no policy: then no payment fact is worked out (the resource's URL is not
  // even parsed), since no rule could look at it.
  const policies = policiesOf(state, session.teamId, command.agentId);
  // The request's own maximum is judged as one more policy, after the org's, so that its
  // refusal takes its place in the policies' order of codes.
  const maxPriceMicros = command.maxPriceMicros ?? null;
  const judged = maxPriceMicros === null ? policies : [...policies, { source: REQUEST_SOURCE, policy: { ...EMPTY_POLICY, maxPerPaymentMicros: maxPriceMicros }, version: 0 }];
  const policyRefusal =
    judged.length === 0
      ? null
      : evaluatePolicies(
          judged,
          {
            host: hostOf(command.resource),
            loopKey: command.loopKey ?? loopKeyOf(command.method, command.resource),
            payTo: command.payTo,
            asset: command.asset,
            network: command.network,
            amountMicros: command.amountMicros,
            atMs: Date.parse(command.at),
            agentId: command.agentId,
            sessionId: command.sessionId,
          },
          state.recentPayments.get(command.agentId) ?? [],
        );
  if (policyRefusal !== null && policyRefusal.source === REQUEST_SOURCE) {
    return refuse('request', policyRefusal.code, policyRefusal.limit, sessionLeft);
  }
  if (policyRefusal !== null) {
    const countLimit = policyRefusal.code === 'loop_detected' || policyRefusal.code === 'rate_limited';
    return refuse('policy', policyRefusal.code, countLimit ? null : policyRefusal.limit, sessionLeft, {
      policySource: policyRefusal.source,
      ...(countLimit && policyRefusal.limit !== null ? { limitCount: Number(policyRefusal.limit) } : {}),
    });
  }
  const policyVersion = policies.reduce((sum, { version }) => sum + version, 0);
  const levels = hierarchyLevels(state, command.sessionId);
  // Every level is checked before anything is held, so a reservation is all or nothing.
  for (const { level, budget } of levels) {
    const left = remainingMicros(budget, command.at);
    if (left !== null && command.amountMicros > left) return refuse(level, `${level}_limit_exceeded`, budget.limitMicros, left);
  }
  // The chain is the last word on funds, but a payment the wallet cannot cover is refused
  // here, with its own code, instead of failing at the facilitator after signing.
  const walletAvailable = command.walletAvailableAtomic ?? null;
  if (walletAvailable !== null && command.amountAtomic > walletAvailable) {
    return refuse('wallet', 'wallet_insufficient_funds', null, (walletAvailable * command.amountMicros) / command.amountAtomic);
  }
  // A Permit2 payment moves only what the wallet let Permit2 move; granting more is an
  // audited act of its own, never a side effect of paying, so too little is a refusal.
  const permit2Allowance = command.permit2AllowanceAtomic ?? null;
  if (command.rail?.transfer === 'permit2' && permit2Allowance !== null && command.amountAtomic > permit2Allowance) {
    return refuse('wallet', 'permit2_allowance_missing', null, (permit2Allowance * command.amountMicros) / command.amountAtomic);
  }
  const reservation: Reserved['data'] = {
    intentId: command.intentId,
    sessionId: command.sessionId,
    agentId: command.agentId,
    teamId: session.teamId,
    orgId: command.orgId,
    amountMicros: command.amountMicros,
    amountAtomic: command.amountAtomic,
    asset: command.asset,
    network: command.network,
    payTo: command.payTo,
    resource: command.resource,
    method: command.method,
    reservedAt: command.at,
    // The authorization may live as long as the offer allows, but never beyond the session.
    validBefore: Date.parse(command.validBefore) <= Date.parse(session.expiresAt) ? command.validBefore : session.expiresAt,
    policyVersion,
    idempotencyKey: command.idempotency?.key ?? null,
    requestHash: command.idempotency?.requestHash ?? null,
    ...(command.rail === undefined
      ? {}
      : {
          rail: command.rail.rail,
          scheme: command.rail.scheme,
          transfer: command.rail.transfer,
          metered: command.rail.metered,
          options: { chosen: command.rail.chosen, rejected: command.rail.rejected },
        }),
    ...(command.loopKey === undefined || command.loopKey === null ? {} : { loopKey: command.loopKey }),
  };
  // Above an approval threshold the money is held now, so nothing else can take it while an
  // admin decides, but the payment is not reserved for signing until approved.
  const approval = approvalNeeded(policies, command.amountMicros);
  const alerts = thresholdsReached(state, command, levels);
  const shadows = shadowRefusals(state, command, session.teamId);
  if (approval !== null) {
    const expiresAt = new Date(Date.parse(command.at) + approval.timeoutSeconds * 1000).toISOString();
    return [{ type: 'ApprovalRequested', data: { ...reservation, approvalExpiresAt: expiresAt, policySource: approval.source, thresholdMicros: approval.thresholdMicros } }, ...alerts, ...shadows];
  }
  return [{ type: 'Reserved', data: reservation }, ...alerts, ...shadows];
}

/**
 * What each shadow policy on the payment's path would have refused. The policies in force
 * allowed the payment and every rule is per policy, so a shadow judged alone refuses exactly
 * when it would refuse in place of the level's enforced policy.
 */
function shadowRefusals(state: OrgState, command: Reserve, teamId: string | null): ShadowRefusal[] {
  if (state.shadowPolicies.size === 0) return [];
  const path: { level: 'org' | 'team' | 'agent'; levelId: string }[] = [{ level: 'org', levelId: command.orgId }];
  if (teamId !== null) path.push({ level: 'team', levelId: teamId });
  path.push({ level: 'agent', levelId: command.agentId });
  const refusals: ShadowRefusal[] = [];
  for (const { level, levelId } of path) {
    const key = policyKey(level, levelId);
    const shadow = state.shadowPolicies.get(key);
    if (shadow === undefined || shadow.policy === null) continue;
    const refusal = evaluatePolicies(
      [{ source: key, policy: shadow.policy }],
      {
        host: hostOf(command.resource),
        loopKey: loopKeyOf(command.method, command.resource),
        payTo: command.payTo,
        asset: command.asset,
        network: command.network,
        amountMicros: command.amountMicros,
        atMs: Date.parse(command.at),
        agentId: command.agentId,
        sessionId: command.sessionId,
      },
      state.recentPayments.get(command.agentId) ?? [],
    );
    if (refusal === null) continue;
    const amountLimit = refusal.code !== 'loop_detected' && refusal.code !== 'rate_limited';
    refusals.push({
      type: 'ShadowRefusal',
      data: {
        intentId: command.intentId,
        orgId: command.orgId,
        agentId: command.agentId,
        sessionId: command.sessionId,
        level,
        levelId,
        code: refusal.code,
        policyVersion: shadow.version,
        limitMicros: amountLimit ? refusal.limit : null,
        requestedMicros: command.amountMicros,
        resource: command.resource,
      },
    });
  }
  return refusals;
}

/** The source of the request's own maximum among the policies judged. */
const REQUEST_SOURCE = 'request';

/** The policies a payment of this agent is under, org first, each with its level as source. */
function policiesOf(state: OrgState, teamId: string | null, agentId: string): { source: string; policy: Policy; version: number }[] {
  if (state.policies.size === 0) return [];
  const keys = teamId === null ? ['org', policyKey('agent', agentId)] : ['org', policyKey('team', teamId), policyKey('agent', agentId)];
  return keys.flatMap((key) => {
    const entry = state.policies.get(key);
    return entry === undefined ? [] : [{ source: key, ...entry }];
  });
}

/**
 * The alert thresholds this payment makes its levels reach: what is held and spent in the
 * period, this payment included, at or above the percentage, and not yet alerted this period.
 */
function thresholdsReached(state: OrgState, command: Reserve, levels: readonly HierarchyLevel[]): BudgetThresholdReached[] {
  const alerts: BudgetThresholdReached[] = [];
  // Thresholds come only from policies; most orgs have none, and this runs on every payment.
  if (state.policies.size === 0) return alerts;
  for (const { level, levelId, budget } of levels) {
    if (budget.limitMicros === null || budget.limitMicros <= 0n) continue;
    const percents = alertPercentsFor(state, level, levelId, command.sessionId);
    if (percents.length === 0) continue;
    const periodKey = periodKeyAt(budget.period, command.at);
    const alreadyReached = budget.alerted.periodKey === periodKey ? budget.alerted.percents : [];
    const usedMicros = budget.reservedMicros + spentInPeriodMicros(budget, command.at) + command.amountMicros;
    for (const percent of percents) {
      if (alreadyReached.includes(percent) || usedMicros * 100n < budget.limitMicros * BigInt(percent)) continue;
      alerts.push({
        type: 'BudgetThresholdReached',
        data: {
          orgId: command.orgId,
          level,
          levelId,
          thresholdPercent: percent,
          limitMicros: budget.limitMicros,
          usedMicros,
          periodKey,
          intentId: command.intentId,
          sessionId: command.sessionId,
          agentId: command.agentId,
        },
      });
    }
  }
  return alerts;
}

/** A level's own alert thresholds, else its nearest ancestor's (a session's start at its agent). */
function alertPercentsFor(state: OrgState, level: BudgetLevel, levelId: string, sessionId: string): number[] {
  const session = state.sessions.get(sessionId);
  const chain: string[] = [];
  if ((level === 'session' || level === 'agent') && session !== undefined) chain.push(policyKey('agent', session.agentId));
  if (level !== 'org' && session?.teamId != null) chain.push(policyKey('team', level === 'team' ? levelId : session.teamId));
  chain.push('org');
  for (const key of chain) {
    const percents = state.policies.get(key)?.policy.budgetAlertPercents ?? [];
    if (percents.length > 0) return [...percents].sort((a, b) => a - b);
  }
  return [];
}

function decideApproval(command: DecideApproval, state: OrgState): BudgetEvent[] {
  const intent = state.intents.get(command.intentId);
  if (intent === undefined) throw new DomainError('payment_not_found', `payment ${command.intentId} does not exist`);
  const pending = intent.pendingApproval;
  if (intent.status !== 'awaiting_approval' || pending === null) {
    throw new DomainError('approval_already_decided', `payment ${command.intentId} is not waiting for approval`);
  }
  const ids = { intentId: command.intentId, sessionId: intent.sessionId, agentId: intent.agentId, orgId: command.orgId };
  const note = command.note === undefined ? {} : { note: command.note };
  // An approval that arrives after the timeout is too late: the payment was refused.
  const late = Date.parse(command.at) >= Date.parse(pending.expiresAt);
  if (command.approve && !late) {
    return [
      { type: 'ApprovalGranted', data: { ...ids, ...note } },
      { type: 'Reserved', data: pending.reservation },
    ];
  }
  return [
    { type: 'ApprovalDenied', data: { ...ids, code: 'approval_required', reason: command.approve || command.reason === 'timeout' ? 'timeout' : 'denied', ...note } },
    {
      type: 'Refunded',
      data: { ...ids, amountMicros: intent.amountMicros, amountAtomic: intent.amountAtomic, reason: command.approve || command.reason === 'timeout' ? 'approval_timeout' : 'approval_denied' },
    },
  ];
}

function recordSignature(command: RecordSignature, state: OrgState): BudgetEvent[] {
  const intent = state.intents.get(command.intentId);
  if (intent === undefined) throw new DomainError('payment_not_found', `payment ${command.intentId} does not exist`);
  if (intent.status === 'refunded') throw new DomainError('intent_already_refunded', `payment ${command.intentId} was already refunded`);
  if (intent.status === 'awaiting_approval') throw new DomainError('invalid_command', `payment ${command.intentId} is waiting for approval`);
  if (intent.status !== 'reserved') {
    // The worker re-signs after a crash and gets the same authorization: same nonce, same answer.
    if (intent.nonce === command.nonce && intent.payer === command.payer) return [];
    throw new DomainError('payment_already_signed', `payment ${command.intentId} already has an authorization`);
  }
  if (Date.parse(command.validBefore) > Date.parse(intent.validBefore)) {
    throw new DomainError('invalid_command', 'an authorization may not outlive the validBefore that was reserved');
  }
  return [
    {
      type: 'PaymentSigned',
      data: {
        intentId: command.intentId,
        sessionId: intent.sessionId,
        agentId: intent.agentId,
        orgId: command.orgId,
        scheme: command.scheme,
        network: intent.network,
        payer: command.payer,
        nonce: command.nonce,
        validAfter: command.validAfter,
        validBefore: command.validBefore,
        ...(command.transfer === undefined ? {} : { transfer: command.transfer }),
      },
    },
  ];
}

function reportOutcome(command: ReportOutcome, state: OrgState): BudgetEvent[] {
  const intent = state.intents.get(command.intentId);
  if (intent === undefined) throw new DomainError('payment_not_found', `payment ${command.intentId} does not exist`);
  // A payment waiting for approval is not signed either: nothing was sent to the seller.
  if (intent.status === 'reserved' || intent.status === 'awaiting_approval') throw new DomainError('payment_not_signed', `payment ${command.intentId} was not signed`);
  if (!isOpen(intent.status)) return [];
  return [
    {
      type: 'SettlementReported',
      data: {
        intentId: command.intentId,
        sessionId: intent.sessionId,
        agentId: intent.agentId,
        orgId: command.orgId,
        outcome: command.outcome,
        transaction: command.transaction,
        detail: command.detail,
      },
    },
  ];
}

function settle(command: Settle, state: OrgState): BudgetEvent[] {
  const intent = state.intents.get(command.intentId);
  if (intent === undefined) throw new DomainError('payment_not_found', `payment ${command.intentId} does not exist`);
  if (intent.status === 'settled') return [];
  if (intent.status === 'refunded') throw new DomainError('intent_already_refunded', `payment ${command.intentId} was already refunded`);
  if (intent.status === 'reserved' || intent.status === 'awaiting_approval') {
    throw new DomainError('payment_not_signed', `payment ${command.intentId} was never signed, so it cannot have been paid`);
  }
  if (command.amountAtomic <= 0n || command.amountAtomic > intent.amountAtomic) {
    throw new DomainError('settle_exceeds_reserved', `payment ${command.intentId} may settle 1..${intent.amountAtomic} atomic units`);
  }
  // The budget is charged in proportion to what was actually paid, rounded up.
  const paidMicros = (intent.amountMicros * command.amountAtomic + intent.amountAtomic - 1n) / intent.amountAtomic;
  const ids = { intentId: command.intentId, sessionId: intent.sessionId, agentId: intent.agentId, orgId: command.orgId };
  const events: BudgetEvent[] = [
    {
      type: 'Settled',
      data: {
        ...ids,
        amountMicros: paidMicros,
        amountAtomic: command.amountAtomic,
        network: command.network,
        transaction: command.transaction,
        payer: command.payer,
        settledAt: command.at,
        payTo: intent.payTo,
        authorizedAtomic: intent.amountAtomic,
      },
    },
  ];
  if (command.amountAtomic < intent.amountAtomic) {
    events.push({
      type: 'Refunded',
      data: { ...ids, amountMicros: intent.amountMicros - paidMicros, amountAtomic: intent.amountAtomic - command.amountAtomic, reason: 'paid_less' },
    });
  }
  return events;
}

function release(command: Release, state: OrgState): BudgetEvent[] {
  const intent = state.intents.get(command.intentId);
  if (intent === undefined) throw new DomainError('payment_not_found', `payment ${command.intentId} does not exist`);
  if (intent.status === 'refunded') return [];
  if (intent.status === 'settled') throw new DomainError('intent_already_settled', `payment ${command.intentId} was already settled`);
  // No premature release: a signed authorization may still execute until it expires.
  if (intent.status === 'signed' || intent.status === 'unknown') {
    if (command.proof.kind !== 'expired_unused' || Date.parse(command.proof.chainTime) < Date.parse(intent.validBefore)) {
      throw new DomainError('release_not_proven', `payment ${command.intentId} is signed; it is released only once its authorization expired unused`);
    }
  }
  return [
    {
      type: 'Refunded',
      data: {
        intentId: command.intentId,
        sessionId: intent.sessionId,
        agentId: intent.agentId,
        orgId: command.orgId,
        amountMicros: intent.amountMicros,
        amountAtomic: intent.amountAtomic,
        reason: command.reason,
      },
    },
  ];
}

function requireOrg(state: OrgState): void {
  if (!state.exists) throw new DomainError('org_not_found', `org ${state.orgId} does not exist`);
}

function assertLimit(limitMicros: bigint | null): void {
  if (limitMicros !== null && limitMicros < 0n) throw new DomainError('invalid_command', 'a limit cannot be negative');
  if (limitMicros !== null) assertUsdBound(limitMicros, 'a limit');
}

/** Every USD amount the domain records fits in every store (USD_MICROS_MAX). */
function assertUsdBound(micros: bigint, what: string): void {
  if (micros > USD_MICROS_MAX) throw new DomainError('invalid_command', `${what} may be at most ${USD_MICROS_MAX / 1_000_000n} USD`);
}

function assertSameRequest(storedHash: string, requestHash: string): void {
  if (storedHash !== requestHash) {
    throw new DomainError('idempotency_key_reused', 'this Idempotency-Key was already used with a different request');
  }
}

/** The host a payment is for; an unparseable resource matches no allowed domain. */
function hostOf(resource: string): string {
  try {
    // `evil.example.` is `evil.example` to DNS, but the URL parser keeps the root's dot: without
    // it removed, a denied domain could be paid by spelling it that way.
    const host = new URL(resource).hostname;
    return host.endsWith('.') ? host.slice(0, -1) : host;
  } catch {
    return '';
  }
}
