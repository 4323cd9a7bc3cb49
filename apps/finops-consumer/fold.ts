// What one message on paybound.events.v1 changes in the FinOps tables, decided without I/O.
// The consumer reads the published contract (schemas/README.md), not Paybound's internals:
// money arrives as decimal strings of micro-dollars and times as RFC 3339 strings.

/** The part of a CloudEvents envelope this consumer reads. */
export interface EventMessage {
  id: string;
  type: string;
  data: Record<string, unknown>;
}

export type FinopsChange =
  /** A payment was reserved: remember which endpoint it pays for, to label its spend later. */
  | { kind: 'remember_endpoint'; eventId: string; intentId: string; orgId: string; agentId: string; endpoint: string }
  /** A payment was settled: add what was actually paid to its UTC day. */
  | { kind: 'add_spend'; eventId: string; intentId: string; orgId: string; agentId: string; day: string; amountMicros: bigint }
  /** An event this consumer does not count; it is neither applied nor recorded. */
  | { kind: 'ignore'; eventId: string; type: string }
  /** A message that breaks the contract; it is logged and skipped rather than retried forever. */
  | { kind: 'invalid'; eventId: string; reason: string };

const ENDPOINT_CHARS_MAX = 2_048;
const ID_CHARS_MAX = 255;
const MICROS_DIGITS_MAX = 18;

/**
 * The endpoint a resource URL belongs to: its origin and path. Query strings and fragments
 * are dropped so that `…/search?q=a` and `…/search?q=b` add up as the one endpoint they are.
 */
export function endpointOf(resource: string): string | undefined {
  let url: URL;
  try {
    url = new URL(resource);
  } catch {
    return undefined;
  }
  const endpoint = `${url.origin}${url.pathname}`;
  return endpoint.length > ENDPOINT_CHARS_MAX ? endpoint.slice(0, ENDPOINT_CHARS_MAX) : endpoint;
}

/** `2026-03-01T23:59:59.999-01:00` → `2026-03-02`: the day in UTC, whatever offset was written. */
export function utcDayOf(time: string): string | undefined {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString().slice(0, 10);
}

function idField(data: Record<string, unknown>, name: string): string | undefined {
  const value = data[name];
  return typeof value === 'string' && value.length > 0 && value.length <= ID_CHARS_MAX ? value : undefined;
}

/**
 * The change one event makes. `Reserved` and `ApprovalRequested` (a reservation held for an
 * admin) both carry the payment's `resource`; `Settled` carries what was paid and when.
 * Every other type, and any later schema version, is ignored: a consumer of a versioned
 * contract only counts what it understands.
 */
export function changeOf(message: EventMessage): FinopsChange {
  const { id: eventId, type, data } = message;
  switch (type) {
    case 'paybound.reserved.v1':
    case 'paybound.approval_requested.v1': {
      const intentId = idField(data, 'intentId');
      const orgId = idField(data, 'orgId');
      const agentId = idField(data, 'agentId');
      const endpoint = typeof data.resource === 'string' ? endpointOf(data.resource) : undefined;
      if (intentId === undefined || orgId === undefined || agentId === undefined) return { kind: 'invalid', eventId, reason: `${type} without intentId, orgId or agentId` };
      if (endpoint === undefined) return { kind: 'invalid', eventId, reason: `${type} with a resource that is not a URL` };
      return { kind: 'remember_endpoint', eventId, intentId, orgId, agentId, endpoint };
    }
    case 'paybound.settled.v1': {
      const intentId = idField(data, 'intentId');
      const orgId = idField(data, 'orgId');
      const agentId = idField(data, 'agentId');
      const amount = data.amountMicros;
      const day = typeof data.settledAt === 'string' ? utcDayOf(data.settledAt) : undefined;
      if (intentId === undefined || orgId === undefined || agentId === undefined) return { kind: 'invalid', eventId, reason: `${type} without intentId, orgId or agentId` };
      if (typeof amount !== 'string' || !new RegExp(`^\\d{1,${MICROS_DIGITS_MAX}}$`).test(amount)) return { kind: 'invalid', eventId, reason: `${type} with amountMicros that is not a decimal string` };
      if (day === undefined) return { kind: 'invalid', eventId, reason: `${type} with a settledAt that is not a time` };
      return { kind: 'add_spend', eventId, intentId, orgId, agentId, day, amountMicros: BigInt(amount) };
    }
    default:
      return { kind: 'ignore', eventId, type };
  }
}

/** Reads a Kafka message value as an envelope, or says why it is not one. */
export function parseMessage(value: string): EventMessage | { invalid: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { invalid: 'the value is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null) return { invalid: 'the value is not a JSON object' };
  const { id, type, data } = parsed as Record<string, unknown>;
  if (typeof id !== 'string' || id.length === 0 || id.length > ID_CHARS_MAX) return { invalid: 'the envelope has no usable id' };
  if (typeof type !== 'string') return { invalid: 'the envelope has no type' };
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { invalid: 'the envelope has no data object' };
  return { id, type, data: data as Record<string, unknown> };
}
