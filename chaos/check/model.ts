// What the checker reads, in its own plain shapes: rows of the events table, logs of the
// token contract, and messages of the Kafka topic. Nothing here comes from the domain's types,
// so a change there cannot quietly change what the checker believes.

/** One row of the events table, in commit order (transaction id, then global position). */
export interface LogEvent {
  eventId: string;
  streamId: string;
  streamVersion: number;
  type: string;
  schemaVersion: number;
  orgId: string;
  data: Record<string, unknown>;
}

/** A token log on chain: every AuthorizationUsed and Transfer of the run's token. */
export interface ChainLog {
  kind: 'AuthorizationUsed' | 'Transfer';
  transaction: string;
  blockNumber: bigint;
  logIndex: number;
  /** AuthorizationUsed: the authorizer; Transfer: the sender. */
  from: string;
  /** Transfer only. */
  to: string;
  /** Transfer only. */
  valueAtomic: bigint;
  /** AuthorizationUsed only. */
  nonce: string;
}

/** One message of the topic as read from the beginning. */
export interface TopicMessage {
  partition: number;
  offset: string;
  key: string;
  value: string;
}

/** Every invariant the checker judges. */
export const INVARIANTS = [
  'overspend',
  'policy',
  'session_rules',
  'intent_lifecycle',
  'idempotency',
  'nonce_derivation',
  'double_payment',
  'unattributed_payment',
  'unresolved_reservation',
  'premature_release',
  'spent_vs_chain',
  'topic_exactly_once',
  'topic_order',
  'topic_envelope',
  'projection',
  'api_contradiction',
] as const;

export type Invariant = (typeof INVARIANTS)[number];

export interface Violation {
  invariant: Invariant;
  detail: string;
  intentId?: string;
  orgId?: string;
}

/** Collects violations, keeping every count but the details of the first few of each invariant. */
export class Violations {
  readonly counts = new Map<Invariant, number>();
  readonly details: Violation[] = [];

  constructor(private readonly detailsPerInvariantMax = 25) {}

  add(violation: Violation): void {
    const count = (this.counts.get(violation.invariant) ?? 0) + 1;
    this.counts.set(violation.invariant, count);
    if (count <= this.detailsPerInvariantMax) this.details.push(violation);
  }

  get total(): number {
    let total = 0;
    for (const count of this.counts.values()) total += count;
    return total;
  }
}

/** A decimal string (or number) of an event's money field as bigint; money is never a float. */
export function money(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'string' && /^-?[0-9]+$/.test(value)) return BigInt(value);
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw new TypeError(`not an integer amount: ${JSON.stringify(value)}`);
}

export function moneyOrNull(value: unknown): bigint | null {
  return value === null || value === undefined ? null : money(value);
}

export function text(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  return value === null || value === undefined ? '' : JSON.stringify(value);
}
