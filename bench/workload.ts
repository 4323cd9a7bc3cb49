// The shape of the world a run decides in, shared by both implementations so that they
// face the same orgs, sessions, amounts and limits, and must reach the same decisions.

export type WorkloadName = 'hot-spot' | 'spread';

export interface Workload {
  name: WorkloadName;
  orgCount: number;
  agentsPerOrg: number;
  /** Intents decided in the measured run. */
  intentCount: number;
  amountMicros: bigint;
  orgLimitMicros: bigint;
  agentLimitMicros: bigint;
  sessionLimitMicros: bigint;
  /** How many intents the limits let through: the rest must be refused. */
  expectedAcceptedCount: number;
}

export interface IntentTarget {
  orgId: string;
  agentId: string;
  sessionId: string;
}

const AMOUNT_MICROS = 1_000n; // $0.001 per payment
// On the hot spot the org limit lets this share of the run through, so the last intents
// are refused: proof that the limit holds under load, for both implementations alike.
const HOT_SPOT_ACCEPTED_SHARE = 0.98;
const HOT_SPOT_AGENT_COUNT = 100;
const SPREAD_ORG_COUNT = 1_000;
const SPREAD_AGENTS_PER_ORG = 2;

/** All intents on one org, over 100 agents with one session each. */
export function hotSpotWorkload(intentCount: number): Workload {
  const expectedAcceptedCount = Math.floor(intentCount * HOT_SPOT_ACCEPTED_SHARE);
  // Sessions and agents get twice their even share, so only the org limit can refuse.
  const perSessionMicros = AMOUNT_MICROS * BigInt(2 * Math.ceil(intentCount / HOT_SPOT_AGENT_COUNT));
  return {
    name: 'hot-spot',
    orgCount: 1,
    agentsPerOrg: HOT_SPOT_AGENT_COUNT,
    intentCount,
    amountMicros: AMOUNT_MICROS,
    orgLimitMicros: AMOUNT_MICROS * BigInt(expectedAcceptedCount),
    agentLimitMicros: perSessionMicros,
    sessionLimitMicros: perSessionMicros,
    expectedAcceptedCount,
  };
}

/** Intents over 1,000 orgs of two agents each; limits are generous and nothing is refused. */
export function spreadWorkload(intentCount: number): Workload {
  const perSessionMicros = AMOUNT_MICROS * BigInt(2 * Math.ceil(intentCount / (SPREAD_ORG_COUNT * SPREAD_AGENTS_PER_ORG)));
  return {
    name: 'spread',
    orgCount: SPREAD_ORG_COUNT,
    agentsPerOrg: SPREAD_AGENTS_PER_ORG,
    intentCount,
    amountMicros: AMOUNT_MICROS,
    orgLimitMicros: perSessionMicros * BigInt(SPREAD_AGENTS_PER_ORG),
    agentLimitMicros: perSessionMicros,
    sessionLimitMicros: perSessionMicros,
    expectedAcceptedCount: intentCount,
  };
}

export function orgIdOf(orgIndex: number): string {
  return `o${orgIndex}`;
}

export function agentIdOf(orgIndex: number, agentIndex: number): string {
  return `o${orgIndex}-a${agentIndex}`;
}

export function sessionIdOf(orgIndex: number, agentIndex: number): string {
  return `o${orgIndex}-s${agentIndex}`;
}

/** Intents go round-robin over orgs first, then over the agents of each org. */
export function targetOf(workload: Workload, intentIndex: number): IntentTarget {
  const orgIndex = intentIndex % workload.orgCount;
  const agentIndex = Math.floor(intentIndex / workload.orgCount) % workload.agentsPerOrg;
  return { orgId: orgIdOf(orgIndex), agentId: agentIdOf(orgIndex, agentIndex), sessionId: sessionIdOf(orgIndex, agentIndex) };
}
