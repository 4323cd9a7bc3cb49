import type { DomainErrorCode } from '../domain/budget/errors.js';
import type { RefusalCode } from '../domain/budget/events.js';

// Every code Paybound can answer, with its HTTP and gRPC status, in precedence order: when
// several apply to one request, the first in this list is the one reported. The order is the
// order a payment request is checked in: the request itself, the caller's key, its input,
// what it names, the seller's offer, capacity, the domain's own decision (in `decide`'s
// order), then what can go wrong after the decision. The problem filter, the gRPC status
// mapping, the OpenAPI `code` enum and schemas/errors.json all read this table, and no throw
// site chooses a status.

export type ErrorKind =
  /** A payment refused by a budget or policy (403); a LimitExceeded event records it where the domain decided it. */
  | 'refusal'
  /** A 4xx the caller must fix. */
  | 'invalid_request'
  | 'not_found'
  | 'conflict'
  /** The seller or a chain failed us (502/504). */
  | 'upstream'
  /** Try again later (503; 429 for a per-process cap). */
  | 'unavailable'
  /** No key, a wrong key, or a key that may not do this (401/403). */
  | 'auth'
  | 'internal';

/** The canonical gRPC status names (grpc/status.proto); grpc-js's `status` enum has the same keys. */
export type GrpcStatusName =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'ABORTED'
  | 'FAILED_PRECONDITION'
  | 'RESOURCE_EXHAUSTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL';

export interface ErrorEntry {
  readonly httpStatus: number;
  readonly grpcStatus: GrpcStatusName;
  readonly kind: ErrorKind;
  /** The members a problem of this code may carry besides RFC 9457's own and `code`. */
  readonly figures: readonly string[];
  readonly description: string;
}

/** What a refusal the domain recorded (a LimitExceeded event) carries. */
const REFUSAL_FIGURES = ['level', 'limit', 'requested', 'remaining', 'paymentId'] as const;

const refusal = (description: string): ErrorEntry => ({ httpStatus: 403, grpcStatus: 'PERMISSION_DENIED', kind: 'refusal', figures: REFUSAL_FIGURES, description });

/**
 * The catalogue. Key order is precedence order. `satisfies` makes a domain code (errors.ts)
 * or refusal code (events.ts) without an entry a compile error; object literal keys are
 * unique by the compiler too.
 */
export const ERROR_CATALOGUE = {
  // The request itself, before it is routed.
  payload_too_large: { httpStatus: 413, grpcStatus: 'RESOURCE_EXHAUSTED', kind: 'invalid_request', figures: [], description: 'The body is larger than the API accepts (128 KiB).' },
  unsupported_media_type: {
    httpStatus: 415,
    grpcStatus: 'INVALID_ARGUMENT',
    kind: 'invalid_request',
    figures: [],
    description: 'The body is not JSON in UTF-8: its Content-Type is not application/json (or +json), its charset is not utf-8, its bytes are not UTF-8, or it has a Content-Encoding.',
  },
  invalid_json: { httpStatus: 400, grpcStatus: 'INVALID_ARGUMENT', kind: 'invalid_request', figures: [], description: 'The body is not valid JSON.' },
  not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No such route, or no such dashboard file.' },

  // The caller.
  unauthenticated: { httpStatus: 401, grpcStatus: 'UNAUTHENTICATED', kind: 'auth', figures: [], description: 'No "Authorization: Bearer <key>" was sent.' },
  invalid_api_key: { httpStatus: 401, grpcStatus: 'UNAUTHENTICATED', kind: 'auth', figures: [], description: 'The agent key is unknown or revoked.' },
  forbidden: { httpStatus: 403, grpcStatus: 'PERMISSION_DENIED', kind: 'auth', figures: [], description: 'This key may not do this: an agent key on the admin API, an admin key whose scope does not allow the route (finance reads, org admins act on their org, only root mints keys), or the settlement worker\'s commands.' },

  // The input.
  invalid_request: { httpStatus: 400, grpcStatus: 'INVALID_ARGUMENT', kind: 'invalid_request', figures: ['field'], description: 'A field of the body, query or headers is missing or wrong; `field` names it.' },
  invalid_amount: { httpStatus: 400, grpcStatus: 'INVALID_ARGUMENT', kind: 'invalid_request', figures: ['field'], description: 'An amount is not a USD decimal string Paybound can hold; `field` names it.' },
  invalid_idempotency_key: { httpStatus: 400, grpcStatus: 'INVALID_ARGUMENT', kind: 'invalid_request', figures: ['field'], description: 'The Idempotency-Key is not 1 to 255 printable ASCII characters.' },
  invalid_if_match: { httpStatus: 400, grpcStatus: 'INVALID_ARGUMENT', kind: 'invalid_request', figures: ['field'], description: 'If-Match is not an ETag from GET, such as "3".' },
  precondition_required: { httpStatus: 428, grpcStatus: 'FAILED_PRECONDITION', kind: 'invalid_request', figures: ['field'], description: 'This change needs If-Match: the ETag from GET (or * to replace whatever is there).' },
  destination_not_allowed: {
    httpStatus: 403,
    grpcStatus: 'PERMISSION_DENIED',
    kind: 'invalid_request',
    figures: ['field', 'paymentId'],
    description: 'The URL is a loopback, private or link-local address, which this deployment does not call (PAYBOUND_FETCH_PRIVATE_ADDRESSES).',
  },

  // What the request names.
  org_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: ['field'], description: 'No such org.' },
  team_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No such team in this org.' },
  agent_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No such agent in this org.' },
  session_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No such session, or not this agent\'s.' },
  payment_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No such payment, or not this agent\'s.' },
  webhook_endpoint_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No such webhook endpoint.' },
  shadow_policy_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'The level has no shadow policy to promote.' },
  webhook_delivery_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No such delivery of this webhook endpoint.' },
  admin_key_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: [], description: 'No admin key of this name, or it is already revoked.' },
  mcp_server_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: ['field'], description: 'No such upstream MCP server, or not one this agent\'s org may use.' },
  mcp_tool_not_found: { httpStatus: 404, grpcStatus: 'NOT_FOUND', kind: 'not_found', figures: ['field'], description: 'The upstream MCP server lists no such tool, or its admin did not allow it.' },

  // The seller's offer (sign-only reads it before the session is looked up).
  bad_payment_offer: {
    httpStatus: 502,
    grpcStatus: 'UNAVAILABLE',
    kind: 'upstream',
    figures: ['reason', 'options'],
    description: 'The seller\'s 402 is malformed, hostile or oversized, or offers nothing this deployment can pay (a scheme, network or asset it has no signer for, an expired or body-bound MPP challenge, splits); nothing was reserved or signed. `reason` is the refusal of the option that came closest to being paid; `options` lists every option with its reason.',
  },

  // Capacity: the command was not decided and is safe to retry.
  overloaded: { httpStatus: 503, grpcStatus: 'UNAVAILABLE', kind: 'unavailable', figures: ['scope'], description: 'Too many budget decisions are waiting; retry shortly.' },
  projection_stalled: {
    httpStatus: 503,
    grpcStatus: 'UNAVAILABLE',
    kind: 'unavailable',
    figures: ['streamVersion', 'eventType', 'retryAt'],
    description: "The org's read model stopped at an event it cannot apply; operators are alerted and it resumes by itself once fixed.",
  },

  // The domain's decision, in decide's order.
  idempotency_key_reused: { httpStatus: 422, grpcStatus: 'FAILED_PRECONDITION', kind: 'conflict', figures: [], description: 'This Idempotency-Key was used with a different request.' },
  org_already_exists: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'An org with this id exists.' },
  team_already_exists: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'A team with this id exists in this org.' },
  agent_already_exists: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'An agent with this id exists in this org.' },
  session_already_exists: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'A session with this id exists.' },
  too_many_open_sessions: {
    httpStatus: 429,
    grpcStatus: 'RESOURCE_EXHAUSTED',
    kind: 'unavailable',
    figures: ['limit', 'open'],
    description: 'The agent has as many open sessions as allowed (PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT); close one, or wait for one to expire.',
  },
  policy_version_mismatch: {
    httpStatus: 412,
    grpcStatus: 'FAILED_PRECONDITION',
    kind: 'conflict',
    figures: ['current', 'etag', 'changedBy', 'changedAt'],
    description: 'The policy changed since the If-Match version; `current` is the policy now, `etag` its ETag, and `changedBy`/`changedAt` who changed it last and when.',
  },
  intent_conflict: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'A payment with this id exists.' },
  invalid_command: { httpStatus: 400, grpcStatus: 'INVALID_ARGUMENT', kind: 'invalid_request', figures: [], description: 'The command cannot apply as given (a limit or amount out of range, a payment in the wrong state).' },
  agent_frozen: refusal('An admin froze the agent, its team or its org: no new payments or sessions until unfrozen (payments in flight finish); `level` names the frozen level.'),
  session_closed: refusal('The session is closed to new payments.'),
  session_expired: refusal('The session has expired.'),
  session_limit_exceeded: refusal('The session\'s limit (amount or number of payments) does not cover this payment.'),
  domain_not_allowed: refusal('A policy denies the resource\'s domain.'),
  network_not_allowed: refusal('A policy, or this deployment, does not pay on the offer\'s network.'),
  asset_not_allowed: refusal('A policy, or this deployment, does not pay in the offer\'s asset.'),
  payee_not_allowed: refusal('A policy denies the payee.'),
  price_above_max: refusal('The price is above the maximum per payment, or above the request\'s maxPrice.'),
  loop_detected: refusal('The loop guard: too many payments for the same method and URL within the window.'),
  rate_limited: refusal('Too many payments per minute for the agent or the session.'),
  agent_limit_exceeded: refusal('The agent\'s budget does not cover this payment.'),
  team_limit_exceeded: refusal('The team\'s budget does not cover this payment.'),
  org_limit_exceeded: refusal('The org\'s budget does not cover this payment.'),
  wallet_insufficient_funds: refusal('The paying wallet does not hold enough of the asset.'),
  permit2_allowance_missing: refusal('The paying wallet has not allowed Permit2 to move enough of this asset; an admin grants a bounded allowance first.'),
  approval_required: refusal('The payment needed an admin\'s approval, which was denied or timed out.'),

  // After the decision.
  approval_already_decided: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'The payment is not waiting for approval (any more).' },
  payment_already_signed: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'The payment already has an authorization.' },
  payment_not_signed: {
    httpStatus: 503,
    grpcStatus: 'UNAVAILABLE',
    kind: 'unavailable',
    figures: ['paymentId', 'reason'],
    description: 'The payment has no signature: the settlement worker refused or did not sign it in time (nothing was paid), or it was reported or settled before it was signed.',
  },
  payment_not_sent: {
    httpStatus: 503,
    grpcStatus: 'UNAVAILABLE',
    kind: 'unavailable',
    figures: ['paymentId', 'paymentStatus', 'validBefore'],
    description: 'The payment was signed too late to be sent: nothing went to the seller, and its hold is released once the authorization expires unused at `validBefore`.',
  },
  payment_already_used: {
    httpStatus: 409,
    grpcStatus: 'ABORTED',
    kind: 'conflict',
    figures: ['paymentId', 'paymentStatus'],
    description: 'A pay-and-fetch retried with the same Idempotency-Key went ahead before, and its first answer was not kept (still under way, cut off, or larger than the 1 MiB kept); `paymentStatus` says how the payment stands.',
  },
  intent_already_settled: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'The payment was already settled.' },
  intent_already_refunded: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'The payment was already refunded.' },
  settle_exceeds_reserved: { httpStatus: 422, grpcStatus: 'FAILED_PRECONDITION', kind: 'conflict', figures: [], description: 'A settlement above the amount reserved.' },
  release_not_proven: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'A signed payment is released only once its authorization expired unused.' },
  webhook_endpoints_limit_reached: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: ['limit'], description: 'As many webhook endpoints as allowed exist; delete one first.' },
  webhook_endpoint_disabled: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'The webhook endpoint is disabled; enable it first.' },
  webhook_delivery_already_delivered: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: [], description: 'The delivery was delivered; it is not sent again.' },
  admin_key_already_exists: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: ['field'], description: 'An admin key of this name exists or existed; names are never reused, so the audit trail stays unambiguous.' },
  mcp_server_already_registered: { httpStatus: 409, grpcStatus: 'ABORTED', kind: 'conflict', figures: ['field'], description: 'An upstream MCP server with this name is registered.' },

  // The seller, called for the agent.
  upstream_unreachable: { httpStatus: 502, grpcStatus: 'UNAVAILABLE', kind: 'upstream', figures: ['paymentId'], description: 'The connection to the seller failed; with `paymentId`, the payment was sent and is reconciled on chain.' },
  upstream_bad_response: {
    httpStatus: 502,
    grpcStatus: 'UNAVAILABLE',
    kind: 'upstream',
    figures: ['paymentId'],
    description: 'The seller\'s answer is not valid HTTP (a malformed status line, headers or framing); with `paymentId`, the payment was sent and is reconciled on chain.',
  },
  upstream_timeout: { httpStatus: 504, grpcStatus: 'DEADLINE_EXCEEDED', kind: 'upstream', figures: ['paymentId'], description: 'The seller did not answer in time; with `paymentId`, the payment was sent and is reconciled on chain.' },
  upstream_response_too_large: { httpStatus: 502, grpcStatus: 'UNAVAILABLE', kind: 'upstream', figures: ['paymentId'], description: 'The seller\'s answer is larger than Paybound passes on (headers 64 KiB, body 5 MiB).' },
  mcp_upstream_protocol_error: {
    httpStatus: 502,
    grpcStatus: 'UNAVAILABLE',
    kind: 'upstream',
    figures: ['paymentId'],
    description: 'The upstream MCP server did not answer as an MCP server should (handshake, framing, listing); with `paymentId`, the payment was sent and is reconciled on chain.',
  },
  bad_tool_result: {
    httpStatus: 502,
    grpcStatus: 'UNAVAILABLE',
    kind: 'upstream',
    figures: ['paymentId'],
    description: 'The upstream MCP tool\'s result cannot be passed on (its shape, size or depth); with `paymentId`, the payment was sent and is reconciled on chain.',
  },
  upstream_payment_rejected: {
    httpStatus: 502,
    grpcStatus: 'UNAVAILABLE',
    kind: 'upstream',
    figures: ['paymentId', 'reason'],
    description: 'The upstream asked for payment again after it was sent one (its verification or settlement failed); the payment is never signed twice and is reconciled on chain.',
  },

  // Per-process capacity and readiness.
  too_many_streams: { httpStatus: 503, grpcStatus: 'UNAVAILABLE', kind: 'unavailable', figures: [], description: 'Too many event streams are open on this governor; close one or retry later.' },
  too_many_watchers: { httpStatus: 429, grpcStatus: 'RESOURCE_EXHAUSTED', kind: 'unavailable', figures: [], description: 'Too many sessions are watched over gRPC on this governor; retry later.' },
  not_ready: { httpStatus: 503, grpcStatus: 'UNAVAILABLE', kind: 'unavailable', figures: [], description: 'The database is not reachable; nothing can be decided.' },
  unavailable: {
    httpStatus: 503,
    grpcStatus: 'UNAVAILABLE',
    kind: 'unavailable',
    figures: [],
    description: 'The database did not answer in time or refused the connection; retry after Retry-After (with the same Idempotency-Key: a change may have been made).',
  },

  // Ours.
  dashboard_missing: { httpStatus: 500, grpcStatus: 'INTERNAL', kind: 'internal', figures: [], description: 'A dashboard file is missing from the installation.' },
  internal_error: { httpStatus: 500, grpcStatus: 'INTERNAL', kind: 'internal', figures: [], description: 'The request failed; it is safe to retry with the same Idempotency-Key.' },
} as const satisfies Record<DomainErrorCode | RefusalCode, ErrorEntry> & Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** The codes in precedence order. */
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}

export function errorEntry(code: ErrorCode): ErrorEntry {
  return ERROR_CATALOGUE[code];
}

// The domain's own codes, so that a client of the governor (the settlement worker) can turn a
// problem back into the DomainError the domain threw. Checked both ways by the compiler.
const DOMAIN_ERROR_CODES: Record<DomainErrorCode, true> = {
  org_not_found: true,
  org_already_exists: true,
  team_not_found: true,
  team_already_exists: true,
  agent_not_found: true,
  agent_already_exists: true,
  session_not_found: true,
  session_already_exists: true,
  too_many_open_sessions: true,
  payment_not_found: true,
  idempotency_key_reused: true,
  intent_conflict: true,
  intent_already_settled: true,
  intent_already_refunded: true,
  settle_exceeds_reserved: true,
  payment_not_signed: true,
  payment_already_signed: true,
  release_not_proven: true,
  policy_version_mismatch: true,
  approval_already_decided: true,
  agent_frozen: true,
  shadow_policy_not_found: true,
  invalid_command: true,
};

export function isDomainErrorCode(code: string): code is DomainErrorCode {
  return Object.hasOwn(DOMAIN_ERROR_CODES, code);
}

/** schemas/errors.json: the catalogue as other languages' clients read it. */
export const ERRORS_SCHEMA_PATH = 'schemas/errors.json';

export function errorsSchemaJson(): string {
  const document = {
    $comment: 'Generated from libs/platform/error-catalogue.ts by `npm run schemas:errors`; do not edit.',
    version: 1,
    errors: ERROR_CODES.map((code) => {
      const { httpStatus, grpcStatus, kind, figures, description } = ERROR_CATALOGUE[code];
      return { code, httpStatus, grpcStatus, kind, figures, description };
    }),
  };
  return `${JSON.stringify(document, null, 2)}\n`;
}
