import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecisionHistoryOracle, type DecisionCounts, type DecisionStep, type DecisionViolation } from '../../../test/support/invariants.js';
import type { BudgetCommand, BudgetPeriod, IdempotencyClaim, OpenSession, Reserve } from './commands.js';
import { decide } from './decide.js';
import { DomainError } from './errors.js';
import type { BudgetEvent, BudgetEventType, RefusalCode } from './events.js';
import { evolve } from './evolve.js';
import { EMPTY_POLICY, type Policy } from './policy.js';
import { idempotencyIndex, initialOrgState, remainingMicros, type Budget, type OrgState } from './state.js';

// Seeded random command sequences through decide() and evolve(), judged step by step by the
// independent oracle in test/support/invariants.ts, and by a replay of the events from
// scratch. A failure shrinks to a minimal sequence and is printed as the commands that ran,
// with what each decided, and the seed to replay it.
//
//   npm test                                           a bounded number of sequences
//   PAYBOUND_PROPERTY_RUNS=1000000 npm run test:property   as many as asked for
//   PAYBOUND_PROPERTY_RUNS=1000000 PAYBOUND_PROPERTY_SECONDS=900 npm run test:property   or as fit in 15 min
//   PAYBOUND_PROPERTY_SEED=… PAYBOUND_PROPERTY_PATH=… npm run test:property   replays one failure
//
// Each command is one entry of ACTIONS: an arbitrary for its abstract form and a builder that
// makes the concrete command from what the sequence has created so far. Ids are picked by
// index (modulo what exists), so shrinking keeps a sequence meaningful. A new command is a
// new entry here and its rules in the oracle.

const ORG = 'org-p';
const RUNS_DEFAULT = 1_000;
/** The fixed sample the coverage test draws. */
const COVERAGE_SEED = 20_260_131;
const COVERAGE_SEQUENCES = 300;
const RUNS = integerFromEnvironment('PAYBOUND_PROPERTY_RUNS', 1) ?? RUNS_DEFAULT;
const SEED = integerFromEnvironment('PAYBOUND_PROPERTY_SEED', -(2 ** 31));
const PATH = process.env.PAYBOUND_PROPERTY_PATH;
/** Stops a long run after this long, passing with the sequences it ran. */
const TIME_LIMIT_SECONDS = integerFromEnvironment('PAYBOUND_PROPERTY_SECONDS', 1);
/** A long run reports its progress every tenth of the way. */
const PROGRESS_FROM_RUNS = 10_000;

function integerFromEnvironment(name: string, min: number): number | undefined {
  const text = process.env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be an integer of at least ${min}, not "${text}"`);
  return value;
}
/** Sequence lengths: setup commands, then any commands. */
const SETUP_MAX = 8;
const ACTIONS_MAX = 60;

// The vocabulary a sequence draws from: small, so that rules, collisions and limits bite.
const RESOURCES = [
  'https://api.a.test/data',
  'https://api.a.test/data#page-2',
  'https://x.b.test/feed',
  'https://b.test/',
  'https://c.test/q?n=1',
  'http://API.A.TEST:8080/data',
  // The same hosts as DNS resolves them, spelled with a trailing dot.
  'https://c.test./q?n=1',
  'https://x.b.test./feed',
  'not a url',
] as const;
const DOMAIN_PATTERNS = ['api.a.test', '*.b.test', 'b.test', 'C.TEST'] as const;
const PAYEES = ['0xAAaa000000000000000000000000000000000001', '0xaaaa000000000000000000000000000000000001', '0xbbbb000000000000000000000000000000000002'] as const;
const ASSETS = ['0x036CbD53842c5426634e7929541eC2318f3dCF7e', '0x036cbd53842c5426634e7929541ec2318f3dcf7e', '0xdddd000000000000000000000000000000000004'] as const;
const NETWORKS = ['eip155:84532', 'eip155:8453'] as const;
const KEYS = ['key-1', 'key-2', 'key-3'] as const;
const STARTS = ['2026-01-31T21:30:00.000Z', '2026-12-31T23:00:00.000Z', '2026-02-28T12:00:00.000Z'] as const;
const SECOND_MS = 1_000;
const MINUTE_MS = 60 * SECOND_MS;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** What the sequence has created so far, learnt from the events, to build meaningful commands. */
interface World {
  nowMs: number;
  teams: string[];
  agents: string[];
  sessions: { id: string; agentId: string }[];
  /** Every answered payment, oldest first, and how it was answered. */
  intents: { id: string; agentId: string; amountAtomic: bigint; validBefore: string; status: 'held' | 'awaiting' | 'refused' }[];
  policyVersions: Map<string, number>;
  keyed: (Reserve | OpenSession)[];
  workerCommands: BudgetCommand[];
  last: BudgetCommand | null;
  lastReserve: Reserve | null;
  counter: number;
}

/**
 * An index into what exists, newest first, or one of two rarer choices: something that does
 * not exist (UNKNOWN), or for payments one that was refused (REFUSED). Drawn by weight rather
 * than as one integer, whose bias towards its bounds would make the rare choices common.
 */
const UNKNOWN = -1;
const REFUSED = -2;
const pick = fc.oneof({ withCrossShrink: true }, { weight: 16, arbitrary: fc.nat({ max: 5 }) }, { weight: 1, arbitrary: fc.constant(UNKNOWN) });
const pickIntent = fc.oneof(
  { withCrossShrink: true },
  { weight: 16, arbitrary: fc.nat({ max: 5 }) },
  { weight: 1, arbitrary: fc.constant(UNKNOWN) },
  { weight: 1, arbitrary: fc.constant(REFUSED) },
);
/** What the index names, or undefined for UNKNOWN or when nothing exists yet. */
function chosen<T>(list: readonly T[], index: number): T | undefined {
  return index < 0 || list.length === 0 ? undefined : list[list.length - 1 - (index % list.length)];
}

/** A payment to act on: one that holds money (waiting for approval first, if `awaitingFirst`). */
function chosenIntent(world: World, index: number, awaitingFirst = false): World['intents'][number] | undefined {
  if (index === REFUSED) return chosen(world.intents.filter((intent) => intent.status === 'refused'), 0);
  const holds = world.intents.filter((intent) => intent.status !== 'refused');
  const awaiting = awaitingFirst ? holds.filter((intent) => intent.status === 'awaiting') : [];
  return chosen(awaiting.length > 0 ? awaiting : holds, index);
}

/** Acting on a payment needs one: with none of the kind asked for, the command is not sent. */
const noTarget = (world: World, index: number): boolean => index !== UNKNOWN && chosenIntent(world, index) === undefined;

/** No limit, a limit that leaves room for a few payments, or one that is (nearly) spent already. */
const limitMicros = fc.oneof(
  { withCrossShrink: true },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 4, arbitrary: fc.bigInt(300n, 3_000n) },
  { weight: 1, arbitrary: fc.bigInt(0n, 300n) },
);
const period = fc.constantFrom<BudgetPeriod>('none', 'day', 'month');
const level = fc.constantFrom<'org' | 'team' | 'agent'>('org', 'team', 'agent');
const keySlot = fc.oneof({ withCrossShrink: true }, { weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat({ max: KEYS.length - 1 }) });
/**
 * Each policy rule as it is when set, drawn from the small pools so that it often applies.
 * A policy either sets one rule, so that each is met on its own and not hidden behind an
 * earlier one in precedence, or any of them, each rarely. A new rule is one entry here.
 */
const RULES: { [R in keyof Policy]: fc.Arbitrary<Policy[R]> } = {
  maxPerPaymentMicros: fc.bigInt(0n, 400n),
  allowedDomains: fc.subarray([...DOMAIN_PATTERNS]),
  deniedDomains: fc.subarray([...DOMAIN_PATTERNS], { minLength: 1 }),
  allowedPayees: fc.subarray([...PAYEES]),
  deniedPayees: fc.subarray([...PAYEES], { minLength: 1 }),
  allowedNetworks: fc.subarray([...NETWORKS]),
  allowedAssets: fc.subarray([...ASSETS]),
  loopGuard: fc.record({ maxPayments: fc.integer({ min: 1, max: 3 }), windowSeconds: fc.constantFrom(600, 3_600, 60, 5) }),
  maxPaymentsPerMinutePerAgent: fc.integer({ min: 1, max: 4 }),
  maxPaymentsPerMinutePerSession: fc.integer({ min: 1, max: 3 }),
  approvalAboveMicros: fc.bigInt(0n, 300n),
  // The boundary accepts 10 s to 7 days, and no repeated percentage.
  approvalTimeoutSeconds: fc.constantFrom(600, 3_600, 10, 60),
  budgetAlertPercents: fc.uniqueArray(fc.constantFrom(25, 50, 80, 100), { minLength: 1, maxLength: 3 }),
};

const oneRule: fc.Arbitrary<Policy> = fc.oneof(
  ...(Object.keys(RULES) as (keyof Policy)[])
    .filter((name) => name !== 'approvalTimeoutSeconds')
    .map((name) =>
      fc.record({ rule: RULES[name] as fc.Arbitrary<unknown>, timeout: RULES.approvalTimeoutSeconds }).map(({ rule, timeout }) => ({ ...EMPTY_POLICY, approvalTimeoutSeconds: timeout, [name]: rule })),
    ),
);

const anyRules: fc.Arbitrary<Policy> = fc.record(
  Object.fromEntries(
    (Object.keys(RULES) as (keyof Policy)[]).map((name) => [
      name,
      name === 'approvalTimeoutSeconds'
        ? RULES[name]
        : fc.oneof({ withCrossShrink: true }, { weight: name === 'loopGuard' || name === 'approvalAboveMicros' ? 3 : 7, arbitrary: fc.constant(EMPTY_POLICY[name]) }, { weight: 1, arbitrary: RULES[name] as fc.Arbitrary<unknown> }),
    ]),
  ) as { [R in keyof Policy]: fc.Arbitrary<Policy[R]> },
);

const policy: fc.Arbitrary<Policy> = fc.oneof({ withCrossShrink: true }, { weight: 1, arbitrary: oneRule }, { weight: 1, arbitrary: anyRules });

const advanceMs = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 59 }).map((n) => n * SECOND_MS) },
  { weight: 6, arbitrary: fc.integer({ min: 1, max: 59 }).map((n) => n * MINUTE_MS) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 23 }).map((n) => n * HOUR_MS) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 3 }).map((n) => n * DAY_MS) },
  { weight: 1, arbitrary: fc.integer({ min: 25, max: 35 }).map((n) => n * DAY_MS) },
);

/** One entry per command: how to draw it and how to make it concrete (null: nothing; a list: one after another). */
interface ActionKind<A> {
  arbitrary: fc.Arbitrary<A>;
  weight: number;
  setup: boolean;
  build(action: A, world: World): BudgetCommand | BudgetCommand[] | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const base = (world: World, actor: string) => ({ orgId: ORG, actor, at: iso(world.nowMs) });
const nextId = (world: World, prefix: string): string => `${prefix}${(world.counter += 1)}`;
/** A stand-in for the hash of the HTTP request: the same request, the same string. */
function requestHashOf(scope: string, request: Record<string, unknown>): string {
  const text = `${scope}\u0000${show(request)}`;
  // FNV-1a: short enough to read in a trace; a collision would only make two requests one.
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i += 1) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return `${scope}#${hash.toString(16).padStart(8, '0')}`;
}

type SignAction = { intent: number; validBefore: 'as-reserved' | 'earlier' | 'later'; nonce: number };
function buildSignature(a: SignAction, world: World): BudgetCommand | null {
  if (noTarget(world, a.intent)) return null;
  const intent = chosenIntent(world, a.intent);
  const reservedMs = intent === undefined ? world.nowMs + MINUTE_MS : Date.parse(intent.validBefore);
  const validBeforeMs = a.validBefore === 'earlier' ? reservedMs - 5 * SECOND_MS : a.validBefore === 'later' ? reservedMs + 5 * SECOND_MS : reservedMs;
  const intentId = intent?.id ?? 'p-unknown';
  return {
    ...base(world, 'worker:w1'),
    type: 'RecordSignature',
    intentId,
    scheme: 'exact',
    payer: '0xeeee000000000000000000000000000000000005',
    // The nonce is derived from the intent; another one is a second authorization.
    nonce: `nonce-${intentId}-${a.nonce}`,
    validAfter: iso(world.nowMs - MINUTE_MS),
    validBefore: iso(validBeforeMs),
  };
}

type SettleAction = { intent: number; portion: 'full' | 'partial' | 'more'; permille: number };
function buildSettlement(a: SettleAction, world: World): BudgetCommand | null {
  if (noTarget(world, a.intent)) return null;
  const intent = chosenIntent(world, a.intent);
  const held = intent?.amountAtomic ?? 1n;
  const amountAtomic = a.portion === 'full' ? held : a.portion === 'more' ? held + 1n : (held * BigInt(a.permille)) / 1000n || 1n;
  const intentId = intent?.id ?? 'p-unknown';
  return { ...base(world, 'worker:w1'), type: 'Settle', intentId, amountAtomic, network: NETWORKS[0], transaction: `0xtx-${intentId}`, payer: '0xeeee000000000000000000000000000000000005' };
}

const ACTIONS = {
  createOrg: {
    arbitrary: fc.record({ limit: limitMicros }),
    weight: 1,
    setup: false,
    build: (a, world) => ({ ...base(world, 'admin:ops'), type: 'CreateOrg', name: 'again', limitMicros: a.limit }),
  } satisfies ActionKind<{ limit: bigint | null }>,
  createTeam: {
    arbitrary: fc.record({ limit: limitMicros, existing: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }),
    weight: 2,
    setup: true,
    build: (a, world) => ({
      ...base(world, 'admin:ops'),
      type: 'CreateTeam',
      teamId: (a.existing ? world.teams[0] : undefined) ?? nextId(world, 't'),
      name: 'team',
      limitMicros: a.limit,
    }),
  } satisfies ActionKind<{ limit: bigint | null; existing: boolean }>,
  registerAgent: {
    arbitrary: fc.record({ team: fc.option(pick, { freq: 3 }), limit: limitMicros }),
    weight: 2,
    setup: true,
    build: (a, world) => ({
      ...base(world, 'admin:ops'),
      type: 'RegisterAgent',
      agentId: nextId(world, 'a'),
      teamId: a.team === null || (world.teams.length === 0 && a.team !== UNKNOWN) ? null : (chosen(world.teams, a.team) ?? 't-unknown'),
      name: 'agent',
      limitMicros: a.limit,
    }),
  } satisfies ActionKind<{ team: number | null; limit: bigint | null }>,
  changeBudget: {
    arbitrary: fc.record({ level, target: pick, limit: limitMicros, period }),
    weight: 4,
    setup: true,
    build: (a, world) => ({
      ...base(world, 'admin:ops'),
      type: 'ChangeBudget',
      level: a.level,
      levelId: a.level === 'org' ? ORG : ((a.level === 'team' ? chosen(world.teams, a.target) : chosen(world.agents, a.target)) ?? `${a.level}-unknown`),
      limitMicros: a.limit,
      period: a.period,
    }),
  } satisfies ActionKind<{ level: 'org' | 'team' | 'agent'; target: number; limit: bigint | null; period: BudgetPeriod }>,
  changePolicy: {
    arbitrary: fc.record({ level, target: pick, policy, expected: fc.constantFrom('any', 'current', 'any', 'current', 'any', 'stale') }),
    weight: 4,
    setup: true,
    build: (a, world) => {
      const levelId = a.level === 'org' ? ORG : ((a.level === 'team' ? chosen(world.teams, a.target) : chosen(world.agents, a.target)) ?? `${a.level}-unknown`);
      const version = world.policyVersions.get(a.level === 'org' ? 'org' : `${a.level}:${levelId}`) ?? 0;
      return {
        ...base(world, 'admin:ops'),
        type: 'ChangePolicy',
        level: a.level,
        levelId,
        policy: a.policy,
        expectedVersion: a.expected === 'any' ? null : a.expected === 'current' ? version : version + 1,
      };
    },
  } satisfies ActionKind<{ level: 'org' | 'team' | 'agent'; target: number; policy: Policy; expected: 'any' | 'current' | 'stale' }>,
  changeAgentKey: {
    arbitrary: fc.record({ agent: pick, change: fc.constantFrom<'issued' | 'rotated' | 'revoked'>('issued', 'rotated', 'revoked') }),
    weight: 1,
    setup: false,
    build: (a, world) => ({ ...base(world, 'admin:ops'), type: 'ChangeAgentKey', agentId: chosen(world.agents, a.agent) ?? 'a-unknown', change: a.change }),
  } satisfies ActionKind<{ agent: number; change: 'issued' | 'rotated' | 'revoked' }>,
  openSession: {
    arbitrary: fc.record({
      agent: pick,
      limit: fc.oneof({ withCrossShrink: true }, { weight: 4, arbitrary: fc.bigInt(300n, 1_500n) }, { weight: 1, arbitrary: fc.bigInt(1n, 300n) }),
      expiresInMs: fc.constantFrom(3 * DAY_MS, 2 * HOUR_MS, 40 * DAY_MS, 3 * DAY_MS, 40 * DAY_MS, 2 * HOUR_MS, 5 * MINUTE_MS, 30 * SECOND_MS),
      maxPayments: fc.oneof({ withCrossShrink: true }, { weight: 2, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(3, 1, 2, 5) }),
      key: keySlot,
      // The deployment's cap on open sessions per agent: usually none, sometimes small enough to bite.
      openMax: fc.constantFrom(null, null, null, 1, 2, 3),
    }),
    weight: 6,
    setup: true,
    build: (a, world) => {
      const agentId = chosen(world.agents, a.agent) ?? 'a-unknown';
      const request = { limit: a.limit, expiresInMs: a.expiresInMs, maxPayments: a.maxPayments };
      const idempotency: IdempotencyClaim | null = a.key === null ? null : { key: KEYS[a.key]!, requestHash: requestHashOf('session', request) };
      return {
        ...base(world, `agent:${agentId}`),
        type: 'OpenSession',
        sessionId: nextId(world, 's'),
        agentId,
        limitMicros: a.limit,
        expiresAt: iso(world.nowMs + a.expiresInMs),
        maxPayments: a.maxPayments,
        metadata: { purpose: 'property' },
        idempotency,
        openSessionsMax: a.openMax,
      };
    },
  } satisfies ActionKind<{ agent: number; limit: bigint; expiresInMs: number; maxPayments: number | null; key: number | null; openMax: number | null }>,
  /** The agent closes a session (now and then another agent's, which must look missing). */
  closeSession: {
    arbitrary: fc.record({ session: pick, byOther: fc.oneof({ weight: 6, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }) }),
    weight: 2,
    setup: false,
    build: (a, world) => {
      const session = chosen(world.sessions, a.session);
      const owner = session?.agentId ?? 'a-unknown';
      const agentId = a.byOther ? (world.agents.find((id) => id !== owner) ?? 'a-unknown') : owner;
      return { ...base(world, `agent:${agentId}`), type: 'CloseSession', sessionId: session?.id ?? 's-unknown', agentId };
    },
  } satisfies ActionKind<{ session: number; byOther: boolean }>,
  reserve: {
    arbitrary: fc.record({
      session: pick,
      amountMicros: fc.bigInt(1n, 400n),
      // Atomic units: a 6-decimal dollar, an 18-decimal one, or an odd rate that rounds.
      atomicPerMicro: fc.constantFrom('same', 'e12', 'odd'),
      // The first resource often, so that the loop guard sees the same request again.
      resource: fc.oneof({ withCrossShrink: true }, { weight: 1, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.nat({ max: RESOURCES.length - 1 }) }),
      method: fc.constantFrom('GET', 'get', 'POST'),
      payee: fc.nat({ max: PAYEES.length - 1 }),
      asset: fc.nat({ max: ASSETS.length - 1 }),
      network: fc.nat({ max: NETWORKS.length - 1 }),
      validForSeconds: fc.constantFrom(10, 60, 600, 86_400),
      wallet: fc.constantFrom('unknown', 'unknown', 'unknown', 'enough', 'enough', 'enough', 'enough', 'short'),
      key: keySlot,
      // The request's own maxPrice: usually none.
      maxPrice: fc.oneof({ withCrossShrink: true }, { weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.bigInt(0n, 400n) }),
    }),
    weight: 30,
    setup: false,
    build: (a, world) => {
      const session = chosen(world.sessions, a.session);
      const agentId = session?.agentId ?? chosen(world.agents, a.session) ?? 'a-unknown';
      const amountAtomic = a.atomicPerMicro === 'same' ? a.amountMicros : a.atomicPerMicro === 'e12' ? a.amountMicros * 10n ** 12n : (a.amountMicros * 7n + 2n) / 3n;
      const request = {
        sessionId: session?.id ?? 's-unknown',
        amountMicros: a.amountMicros,
        amountAtomic,
        resource: RESOURCES[a.resource]!,
        method: a.method,
        payTo: PAYEES[a.payee]!,
        asset: ASSETS[a.asset]!,
        network: NETWORKS[a.network]!,
        validForSeconds: a.validForSeconds,
      };
      const wallet = a.wallet === 'unknown' ? null : a.wallet === 'enough' ? amountAtomic * 2n : amountAtomic - 1n;
      return {
        ...base(world, `agent:${agentId}`),
        type: 'Reserve',
        intentId: nextId(world, 'p'),
        sessionId: request.sessionId,
        agentId,
        amountMicros: a.amountMicros,
        amountAtomic,
        asset: request.asset,
        network: request.network,
        payTo: request.payTo,
        resource: request.resource,
        method: a.method,
        validBefore: iso(world.nowMs + a.validForSeconds * SECOND_MS),
        idempotency: a.key === null ? null : { key: KEYS[a.key]!, requestHash: requestHashOf('payment', request) },
        walletAvailableAtomic: wallet,
        maxPriceMicros: a.maxPrice,
      };
    },
  } satisfies ActionKind<{
    session: number;
    amountMicros: bigint;
    atomicPerMicro: 'same' | 'e12' | 'odd';
    resource: number;
    method: string;
    payee: number;
    asset: number;
    network: number;
    validForSeconds: number;
    wallet: 'unknown' | 'enough' | 'short';
    key: number | null;
    maxPrice: bigint | null;
  }>,
  sign: {
    arbitrary: fc.record({ intent: pickIntent, validBefore: fc.constantFrom('as-reserved', 'as-reserved', 'earlier', 'later'), nonce: fc.constantFrom(0, 0, 0, 1) }),
    weight: 12,
    setup: false,
    build: buildSignature,
  } satisfies ActionKind<SignAction>,
  report: {
    arbitrary: fc.record({ intent: pickIntent, outcome: fc.constantFrom<'paid' | 'unknown' | 'refused'>('paid', 'unknown', 'refused') }),
    weight: 4,
    setup: false,
    build: (a, world) => {
      if (noTarget(world, a.intent)) return null;
      const intentId = chosenIntent(world, a.intent)?.id ?? 'p-unknown';
      return { ...base(world, 'agent:seller-side'), type: 'ReportOutcome', intentId, outcome: a.outcome, transaction: a.outcome === 'paid' ? `0xtx-${intentId}` : null, detail: a.outcome };
    },
  } satisfies ActionKind<{ intent: number; outcome: 'paid' | 'unknown' | 'refused' }>,
  decideApproval: {
    arbitrary: fc.record({ intent: pickIntent, decision: fc.constantFrom('approve', 'approve', 'approve', 'deny', 'timeout') }),
    weight: 10,
    setup: false,
    build: (a, world) =>
      noTarget(world, a.intent)
        ? null
        : {
            ...base(world, a.decision === 'timeout' ? 'system' : 'admin:ops'),
            type: 'DecideApproval',
            intentId: chosenIntent(world, a.intent, true)?.id ?? 'p-unknown',
            approve: a.decision === 'approve',
            reason: a.decision === 'approve' ? 'approved' : a.decision === 'deny' ? 'denied' : 'timeout',
          },
  } satisfies ActionKind<{ intent: number; decision: 'approve' | 'deny' | 'timeout' }>,
  settle: {
    arbitrary: fc.record({ intent: pickIntent, portion: fc.constantFrom('full', 'full', 'partial', 'more'), permille: fc.integer({ min: 1, max: 999 }) }),
    weight: 10,
    setup: false,
    build: buildSettlement,
  } satisfies ActionKind<SettleAction>,
  release: {
    arbitrary: fc.record({ intent: pickIntent, proof: fc.constantFrom('never_signed', 'expired_now', 'expired_at_valid_before', 'expired_too_early') }),
    weight: 8,
    setup: false,
    build: (a, world) => {
      if (noTarget(world, a.intent)) return null;
      const intent = chosenIntent(world, a.intent);
      const validBeforeMs = intent === undefined ? world.nowMs : Date.parse(intent.validBefore);
      const chainTimeMs = a.proof === 'expired_now' ? world.nowMs : a.proof === 'expired_at_valid_before' ? validBeforeMs : validBeforeMs - SECOND_MS;
      return {
        ...base(world, 'worker:w1'),
        type: 'Release',
        intentId: intent?.id ?? 'p-unknown',
        reason: a.proof === 'never_signed' ? 'not_signed' : 'authorization_expired',
        proof: a.proof === 'never_signed' ? { kind: 'never_signed' } : { kind: 'expired_unused', chainTime: iso(chainTimeMs) },
      };
    },
  } satisfies ActionKind<{ intent: number; proof: 'never_signed' | 'expired_now' | 'expired_at_valid_before' | 'expired_too_early' }>,
  /** The worker's usual path for the newest payment: sign it, then settle what the seller took. */
  signAndSettle: {
    arbitrary: fc.record({ intent: pickIntent, partial: fc.boolean(), permille: fc.integer({ min: 1, max: 999 }) }),
    weight: 6,
    setup: false,
    build: (a, world) => {
      if (noTarget(world, a.intent)) return null;
      const sign = buildSignature({ intent: a.intent, validBefore: 'as-reserved', nonce: 0 }, world);
      const settle = buildSettlement({ intent: a.intent, portion: a.partial ? 'partial' : 'full', permille: a.permille }, world);
      return sign === null || settle === null ? null : [sign, settle];
    },
  } satisfies ActionKind<{ intent: number; partial: boolean; permille: number }>,
  advance: {
    arbitrary: fc.record({ ms: advanceMs }),
    weight: 10,
    setup: false,
    build: (a, world) => {
      world.nowMs += a.ms;
      return null;
    },
  } satisfies ActionKind<{ ms: number }>,
  /** An agent asks for the same thing again, a new payment: what loop and rate guards are for. */
  reserveAgain: {
    arbitrary: fc.record({ withKey: fc.boolean() }),
    weight: 5,
    setup: false,
    build: (a, world) => {
      const last = world.lastReserve;
      if (last === null) return null;
      return { ...last, at: iso(world.nowMs), intentId: nextId(world, 'p'), validBefore: iso(world.nowMs + Date.parse(last.validBefore) - Date.parse(last.at)), idempotency: a.withKey ? last.idempotency : null };
    },
  } satisfies ActionKind<{ withKey: boolean }>,
  /** The client retries a request with its Idempotency-Key: the server makes a new id each time. */
  retryKeyed: {
    arbitrary: fc.record({ which: fc.nat({ max: 15 }) }),
    weight: 4,
    setup: false,
    build: (a, world) => {
      const first = chosen(world.keyed, a.which);
      if (first === undefined) return null;
      if (first.type === 'Reserve') return { ...first, at: iso(world.nowMs), intentId: nextId(world, 'p') };
      return { ...first, at: iso(world.nowMs), sessionId: nextId(world, 's'), expiresAt: iso(world.nowMs + Date.parse(first.expiresAt) - Date.parse(first.at)) };
    },
  } satisfies ActionKind<{ which: number }>,
  /** The worker's outcome arrives again, later and out of order (a redelivery). */
  redeliver: {
    arbitrary: fc.record({ which: fc.nat({ max: 15 }) }),
    weight: 6,
    setup: false,
    build: (a, world) => {
      const earlier = chosen(world.workerCommands, a.which);
      return earlier === undefined ? null : { ...earlier, at: iso(world.nowMs) };
    },
  } satisfies ActionKind<{ which: number }>,
  /** The very same command again at once, as a handler retrying after a lost answer sends it. */
  duplicateLast: {
    arbitrary: fc.constant({}),
    weight: 3,
    setup: false,
    build: (_a, world) => world.last,
  } satisfies ActionKind<Record<string, never>>,
};

type ActionKinds = typeof ACTIONS;
type ActionName = keyof ActionKinds;
type Action = { [K in ActionName]: { kind: K } & (ActionKinds[K] extends ActionKind<infer A> ? A : never) }[ActionName];

function actionArbitrary(setupOnly: boolean): fc.Arbitrary<Action> {
  const entries = (Object.entries(ACTIONS) as [ActionName, ActionKind<object>][]).filter(([, kind]) => !setupOnly || kind.setup);
  return fc.oneof(...entries.map(([name, kind]) => ({ weight: kind.weight, arbitrary: kind.arbitrary.map((fields) => ({ kind: name, ...fields }) as Action) })));
}

interface Scenario {
  start: string;
  startOffsetMs: number;
  orgLimit: bigint | null;
  actions: Action[];
}

const setupOf = <K extends ActionName>(name: K, minLength: number, maxLength: number): fc.Arbitrary<Action[]> =>
  fc.array(
    ACTIONS[name].arbitrary.map((fields: object) => ({ kind: name, ...fields }) as Action),
    { minLength, maxLength },
  );

/** An org with a few teams, agents and sessions, some rules, then any commands. */
const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    start: fc.constantFrom(...STARTS),
    startOffsetMs: fc.integer({ min: 0, max: 4 * 60 }).map((n) => n * MINUTE_MS),
    orgLimit: limitMicros,
    teams: setupOf('createTeam', 0, 2),
    agents: setupOf('registerAgent', 1, 3),
    sessions: setupOf('openSession', 1, 3),
    budgets: setupOf('changeBudget', 0, 3),
    rules: fc.array(actionArbitrary(true), { maxLength: SETUP_MAX }),
    rest: fc.array(actionArbitrary(false), { maxLength: ACTIONS_MAX, size: 'max' }),
  })
  .map(({ teams, agents, sessions, budgets, rules, rest, ...others }) => ({ ...others, actions: [...teams, ...agents, ...sessions, ...budgets, ...rules, ...rest] }));

interface Execution {
  steps: DecisionStep[];
  violations: DecisionViolation[];
  counts: DecisionCounts;
  startMs: number;
}

/** Runs one sequence as the command handler does (read, decide, evolve), judging each step. */
function execute(plan: Scenario): Execution {
  const startMs = Date.parse(plan.start) + plan.startOffsetMs;
  const world: World = { nowMs: startMs, teams: [], agents: [], sessions: [], intents: [], policyVersions: new Map(), keyed: [], workerCommands: [], last: null, lastReserve: null, counter: 0 };
  const state = initialOrgState(ORG);
  const oracle = new DecisionHistoryOracle(ORG);
  const steps: DecisionStep[] = [];
  const log: BudgetEvent[] = [];
  const violations: DecisionViolation[] = [];
  const commands: BudgetCommand[] = [{ ...base(world, 'admin:ops'), type: 'CreateOrg', name: 'Property Org', limitMicros: plan.orgLimit }];
  const actions = [...plan.actions];
  for (let index = 0; index <= actions.length && violations.length === 0; index += 1) {
    const built = index === 0 ? commands[0]! : build(actions[index - 1]!, world);
    for (const command of built === null ? [] : Array.isArray(built) ? built : [built]) {
      const step = run(command, state, log, steps.length + 1, violations);
      steps.push(step);
      violations.push(...oracle.observe(step), ...compareWithModel(state, oracle, world.nowMs, steps.length));
      learn(world, step);
    }
  }
  if (violations.length === 0) violations.push(...oracle.finish(), ...replayed(log, state, steps.length));
  return { steps, violations, counts: oracle.counts, startMs };
}

function build(action: Action, world: World): BudgetCommand | BudgetCommand[] | null {
  const kind = ACTIONS[action.kind] as unknown as ActionKind<Action>;
  return kind.build(action, world);
}

function run(command: BudgetCommand, state: OrgState, log: BudgetEvent[], stepNumber: number, violations: DecisionViolation[]): DecisionStep {
  let events: BudgetEvent[] = [];
  let errorCode: string | null = null;
  try {
    events = decide(command, state);
  } catch (error) {
    if (!(error instanceof DomainError)) {
      violations.push({ invariant: 'event-shape', step: stepNumber, message: `decide threw ${String(error)}, not a DomainError` });
      errorCode = 'non_domain_error';
    } else errorCode = error.code;
  }
  for (const event of events) {
    try {
      evolve(state, event);
    } catch (error) {
      violations.push({ invariant: 'event-shape', step: stepNumber, message: `evolve threw on ${event.type}: ${String(error)}` });
    }
    log.push(event);
  }
  // A keyed request is answered with the entity its key names, as the governor reads it.
  const claim = (command.type === 'Reserve' || command.type === 'OpenSession') && command.idempotency !== null ? command : null;
  const answeredEntityId =
    claim === null ? null : (state.idempotency.get(idempotencyIndex(claim.agentId, claim.idempotency!.key))?.entityId ?? (claim.type === 'Reserve' ? claim.intentId : claim.sessionId));
  return { command, events, errorCode, answeredEntityId };
}

function learn(world: World, step: DecisionStep): void {
  const command = step.command;
  world.last = command;
  if (command.type === 'Reserve') world.lastReserve = command;
  if (command.type === 'RecordSignature' || command.type === 'ReportOutcome' || command.type === 'Settle' || command.type === 'Release' || command.type === 'DecideApproval') {
    world.workerCommands.push(command);
  }
  if ((command.type === 'Reserve' || command.type === 'OpenSession') && command.idempotency !== null && step.events.length > 0) world.keyed.push(command);
  for (const event of step.events) {
    switch (event.type) {
      case 'TeamCreated':
        world.teams.push(event.data.teamId);
        break;
      case 'AgentRegistered':
        world.agents.push(event.data.agentId);
        break;
      case 'SessionOpened':
        world.sessions.push({ id: event.data.sessionId, agentId: event.data.agentId });
        break;
      case 'ApprovalRequested':
      case 'LimitExceeded':
      case 'Reserved':
        if (command.type === 'Reserve' && event.data.intentId === command.intentId) {
          world.intents.push({
            id: command.intentId,
            agentId: command.agentId,
            amountAtomic: command.amountAtomic,
            validBefore: 'validBefore' in event.data ? event.data.validBefore : command.validBefore,
            status: event.type === 'LimitExceeded' ? 'refused' : event.type === 'ApprovalRequested' ? 'awaiting' : 'held',
          });
        }
        break;
      case 'ApprovalGranted':
      case 'ApprovalDenied': {
        const intent = world.intents.find((i) => i.id === event.data.intentId);
        if (intent !== undefined) intent.status = 'held';
        break;
      }
      case 'PaymentSigned': {
        const intent = world.intents.find((i) => i.id === event.data.intentId);
        if (intent !== undefined) intent.validBefore = event.data.validBefore;
        break;
      }
      case 'PolicyChanged':
        world.policyVersions.set(event.data.level === 'org' ? 'org' : `${event.data.level}:${event.data.levelId}`, event.data.version);
        break;
      case 'OrgCreated':
      case 'BudgetChanged':
      case 'AgentKeyChanged':
      case 'Frozen':
      case 'Unfrozen':
      case 'ShadowRefusal':
      case 'SessionClosed':
      case 'BudgetThresholdReached':
      case 'SettlementReported':
      case 'Settled':
      case 'Refunded':
        break;
      default: {
        const _never: never = event;
        break;
      }
    }
  }
}

/** The live balances, payments and session counts equal the oracle's model of them. */
function compareWithModel(state: OrgState, oracle: DecisionHistoryOracle, nowMs: number, stepNumber: number): DecisionViolation[] {
  const found: DecisionViolation[] = [];
  const fail = (message: string): void => void found.push({ invariant: 'conservation', step: stepNumber, message: `state differs from the model: ${message}` });
  const nowIso = iso(nowMs);
  for (const [key, model] of oracle.balances(nowMs)) {
    const budget = budgetOf(state, key);
    if (budget === undefined) {
      fail(`${key} is missing`);
      continue;
    }
    const remaining = model.limitMicros === null ? null : model.limitMicros - model.reservedMicros - model.spentMicros;
    if (budget.limitMicros !== model.limitMicros || budget.reservedMicros !== model.reservedMicros || remainingMicros(budget, nowIso) !== remaining) {
      fail(`${key} has limit ${String(budget.limitMicros)}, held ${budget.reservedMicros}, remaining ${String(remainingMicros(budget, nowIso))}; the model ${String(model.limitMicros)}, ${model.reservedMicros}, ${String(remaining)}`);
    }
  }
  for (const payment of oracle.payments()) {
    const intent = state.intents.get(payment.intentId);
    const open = payment.phase === 'awaiting' || payment.phase === 'held';
    // A payment that is over may have been forgotten; an open one never.
    if (intent === undefined) {
      if (open) fail(`open payment ${payment.intentId} is missing`);
      continue;
    }
    const phase =
      intent.status === 'awaiting_approval' ? 'awaiting' : intent.status === 'settled' ? 'settled' : intent.status === 'refunded' ? 'refunded' : 'held';
    const signed = intent.status === 'signed' || intent.status === 'unknown';
    if (phase !== payment.phase || (open && signed !== payment.signed) || intent.amountMicros !== payment.heldMicros || intent.amountAtomic !== payment.heldAtomic) {
      fail(`payment ${payment.intentId} is ${intent.status} holding ${intent.amountMicros} µ$ / ${intent.amountAtomic}; the model ${payment.phase}${payment.signed ? ' signed' : ''} holding ${payment.heldMicros} / ${payment.heldAtomic}`);
    }
  }
  for (const [sessionId, holds] of oracle.sessionHolds()) {
    const count = state.sessions.get(sessionId)?.paymentsCount;
    if (count !== holds) fail(`session ${sessionId} counts ${String(count)} payments; the model ${holds}`);
  }
  return found;
}

function budgetOf(state: OrgState, key: string): Budget | undefined {
  if (key === 'org') return state.budget;
  const [kind, id] = [key.slice(0, key.indexOf(':')), key.slice(key.indexOf(':') + 1)];
  if (kind === 'team') return state.teams.get(id)?.budget;
  if (kind === 'agent') return state.agents.get(id)?.budget;
  return state.sessions.get(id)?.budget;
}

/**
 * Determinism and totality: the events replayed from scratch give the same state as the one
 * evolved step by step, and evolve() takes any of them in any order (reversed, or all again)
 * without throwing.
 */
function replayed(log: readonly BudgetEvent[], live: OrgState, stepNumber: number): DecisionViolation[] {
  const found: DecisionViolation[] = [];
  const rebuilt = initialOrgState(ORG);
  for (const event of log) evolve(rebuilt, event);
  const difference = firstDifference(rebuilt, live, 'state');
  if (difference !== null) found.push({ invariant: 'event-shape', step: stepNumber, message: `replaying the ${log.length} events from scratch gives another state: ${difference}` });
  for (const [order, events] of [['reversed', [...log].reverse()], ['applied twice', log]] as const) {
    const target = order === 'reversed' ? initialOrgState(ORG) : rebuilt;
    for (const event of events) {
      try {
        evolve(target, event);
      } catch (error) {
        found.push({ invariant: 'event-shape', step: stepNumber, message: `evolve threw on ${event.type} (${order}): ${String(error)}` });
        break;
      }
    }
  }
  return found;
}

/** The path to the first place two values differ, or null when they are equal. */
function firstDifference(a: unknown, b: unknown, path: string): string | null {
  if (Object.is(a, b)) return null;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return `${path}: ${show(a)} ≠ ${show(b)}`;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return `${path}: ${a.size} entries ≠ ${b.size}`;
    for (const [key, value] of a) {
      if (!b.has(key)) return `${path}: key ${show(key)} only on one side`;
      const inner = firstDifference(value, b.get(key), `${path}.get(${show(key)})`);
      if (inner !== null) return inner;
    }
    return null;
  }
  if (Array.isArray(a) !== Array.isArray(b) || a instanceof Map || b instanceof Map) return `${path}: different kinds`;
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    const inner = firstDifference((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${path}.${key}`);
    if (inner !== null) return inner;
  }
  return null;
}

const show = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);

/** One line per command: when, what, and what came of it. */
function formatTrace(execution: Execution): string {
  const lines = execution.steps.map((step, index) => {
    const offset = formatOffset(Date.parse(step.command.at) - execution.startMs);
    const { type, orgId: _org, actor: _actor, at: _at, ...fields } = step.command;
    // A policy shows only the rules it sets.
    if (step.command.type === 'ChangePolicy') {
      const policy = step.command.policy;
      (fields as { policy: unknown }).policy = Object.fromEntries(Object.entries(policy).filter(([name, value]) => show(value) !== show(EMPTY_POLICY[name as keyof Policy])));
    }
    const result = step.errorCode !== null ? `error ${step.errorCode}` : step.events.length === 0 ? '(nothing: a repeat)' : step.events.map(describeEvent).join(', ');
    return `  ${String(index + 1).padStart(3)}. +${offset} ${type} ${show(fields)}\n        → ${result}`;
  });
  const problems = execution.violations.map((v) => `  step ${v.step} [${v.invariant}] ${v.message}`);
  return [`start ${iso(execution.startMs)}`, ...lines, 'violations:', ...problems].join('\n');
}

function describeEvent(event: BudgetEvent): string {
  switch (event.type) {
    case 'Reserved':
    case 'ApprovalRequested':
      return `${event.type}(${event.data.intentId}, ${event.data.amountMicros}µ$)`;
    case 'LimitExceeded':
      return `LimitExceeded(${event.data.intentId}, ${event.data.level}/${event.data.code})`;
    case 'Settled':
    case 'Refunded':
      return `${event.type}(${event.data.intentId}, ${event.data.amountMicros}µ$)`;
    case 'BudgetThresholdReached':
      return `BudgetThresholdReached(${event.data.level} ${event.data.levelId} ${event.data.thresholdPercent}%)`;
    case 'OrgCreated':
    case 'TeamCreated':
    case 'AgentRegistered':
    case 'BudgetChanged':
    case 'PolicyChanged':
    case 'AgentKeyChanged':
    case 'SessionOpened':
    case 'SessionClosed':
    case 'ApprovalGranted':
    case 'ApprovalDenied':
    case 'PaymentSigned':
    case 'SettlementReported':
    case 'Frozen':
    case 'Unfrozen':
    case 'ShadowRefusal':
      return event.type;
    default: {
      const _never: never = event;
      return 'unknown';
    }
  }
}

function formatOffset(ms: number): string {
  const days = Math.floor(ms / DAY_MS);
  const rest = new Date(ms % DAY_MS).toISOString().slice(11, 19);
  return days > 0 ? `${days}d${rest}` : rest;
}

/** Adds one run's counts into the totals. */
function addCounts(total: DecisionCounts, counts: DecisionCounts): void {
  for (const [name, value] of Object.entries(counts) as [keyof DecisionCounts, DecisionCounts[keyof DecisionCounts]][]) {
    if (typeof value === 'number') (total[name] as number) += value;
    else for (const [code, n] of Object.entries(value)) total.refusals[code] = (total.refusals[code] ?? 0) + n;
  }
}

function emptyCounts(): DecisionCounts {
  return { ...new DecisionHistoryOracle(ORG).counts, refusals: {} };
}

describe('the budget decider under random command sequences', () => {
  it(
    'keeps every invariant: no level over its limit, every intent answered once, money conserved, repeats answered as the first, replay deterministic',
    () => {
      const totals = emptyCounts();
      let sequences = 0;
      const startedMs = performance.now();
      const property = fc.property(scenario, (plan) => {
        const execution = execute(plan);
        sequences += 1;
        addCounts(totals, execution.counts);
        if (RUNS >= PROGRESS_FROM_RUNS && sequences % Math.floor(RUNS / 10) === 0) {
          console.log(`budget property: ${sequences} sequences, ${totals.steps} commands, ${((performance.now() - startedMs) / 1000).toFixed(0)} s`);
        }
        if (execution.violations.length > 0) throw new Error(formatTrace(execution));
      });
      const details = fc.check(property, {
        numRuns: RUNS,
        ...(SEED === undefined ? {} : { seed: SEED }),
        ...(PATH === undefined ? {} : { path: PATH }),
        ...(TIME_LIMIT_SECONDS === undefined ? {} : { interruptAfterTimeLimit: TIME_LIMIT_SECONDS * 1000, markInterruptAsFailure: false }),
      });
      const seconds = (performance.now() - startedMs) / 1000;
      if (details.failed) {
        const shrunk = details.counterexample === null ? '' : formatTrace(execute(details.counterexample[0]));
        throw new Error(
          [
            `A sequence broke an invariant after ${details.numRuns} sequences; shrunk ${details.numShrinks} times to:`,
            shrunk,
            `Replay: PAYBOUND_PROPERTY_SEED=${details.seed} PAYBOUND_PROPERTY_PATH=${details.counterexamplePath ?? ''} npm run test:property`,
          ].join('\n'),
        );
      }
      console.log(
        `budget property: ${details.numRuns} sequences (seed ${details.seed}${details.interrupted ? `, stopped at the ${TIME_LIMIT_SECONDS} s limit` : ''}), ${totals.steps} commands (${(totals.steps / details.numRuns).toFixed(1)} per sequence), ${totals.events} events, ${seconds.toFixed(1)} s; ` +
          `holds ${totals.holds}, settled ${totals.settledFull} + ${totals.settledPartial} partly, released ${totals.released} (${totals.releasedAfterExpiry} after expiry), ` +
          `approvals ${totals.approvalsGranted} granted / ${totals.approvalsDenied} denied / ${totals.approvalsTimedOut} timed out, alerts ${totals.alerts}, holds after a rollover ${totals.holdsAfterRollover}, ` +
          `keyed repeats ${totals.keyedRepeats}, keys reused ${totals.keyReusedElsewhere}, worker repeats ${totals.workerRepeats}; refusals ${show(totals.refusals)}`,
      );
      // A replay of one failure runs only the sequence its path names; a time limit stops early.
      const expectedRuns = PATH !== undefined ? 1 : details.interrupted ? Math.min(details.numRuns, RUNS) : RUNS;
      expect(details.numRuns).toBe(expectedRuns);
      expect(details.numRuns).toBeGreaterThan(0);
      expect(sequences).toBeGreaterThanOrEqual(expectedRuns);
    },
    TIME_LIMIT_SECONDS === undefined ? Math.max(60_000, RUNS * 20) : TIME_LIMIT_SECONDS * 1000 + 60_000,
  );

  // The generators must keep reaching every command, event and refusal, or the property above
  // passes by exercising less than it claims. A fixed seed keeps this exact; the record types
  // make a new command or event a compile error here until it is generated.
  interface NotGenerated {
    command: 'FreezeLevel' | 'UnfreezeLevel' | 'PromoteShadowPolicy';
    event: 'Frozen' | 'Unfrozen' | 'ShadowRefusal';
  }
  it('reaches every command, every event and every refusal in a fixed sample of sequences', () => {
    // The kill switch and shadow policies are judged by their own unit tests (budget.unit.spec.ts);
    // this generator does not produce them yet, so they are left out of its coverage by name.
    const commandsDecided: Record<Exclude<BudgetCommand['type'], NotGenerated['command']>, number> = {
      CreateOrg: 0, CreateTeam: 0, RegisterAgent: 0, ChangeBudget: 0, ChangePolicy: 0, ChangeAgentKey: 0, OpenSession: 0, CloseSession: 0,
      Reserve: 0, RecordSignature: 0, ReportOutcome: 0, DecideApproval: 0, Settle: 0, Release: 0,
    };
    const eventsDecided: Record<Exclude<BudgetEventType, NotGenerated['event']>, number> = {
      OrgCreated: 0, TeamCreated: 0, AgentRegistered: 0, BudgetChanged: 0, PolicyChanged: 0, AgentKeyChanged: 0, SessionOpened: 0, SessionClosed: 0,
      Reserved: 0, ApprovalRequested: 0, ApprovalGranted: 0, ApprovalDenied: 0, LimitExceeded: 0, BudgetThresholdReached: 0,
      PaymentSigned: 0, SettlementReported: 0, Settled: 0, Refunded: 0,
    };
    // Every refusal a payment can meet. The generated payments carry no rail yet, so the
    // Permit2 allowance refusal is left to libs/domain/budget/rails.unit.spec.ts, and no agent
    // is frozen by this generator, so `agent_frozen` is left to budget.unit.spec.ts.
    const refusals: Record<Exclude<RefusalCode, 'approval_required' | 'permit2_allowance_missing' | 'agent_frozen'>, number> = {
      session_closed: 0, session_limit_exceeded: 0, agent_limit_exceeded: 0, team_limit_exceeded: 0, org_limit_exceeded: 0, session_expired: 0,
      wallet_insufficient_funds: 0, domain_not_allowed: 0, network_not_allowed: 0, asset_not_allowed: 0, payee_not_allowed: 0,
      price_above_max: 0, loop_detected: 0, rate_limited: 0,
    };
    const totals = emptyCounts();
    for (const plan of fc.sample(scenario, { numRuns: COVERAGE_SEQUENCES, seed: COVERAGE_SEED })) {
      const execution = execute(plan);
      expect(execution.violations, formatTrace(execution)).toEqual([]);
      addCounts(totals, execution.counts);
      for (const step of execution.steps) {
        if (step.events.length > 0 && step.command.type in commandsDecided) commandsDecided[step.command.type as keyof typeof commandsDecided] += 1;
        for (const event of step.events) {
          if (event.type in eventsDecided) eventsDecided[event.type as keyof typeof eventsDecided] += 1;
          if (event.type === 'LimitExceeded' && event.data.code in refusals) refusals[event.data.code as keyof typeof refusals] += 1;
        }
      }
    }
    const never = (counts: Record<string, number>): string[] => Object.entries(counts).filter(([, n]) => n === 0).map(([name]) => name);
    expect(never(commandsDecided)).toEqual([]);
    expect(never(eventsDecided)).toEqual([]);
    expect(never(refusals)).toEqual([]);
    const { refusals: _byCode, ...outcomes } = totals;
    expect(never(outcomes)).toEqual([]);
  });
});
