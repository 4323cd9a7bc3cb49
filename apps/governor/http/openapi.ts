// The public contract as OpenAPI 3.1, written by hand so that it says exactly what API.md
// promises; served at /docs (Swagger UI) and /docs/openapi.json.

import { HISTORY_PER_AGENT_MAX } from '../../../libs/domain/budget/policy.js';
import { mcpGatewayPaths } from '../mcp/mcp-openapi.js';
import { DEFAULT_WEBHOOK_EVENT_TYPES, WEBHOOK_ENDPOINTS_MAX, WEBHOOK_EVENT_TYPES } from '../../../libs/domain/webhooks/webhooks.js';
import { ERROR_CODES } from '../../../libs/platform/error-catalogue.js';
import { consoleOpenApiPaths } from '../admin/console-openapi.js';

const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });
const orgParam = { name: 'orgId', in: 'path', required: true, schema: { type: 'string' } };
const agentParam = { name: 'agentId', in: 'path', required: true, schema: { type: 'string' } };
const webhookParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const deliveryParam = { name: 'deliveryId', in: 'path', required: true, schema: { type: 'string' } };
const webhookEndpoint = { $ref: '#/components/schemas/WebhookEndpoint' };
const WEBHOOK_DELIVERY_DESCRIPTION = [
  'Paybound POSTs each subscribed event to the URL as a CloudEvents 1.0 JSON envelope (the same as on Kafka; `Content-Type: application/cloudevents+json`), once per endpoint and event, after it is committed; decisions never wait for it.',
  'Headers: `Paybound-Webhook-Id` (the event id: dedupe by it, a delivery can arrive more than once), `Paybound-Webhook-Timestamp` (unix seconds), `Paybound-Webhook-Attempt`, and `Paybound-Signature: t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<raw body>" with the secret>` (a second v1 while a rotated secret overlaps).',
  'Verify against the raw body with a constant-time compare and reject timestamps more than five minutes off (`verifyWebhookSignature` in libs/webhooks/signature.ts does both).',
  'Any 2xx within PAYBOUND_WEBHOOK_TIMEOUT_MS is delivered; anything else (other status, redirect, timeout, refused connection) is retried with exponential backoff from PAYBOUND_WEBHOOK_RETRY_BASE_MS, capped at PAYBOUND_WEBHOOK_RETRY_MAX_MS, until PAYBOUND_WEBHOOK_MAX_ATTEMPTS attempts, then the delivery is failed. Order across events is not guaranteed.',
  'An endpoint gets the events that happen after it is created; one with an orgId only that org\'s, and wallet alerts (which belong to no org) go to endpoints without one.',
].join(' ');
const usd = { type: 'string', pattern: '^\\d+\\.\\d{2,6}$', examples: ['2.00', '0.005'] };
const ifMatch = {
  name: 'If-Match',
  in: 'header',
  required: true,
  schema: { type: 'string' },
  description: 'The ETag from GET ("3"), or * to replace whatever is there; without it 428, a stale one 412',
};
const policyPutResponses = {
  '200': { description: 'Changed; new ETag' },
  '400': problemResponse('Invalid rule or missing body; `field` names it'),
  '412': problemResponse('policy_version_mismatch: someone else changed it first'),
  '415': problemResponse('unsupported_media_type: the body is not JSON'),
  '428': problemResponse('precondition_required: no If-Match'),
};
const adminKey = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    scope: { type: 'string', enum: ['root', 'org_admin', 'finance'] },
    orgId: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    createdBy: { type: ['string', 'null'], examples: ['admin:root'] },
    revokedAt: { type: ['string', 'null'], format: 'date-time' },
    revokedBy: { type: ['string', 'null'] },
  },
};
const idempotencyKey = {
  name: 'Idempotency-Key',
  in: 'header',
  required: false,
  description:
    'A retry with the same key and the same request gets the first answer and never a second reservation; the same key with another request is 422. The key is hashed with what the call means (session, URL, method, offer, …), not with its transport: the same key and payment over REST and gRPC are one request.',
  schema: { type: 'string', maxLength: 255 },
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Paybound',
    version: '0.1.0',
    description:
      'A governor between AI agents and x402 paywalls. Agents open sessions with hard limits and ask Paybound to pay; every decision is an event. Money is a USD decimal string; asset amounts are decimal strings of atomic units. Errors are RFC 9457 problem+json with a stable `code`.',
  },
  servers: [{ url: '/' }],
  security: [{ bearer: [] }],
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'Agent keys for /v1, the admin token for /admin/v1.' } },
    schemas: {
      Problem: {
        type: 'object',
        required: ['type', 'title', 'status', 'code', 'detail'],
        properties: {
          type: { type: 'string' },
          title: { type: 'string' },
          status: { type: 'integer' },
          code: {
            type: 'string',
            enum: ERROR_CODES,
            description: 'Stable machine-readable code, in precedence order (when several apply, the first is reported); each code\'s HTTP and gRPC status, kind and figures are in schemas/errors.json.',
          },
          detail: { type: 'string' },
          field: { type: 'string', description: 'The input field that is wrong (400).' },
          level: { type: 'string', enum: ['session', 'agent', 'team', 'org', 'policy', 'wallet', 'request'] },
          limit: { ...usd, description: 'The limit of the refusing level (403).' },
          requested: { ...usd, description: 'The amount asked for (403).' },
          remaining: { ...usd, description: 'What was left at that level (403).' },
          paymentId: { type: 'string' },
          paymentStatus: { type: ['string', 'null'], description: 'The status of the payment the problem is about (payment_already_used, payment_not_sent).' },
          validBefore: { type: ['string', 'null'], format: 'date-time', description: 'When the signed authorization expires; its hold is released after that if unused (payment_not_sent).' },
          reason: { type: 'string', description: 'Why the settlement worker did not sign (payment_not_signed).' },
          open: { type: 'integer', description: 'The agent\'s open sessions (too_many_open_sessions; `limit` is then the cap, a number).' },
          scope: { type: 'string', enum: ['org', 'total'], description: 'Which queue of decisions is full (overloaded).' },
        },
      },
      OpenSession: {
        type: 'object',
        required: ['limit'],
        additionalProperties: false,
        properties: {
          limit: usd,
          expiresInMinutes: { type: 'integer', minimum: 1, maximum: 10080, default: 60 },
          maxPayments: { type: 'integer', minimum: 1, maximum: 1000000 },
          metadata: { type: 'object', additionalProperties: { type: 'string', maxLength: 256 }, maxProperties: 20 },
        },
      },
      Session: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          agentId: { type: 'string' },
          limit: usd,
          reserved: usd,
          spent: usd,
          remaining: usd,
          status: { type: 'string', enum: ['open', 'expired', 'closed'] },
          expiresAt: { type: 'string', format: 'date-time' },
          payments: { type: 'integer' },
          maxPayments: { type: ['integer', 'null'] },
          metadata: { type: 'object', additionalProperties: { type: 'string' } },
          createdAt: { type: 'string', format: 'date-time' },
        },
      },
      RequestPayment: {
        type: 'object',
        required: ['url'],
        additionalProperties: false,
        description: 'Exactly one of `paymentRequired`, `challenges` or `response`. Every x402 requirement and MPP challenge they carry is an option; exactly one is chosen (cheapest in USD, then PAYBOUND_RAIL_PREFERENCE), and every other is recorded with its reason.',
        properties: {
          paymentRequired: {
            oneOf: [{ type: 'string', description: 'The raw PAYMENT-REQUIRED header value (v2).' }, { type: 'object', description: 'The v1 402 JSON body.' }],
          },
          challenges: { type: 'array', items: { type: 'string' }, maxItems: 16, description: 'MPP: the seller\'s `WWW-Authenticate: Payment …` values as received.' },
          response: {
            type: 'object',
            description: 'The seller\'s whole 402: status, headers (name → value or values) and, for an x402 v1 offer, its body.',
            properties: { status: { const: 402 }, headers: { type: 'object' }, body: { oneOf: [{ type: 'string' }, { type: 'object' }] } },
            required: ['status', 'headers'],
          },
          body: { type: 'string', description: 'The body the paid request will carry: an MPP challenge\'s `digest` must match it.' },
          url: { type: 'string', format: 'uri' },
          method: { type: 'string', default: 'GET' },
        },
      },
      Payment: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          sessionId: { type: 'string' },
          status: { type: 'string', enum: ['awaiting_approval', 'reserved', 'signed', 'settled', 'refunded', 'rejected', 'unknown'] },
          amount: usd,
          amountAtomic: { type: ['string', 'null'] },
          asset: { type: ['string', 'null'] },
          network: { type: ['string', 'null'], description: 'CAIP-2' },
          payTo: { type: ['string', 'null'] },
          resource: { type: ['string', 'null'] },
          validBefore: { type: ['string', 'null'], format: 'date-time' },
          transaction: { type: ['string', 'null'] },
          reason: { type: ['string', 'null'] },
          createdAt: { type: 'string', format: 'date-time' },
          rail: { type: 'string', enum: ['x402', 'mpp'], description: 'Present for payments chosen among a 402\'s options.' },
          scheme: { type: 'string', examples: ['exact', 'upto', 'charge'] },
          transfer: { type: 'string', enum: ['eip3009', 'permit2'] },
          maxAmount: { ...usd, description: 'What was reserved: the price, or for `upto` the signed maximum; `amount` is what settled.' },
          maxAmountAtomic: { type: 'string' },
          headers: { type: 'object', additionalProperties: { type: 'string' }, description: 'Every header to send with the paid request, once signed (MPP: `Authorization: Payment …`).' },
          receipt: {
            type: ['object', 'null'],
            description: 'The seller\'s PAYMENT-RESPONSE or Payment-Receipt as received, and decoded.',
            properties: { header: { type: 'string' }, value: { type: 'string' }, document: {} },
          },
          options: {
            type: 'object',
            description: 'What the 402 offered: the chosen option, and each other one with `stage` and `reason` (e.g. `rail_preference`, `more_expensive`, `mpp_challenge_expired`, `permit2_allowance_missing`).',
            properties: { chosen: { type: 'object' }, rejected: { type: 'array', items: { type: 'object' } } },
          },
        },
      },
      SignedPayment: {
        allOf: [
          { $ref: '#/components/schemas/Payment' },
          {
            type: 'object',
            properties: {
              header: {
                type: ['object', 'null'],
                properties: { name: { type: 'string', examples: ['PAYMENT-SIGNATURE', 'X-PAYMENT'] }, value: { type: 'string' } },
              },
            },
          },
        ],
      },
      Policy: {
        type: 'object',
        additionalProperties: false,
        description: 'Every rule of every level (org, team, agent) applies; the most restrictive wins. PUT replaces the whole policy; omitted rules are off.',
        properties: {
          maxPerPayment: { ...usd, type: ['string', 'null'] },
          allowedDomains: { type: ['array', 'null'], items: { type: 'string', examples: ['api.example.com', '*.example.com'] } },
          deniedDomains: { type: 'array', items: { type: 'string' } },
          allowedPayees: { type: ['array', 'null'], items: { type: 'string' } },
          deniedPayees: { type: 'array', items: { type: 'string' } },
          allowedNetworks: { type: ['array', 'null'], items: { type: 'string', description: 'CAIP-2' } },
          allowedAssets: { type: ['array', 'null'], items: { type: 'string' } },
          loopGuard: {
            type: ['object', 'null'],
            description: 'At most maxPayments for the same method and URL within windowSeconds.',
            properties: { maxPayments: { type: 'integer', minimum: 1, maximum: HISTORY_PER_AGENT_MAX }, windowSeconds: { type: 'integer', minimum: 1, maximum: 86400 } },
          },
          maxPaymentsPerMinutePerAgent: { type: ['integer', 'null'], minimum: 1, maximum: HISTORY_PER_AGENT_MAX },
          maxPaymentsPerMinutePerSession: { type: ['integer', 'null'], minimum: 1, maximum: HISTORY_PER_AGENT_MAX },
          approvalAbove: { ...usd, type: ['string', 'null'], description: 'Payments above this wait for an admin (202, status awaiting_approval).' },
          approvalTimeoutSeconds: { type: 'integer', minimum: 10, default: 600, description: 'Unanswered approvals are refused after this long.' },
          budgetAlertPercents: {
            type: 'array',
            items: { type: 'integer', minimum: 1, maximum: 100 },
            maxItems: 10,
            default: [],
            example: [80, 95],
            description:
              'Percentages of a budget whose crossing emits BudgetThresholdReached (once per threshold per period; a webhook can deliver it). A level without its own list uses its nearest ancestor\'s: agent, then team, then org; sessions use their agent\'s.',
          },
        },
      },
      Budget: {
        type: 'object',
        required: ['limit'],
        additionalProperties: false,
        properties: { limit: { ...usd, type: ['string', 'null'] }, period: { type: 'string', enum: ['none', 'day', 'month'], default: 'none', description: 'day and month reset at UTC boundaries' } },
      },
      AuditPage: {
        type: 'object',
        properties: {
          items: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                position: { type: 'string' },
                type: { type: 'string' },
                orgId: { type: 'string' },
                actor: { type: 'string', examples: ['admin:alice', 'agent:bot-1'] },
                correlationId: { type: 'string' },
                occurredAt: { type: 'string', format: 'date-time' },
                data: { type: 'object' },
              },
            },
          },
          next: { type: ['string', 'null'], description: 'Pass as `after` for the next page.' },
        },
      },
      ReportResult: {
        type: 'object',
        required: ['status'],
        additionalProperties: false,
        properties: { status: { type: 'integer' }, paymentResponse: { type: 'string', description: 'PAYMENT-RESPONSE or X-PAYMENT-RESPONSE value.' } },
      },
      WebhookEndpoint: {
        type: 'object',
        properties: {
          id: { type: 'string', examples: ['we_3f2a…'] },
          url: { type: 'string', format: 'uri' },
          eventTypes: { type: 'array', items: { type: 'string', enum: WEBHOOK_EVENT_TYPES } },
          orgId: { type: ['string', 'null'], description: 'Only this org\'s events; null: every org and the org-less wallet alerts' },
          description: { type: 'string' },
          enabled: { type: 'boolean' },
          previousSecretExpiresAt: { type: ['string', 'null'], format: 'date-time', description: 'Until then the secret replaced by the last rotation still signs beside the new one' },
          createdAt: { type: 'string', format: 'date-time' },
          createdBy: { type: 'string', examples: ['admin:alice'] },
          updatedAt: { type: 'string', format: 'date-time' },
        },
      },
      WebhookDelivery: {
        type: 'object',
        properties: {
          id: { type: 'string', description: 'Cursor order: newer deliveries have larger ids' },
          eventId: { type: 'string', format: 'uuid', description: 'Also sent as Paybound-Webhook-Id and as the CloudEvent `id`: receivers dedupe by it' },
          eventType: { type: 'string' },
          status: { type: 'string', enum: ['pending', 'delivered', 'failed'] },
          attempts: { type: 'integer', description: 'Attempts started so far' },
          nextAttemptAt: { type: ['string', 'null'], format: 'date-time', description: 'When a pending delivery is tried next' },
          lastAttemptAt: { type: ['string', 'null'], format: 'date-time' },
          lastHttpStatus: { type: ['integer', 'null'], description: 'The status of the last answer; null when the last attempt got none' },
          lastError: { type: ['string', 'null'], description: 'Why the last attempt got no answer (timeout, refused connection, destination_not_allowed, …)' },
          deliveredAt: { type: ['string', 'null'], format: 'date-time' },
          createdAt: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
  paths: {
    ...mcpGatewayPaths,
    '/v1/sessions': {
      post: {
        summary: 'Open an execution session with a hard limit',
        parameters: [idempotencyKey],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/OpenSession' } } } },
        responses: {
          '201': { description: 'Opened', content: { 'application/json': { schema: { $ref: '#/components/schemas/Session' } } } },
          '400': problemResponse('Invalid input; `field` names it'),
          '401': problemResponse('Missing or unknown key'),
          '422': problemResponse('Idempotency-Key reused with another body'),
          '429': problemResponse(
            'too_many_open_sessions: the agent has PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT sessions open (neither closed nor expired; 100 by default); close one. Decided with the org\'s other decisions, so it holds across governors.',
          ),
        },
      },
    },
    '/v1/sessions/{id}/close': {
      post: {
        summary: 'Close a session to new payments',
        description:
          'Records SessionClosed. New payments in the session are refused with 403 session_closed (a LimitExceeded event); payments already under way still sign, settle or are refunded. Closing a closed session changes nothing and answers it again, so a retry needs no Idempotency-Key. No body.',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The session, with status closed', content: { 'application/json': { schema: { $ref: '#/components/schemas/Session' } } } },
          '404': problemResponse('Unknown, or not this agent’s'),
        },
      },
    },
    '/v1/sessions/{id}': {
      get: {
        summary: "A session's live balance",
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The session', content: { 'application/json': { schema: { $ref: '#/components/schemas/Session' } } } },
          '404': problemResponse('Unknown, or not this agent’s'),
        },
      },
    },
    '/v1/sessions/{id}/payments': {
      post: {
        summary: 'Sign-only: decide and sign a payment for an x402 offer the runtime received',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }, idempotencyKey],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/RequestPayment' } } } },
        responses: {
          '201': { description: 'Reserved and signed; send `header`', content: { 'application/json': { schema: { $ref: '#/components/schemas/SignedPayment' } } } },
          '202': { description: 'Reserved; not signed yet (poll GET /v1/payments/{id})', content: { 'application/json': { schema: { $ref: '#/components/schemas/SignedPayment' } } } },
          '403': problemResponse('Refused by a budget or policy; a LimitExceeded event records it'),
          '404': problemResponse('Unknown session'),
          '502': problemResponse(
            'bad_payment_offer: the seller’s 402 is malformed, hostile or oversized, or offers nothing this deployment can pay (no requirement on a network the settlement worker has an RPC for, in a known asset, in a scheme it signs); nothing was reserved or signed',
          ),
        },
      },
    },
    '/v1/sessions/{id}/fetch': {
      post: {
        summary: 'Pay-and-fetch: Paybound calls the URL, pays an x402 402 within the budget, and answers with the seller’s response',
        description: [
          'The seller’s headers pass except hop-by-hop ones and every `Paybound-*` header: Paybound sets its own last (`Paybound-Payment-Id`, `Paybound-Amount`, `Paybound-Remaining`), so a seller cannot pose as Paybound.',
          'A problem answer of Paybound itself carries `Paybound-Problem: <code>`; a seller’s answer never does, even a problem+json one, so a client tells them apart by that header (not by the body’s `type`).',
          'With an Idempotency-Key, the first answer of a fetch that reserved a payment is kept with the payment for 24 hours: its status, content type, body (up to 1 MiB, stored in clear like the answer itself), whether it was Paybound’s problem, and its Paybound-Amount and Paybound-Remaining. A retry with the same key and request is answered from it with `Paybound-Idempotent-Replay: true`, without calling the seller or paying again. Header values must be tab or visible Latin-1 (no CR, LF, NUL or other control character); a URL must not carry credentials.',
        ].join(' '),
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }, idempotencyKey],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['url'],
                additionalProperties: false,
                properties: {
                  url: { type: 'string', format: 'uri' },
                  method: { type: 'string', default: 'GET' },
                  headers: { type: 'object', maxProperties: 50, additionalProperties: { type: 'string', maxLength: 8192, pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$' } },
                  body: { oneOf: [{ type: 'string' }, { type: 'object' }, { type: 'array' }] },
                  maxPrice: { ...usd, description: 'The most this request agrees to pay; a dearer offer is refused 403 price_above_max at level `request`, recorded as LimitExceeded.' },
                },
              },
            },
          },
        },
        responses: {
          '200': {
            description:
              'The seller’s status, headers and body (any status passes through); a paid answer carries Paybound-Payment-Id, Paybound-Amount (USD) and Paybound-Remaining (USD); a replayed first answer carries Paybound-Idempotent-Replay: true',
          },
          '202': { description: 'Waiting for an admin’s approval; poll GET /v1/payments/{id}', content: { 'application/json': { schema: { $ref: '#/components/schemas/SignedPayment' } } } },
          '403': problemResponse(
            'Refused by a budget or policy, or price_above_max; destination_not_allowed when the URL resolves to a loopback, private or link-local address (allowed only with PAYBOUND_FETCH_PRIVATE_ADDRESSES=allow)',
          ),
          '400': problemResponse('Invalid input; `field` names it (`headers.<name>` for a header value, `url` for a URL with credentials)'),
          '404': problemResponse('Unknown session'),
          '409': problemResponse('payment_already_used: an Idempotency-Key retry of a fetch that went ahead, whose first answer was not kept (still under way, cut off, or larger than 1 MiB)'),
          '422': problemResponse('idempotency_key_reused: the key was used with another request'),
          '502': problemResponse(
            'bad_payment_offer (also: a PAYMENT-REQUIRED header above 16 KiB, or nothing this deployment can pay), upstream_unreachable, upstream_bad_response or upstream_response_too_large (headers above 64 KiB, body above 5 MiB)',
          ),
          '503': problemResponse(
            'payment_not_signed: the settlement worker refused or did not sign in time; nothing was paid. payment_not_sent: it signed after the wait; nothing was sent, `paymentStatus` and `validBefore` say how the payment stands',
          ),
          '504': problemResponse('upstream_timeout: the payment outcome is reconciled on chain'),
        },
      },
    },
    '/v1/payments/{id}': {
      get: {
        summary: 'A payment and its status',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: 'The payment; `header` is present only while status is signed', content: { 'application/json': { schema: { $ref: '#/components/schemas/SignedPayment' } } } },
          '404': problemResponse('Unknown, or not this agent’s'),
        },
      },
    },
    '/v1/payments/{id}/result': {
      post: {
        summary: 'Report the seller’s answer to a sign-only payment',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/ReportResult' } } } },
        responses: { '200': { description: 'The payment after the report', content: { 'application/json': { schema: { $ref: '#/components/schemas/Payment' } } } } },
      },
    },
    '/admin/v1/orgs': {
      post: {
        summary: 'Create an org with an optional limit',
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['name'], properties: { id: { type: 'string' }, name: { type: 'string' }, limit: usd } } } } },
        responses: { '201': { description: 'Created' }, '409': problemResponse('Exists') },
      },
    },
    '/admin/v1/orgs/{orgId}/teams': {
      post: {
        summary: 'Create a team in an org',
        parameters: [{ name: 'orgId', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['name'], properties: { id: { type: 'string' }, name: { type: 'string' }, limit: usd } } } } },
        responses: { '201': { description: 'Created' }, '404': problemResponse('Unknown org') },
      },
    },
    '/admin/v1/orgs/{orgId}/agents': {
      post: {
        summary: 'Create an agent; its API key is returned once',
        parameters: [{ name: 'orgId', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: {
          required: true,
          content: { 'application/json': { schema: { type: 'object', required: ['name'], properties: { id: { type: 'string' }, name: { type: 'string' }, teamId: { type: 'string' }, limit: usd } } } },
        },
        responses: { '201': { description: 'Created; `apiKey` is shown only now' }, '404': problemResponse('Unknown org or team') },
      },
    },
    '/admin/v1/orgs/{orgId}/budget': {
      put: {
        summary: 'Set the budget of the org (a BudgetChanged event with before/after)',
        parameters: [orgParam],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Budget' } } } },
        responses: { '200': { description: 'Changed' }, '400': problemResponse('Invalid input'), '404': problemResponse('Unknown level') },
      },
    },
    '/admin/v1/orgs/{orgId}/policy': {
      get: {
        summary: 'The policy of the org, with its version as ETag',
        parameters: [orgParam],
        responses: { '200': { description: 'The policy; ETag header carries the version' }, '404': problemResponse('No such org, team or agent (or another org than the key\'s)') },
      },
      put: {
        summary: 'Replace the policy of the org (a PolicyChanged event with before/after); takes effect for the next decision',
        parameters: [...[orgParam], ifMatch],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Policy' } } } },
        responses: policyPutResponses,
      },
    },
    '/admin/v1/orgs/{orgId}/teams/{teamId}/budget': {
      put: {
        summary: 'Set the budget of a team (a BudgetChanged event with before/after)',
        parameters: [orgParam, { name: 'teamId', in: 'path', required: true, schema: { type: 'string' } }],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Budget' } } } },
        responses: { '200': { description: 'Changed' }, '400': problemResponse('Invalid input'), '404': problemResponse('Unknown level') },
      },
    },
    '/admin/v1/orgs/{orgId}/teams/{teamId}/policy': {
      get: {
        summary: 'The policy of a team, with its version as ETag',
        parameters: [orgParam, { name: 'teamId', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'The policy; ETag header carries the version' }, '404': problemResponse('No such org, team or agent (or another org than the key\'s)') },
      },
      put: {
        summary: 'Replace the policy of a team (a PolicyChanged event with before/after); takes effect for the next decision',
        parameters: [...[orgParam, { name: 'teamId', in: 'path', required: true, schema: { type: 'string' } }], ifMatch],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Policy' } } } },
        responses: policyPutResponses,
      },
    },
    '/admin/v1/orgs/{orgId}/agents/{agentId}/budget': {
      put: {
        summary: 'Set the budget of an agent (a BudgetChanged event with before/after)',
        parameters: [orgParam, agentParam],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Budget' } } } },
        responses: { '200': { description: 'Changed' }, '400': problemResponse('Invalid input'), '404': problemResponse('Unknown level') },
      },
    },
    '/admin/v1/orgs/{orgId}/agents/{agentId}/policy': {
      get: {
        summary: 'The policy of an agent, with its version as ETag',
        parameters: [orgParam, agentParam],
        responses: { '200': { description: 'The policy; ETag header carries the version' }, '404': problemResponse('No such org, team or agent (or another org than the key\'s)') },
      },
      put: {
        summary: 'Replace the policy of an agent (a PolicyChanged event with before/after); takes effect for the next decision',
        parameters: [...[orgParam, agentParam], ifMatch],
        requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Policy' } } } },
        responses: policyPutResponses,
      },
    },
    '/admin/v1/orgs/{orgId}/agents/{agentId}/keys': {
      post: { summary: 'Rotate the agent key: older keys stop working now; the new key is shown once', parameters: [orgParam, agentParam], responses: { '201': { description: 'New key' } } },
      delete: { summary: 'Revoke every key of the agent, effective on the next request', parameters: [orgParam, agentParam], responses: { '200': { description: 'Revoked' } } },
    },
    '/admin/v1/admin-keys': {
      post: {
        summary: 'Mint a named admin key (root keys only); changes made with it are recorded as admin:<name>, and the mint as an AdminKeyChanged event',
        description:
          'Scopes: `root` governs every org and alone mints, lists and revokes admin keys and creates orgs; `org_admin` governs the org it names (every route on another org answers 404 org_not_found; routes that span every org, such as /admin/v1/wallets, answer 403); `finance` reads only (GET), over the org it names or, without one, every org. Names are never reused.',
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['name', 'scope'],
                additionalProperties: false,
                properties: {
                  name: { type: 'string', pattern: '^[a-z0-9][a-z0-9._-]{0,63}$' },
                  scope: { type: 'string', enum: ['root', 'org_admin', 'finance'] },
                  orgId: { type: ['string', 'null'], description: 'Required for org_admin, optional for finance, absent for root' },
                },
              },
            },
          },
        },
        responses: {
          '201': { description: 'The key, shown once in `apiKey`', content: { 'application/json': { schema: { allOf: [adminKey, { type: 'object', properties: { apiKey: { type: 'string' } } }] } } } },
          '403': problemResponse('Not a root key'),
          '404': problemResponse('org_not_found'),
          '409': problemResponse('admin_key_already_exists: the name is or was in use'),
        },
      },
      get: {
        summary: 'Every admin key with its scope, who minted and who revoked it (never the keys); root keys only',
        responses: { '200': { description: 'The keys', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array', items: adminKey } } } } } } },
      },
    },
    '/admin/v1/admin-keys/{name}': {
      delete: {
        summary: 'Revoke an admin key (root keys only): its next request is refused and its open event streams end; an AdminKeyChanged event records it',
        parameters: [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Revoked', content: { 'application/json': { schema: adminKey } } }, '404': problemResponse('admin_key_not_found') },
      },
    },
    '/admin/v1/audit': {
      get: {
        summary: 'Every event with its actor, filtered and paged',
        parameters: ['orgId', 'agentId', 'type', 'actor', 'from', 'to', 'after', 'limit'].map((name) => ({ name, in: 'query', required: false, schema: { type: 'string' } })),
        responses: { '200': { description: 'A page', content: { 'application/json': { schema: { $ref: '#/components/schemas/AuditPage' } } } } },
      },
    },
    '/admin/v1/wallets': {
      get: {
        summary: 'The funding of each wallet Paybound pays from: on-chain balance, what open payments hold, and how many more typical payments it covers',
        description:
          'Balances are the settlement worker\'s latest on-chain reading (`balanceOf` of the asset, and the native balance for gas), refreshed every PAYBOUND_WALLET_CHECK_INTERVAL_MS. `held` is what open payments (awaiting approval, reserved, signed, unknown) may still take, plus settlements newer than the reading. A payment above `available` is refused with 403 `wallet_insufficient_funds` before anything is signed. Floors (PAYBOUND_WALLET_FLOORS on the worker) raise WalletLowBalance and WalletBalanceRestored events.',
        parameters: [{ name: 'sessionId', in: 'query', required: false, description: 'Take the typical price from this session\'s payments instead of all recent ones', schema: { type: 'string' } }],
        responses: {
          '200': {
            description: 'One entry per wallet, network and asset',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  properties: {
                    data: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          address: { type: 'string' },
                          network: { type: 'string' },
                          asset: { type: 'string' },
                          symbol: { type: ['string', 'null'] },
                          balance: { oneOf: [usd, { type: 'null' }] },
                          balanceAtomic: { type: 'string' },
                          held: { oneOf: [usd, { type: 'null' }] },
                          heldAtomic: { type: 'string' },
                          available: { oneOf: [usd, { type: 'null' }] },
                          availableAtomic: { type: 'string' },
                          floor: { oneOf: [usd, { type: 'null' }] },
                          floorAtomic: { type: ['string', 'null'] },
                          belowFloor: { type: 'boolean' },
                          nativeBalanceWei: { type: 'string' },
                          nativeFloorWei: { type: ['string', 'null'] },
                          nativeBelowFloor: { type: 'boolean' },
                          typicalPrice: { oneOf: [usd, { type: 'null' }], description: 'Median of the last 100 payments in this asset (of the session, with sessionId)' },
                          typicalPriceAtomic: { type: ['string', 'null'] },
                          coverablePayments: { type: ['string', 'null'], description: 'How many more payments of the typical price `available` covers' },
                          blockNumber: { type: 'string' },
                          observedAt: { type: 'string', format: 'date-time' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
    '/admin/v1/webhooks': {
      post: {
        summary: 'Register a webhook endpoint; the answer carries its signing secret, shown only now',
        description: WEBHOOK_DELIVERY_DESCRIPTION,
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['url'],
                additionalProperties: false,
                properties: {
                  url: { type: 'string', format: 'uri', maxLength: 2048, description: 'http(s), no credentials or fragment; public addresses only unless PAYBOUND_FETCH_PRIVATE_ADDRESSES=allow' },
                  eventTypes: { type: 'array', items: { type: 'string', enum: WEBHOOK_EVENT_TYPES }, minItems: 1, uniqueItems: true, default: DEFAULT_WEBHOOK_EVENT_TYPES },
                  orgId: { type: ['string', 'null'], default: null, description: 'Only this org\'s events; null: every org and the org-less wallet alerts' },
                  description: { type: 'string', maxLength: 500 },
                },
              },
            },
          },
        },
        responses: {
          '201': { description: 'Registered; `secret` (whsec_…) is shown only now', content: { 'application/json': { schema: { allOf: [webhookEndpoint, { type: 'object', properties: { secret: { type: 'string' } } }] } } } },
          '400': problemResponse('Invalid input (`field` names it): invalid_request'),
          '403': problemResponse('destination_not_allowed: a loopback or private URL (`field` is url)'),
          '404': problemResponse('org_not_found'),
          '409': problemResponse(`webhook_endpoints_limit_reached: at most ${WEBHOOK_ENDPOINTS_MAX} endpoints`),
        },
      },
      get: {
        summary: 'The webhook endpoints (never their secrets)',
        parameters: [{ name: 'orgId', in: 'query', required: false, schema: { type: 'string' } }],
        responses: { '200': { description: 'Every live endpoint, oldest first', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array', items: webhookEndpoint } } } } } } },
      },
    },
    '/admin/v1/webhooks/{id}': {
      get: {
        summary: 'A webhook endpoint, with how many of its deliveries are pending, delivered and failed',
        parameters: [webhookParam],
        responses: {
          '200': {
            description: 'The endpoint',
            content: {
              'application/json': {
                schema: {
                  allOf: [
                    webhookEndpoint,
                    { type: 'object', properties: { deliveries: { type: 'object', properties: { pending: { type: 'integer' }, delivered: { type: 'integer' }, failed: { type: 'integer' } } } } },
                  ],
                },
              },
            },
          },
          '404': problemResponse('webhook_endpoint_not_found'),
        },
      },
      patch: {
        summary: 'Change the URL, event types, description, or enable/disable; a disabled endpoint gets no new deliveries and its pending ones wait',
        parameters: [webhookParam],
        requestBody: {
          required: true,
          content: {
            'application/json': {
              schema: {
                type: 'object',
                additionalProperties: false,
                minProperties: 1,
                properties: { url: { type: 'string', format: 'uri' }, eventTypes: { type: 'array', items: { type: 'string', enum: WEBHOOK_EVENT_TYPES } }, description: { type: 'string' }, enabled: { type: 'boolean' } },
              },
            },
          },
        },
        responses: { '200': { description: 'Changed', content: { 'application/json': { schema: webhookEndpoint } } }, '400': problemResponse('Invalid input; `field` names it'), '404': problemResponse('webhook_endpoint_not_found') },
      },
      delete: {
        summary: 'Delete a webhook endpoint: it gets nothing more, its pending deliveries are failed (`endpoint_deleted`), its record stays',
        parameters: [webhookParam],
        responses: { '200': { description: 'Deleted; `pendingDeliveriesFailed` counts the deliveries stopped' }, '404': problemResponse('webhook_endpoint_not_found') },
      },
    },
    '/admin/v1/webhooks/{id}/secret': {
      post: {
        summary: 'Rotate the signing secret; the new one is shown only now, and the old one keeps signing beside it for overlapSeconds',
        parameters: [webhookParam],
        requestBody: {
          required: false,
          content: { 'application/json': { schema: { type: 'object', additionalProperties: false, properties: { overlapSeconds: { type: 'integer', minimum: 0, maximum: 604800, default: 86400, description: '0 retires the old secret at once' } } } } },
        },
        responses: {
          '201': { description: '`secret` is the new one; `previousSecretExpiresAt` ends the overlap', content: { 'application/json': { schema: { type: 'object', properties: { id: { type: 'string' }, secret: { type: 'string' }, previousSecretExpiresAt: { type: ['string', 'null'], format: 'date-time' } } } } } },
          '404': problemResponse('webhook_endpoint_not_found'),
        },
      },
    },
    '/admin/v1/webhooks/{id}/deliveries': {
      get: {
        summary: 'The deliveries of an endpoint, newest first, paged',
        parameters: [
          webhookParam,
          { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['pending', 'delivered', 'failed'] } },
          { name: 'after', in: 'query', required: false, description: 'The `next` of the previous page', schema: { type: 'string' } },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
        ],
        responses: {
          '200': { description: 'A page', content: { 'application/json': { schema: { type: 'object', properties: { items: { type: 'array', items: { $ref: '#/components/schemas/WebhookDelivery' } }, next: { type: ['string', 'null'] } } } } } },
          '400': problemResponse('Invalid query; `field` names it'),
          '404': problemResponse('webhook_endpoint_not_found'),
        },
      },
    },
    '/admin/v1/webhooks/{id}/deliveries/{deliveryId}': {
      get: {
        summary: 'One delivery with every attempt: when it started, how long it took, the HTTP status or the error',
        parameters: [webhookParam, deliveryParam],
        responses: {
          '200': {
            description: 'The delivery',
            content: {
              'application/json': {
                schema: {
                  allOf: [
                    { $ref: '#/components/schemas/WebhookDelivery' },
                    {
                      type: 'object',
                      properties: {
                        attemptHistory: {
                          type: 'array',
                          items: {
                            type: 'object',
                            properties: { attempt: { type: 'integer' }, startedAt: { type: 'string', format: 'date-time' }, durationMs: { type: 'integer' }, httpStatus: { type: ['integer', 'null'] }, error: { type: ['string', 'null'] } },
                          },
                        },
                      },
                    },
                  ],
                },
              },
            },
          },
          '404': problemResponse('webhook_endpoint_not_found or webhook_delivery_not_found'),
        },
      },
    },
    '/admin/v1/webhooks/{id}/deliveries/{deliveryId}/retry': {
      post: {
        summary: 'Try a delivery again now: a failed one gets one more attempt, a pending one skips the rest of its backoff',
        parameters: [webhookParam, deliveryParam],
        responses: {
          '202': { description: 'Due now', content: { 'application/json': { schema: { $ref: '#/components/schemas/WebhookDelivery' } } } },
          '404': problemResponse('webhook_endpoint_not_found or webhook_delivery_not_found'),
          '409': problemResponse('webhook_delivery_already_delivered, or webhook_endpoint_disabled'),
        },
      },
    },
    '/v1/catalog': {
      get: {
        summary: 'Paid endpoints known to Paybound (synced from x402 discovery and seen while paying), with their prices',
        parameters: [
          { name: 'q', in: 'query', required: false, description: 'Full-text search (web-search syntax) over service name, tags, description and URL', schema: { type: 'string', maxLength: 200 } },
          { name: 'maxPrice', in: 'query', required: false, description: 'Only endpoints at most this price in USD; endpoints whose asset Paybound cannot value are left out', schema: usd },
          { name: 'network', in: 'query', required: false, description: 'CAIP-2 network id', schema: { type: 'string', examples: ['eip155:8453'] } },
          { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } },
          { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 10000, default: 0 } },
        ],
        responses: {
          '200': {
            description: 'Best match first with `q`, otherwise cheapest first',
            content: {
              'application/json': {
                schema: {
                  type: 'object',
                  required: ['items', 'hasMore'],
                  properties: {
                    hasMore: { type: 'boolean' },
                    items: {
                      type: 'array',
                      items: {
                        type: 'object',
                        properties: {
                          resource: { type: 'string', format: 'uri' },
                          description: { type: 'string' },
                          serviceName: { type: ['string', 'null'] },
                          tags: { type: 'array', items: { type: 'string' } },
                          network: { type: 'string' },
                          scheme: { type: 'string' },
                          asset: { type: 'string' },
                          payTo: { type: 'string' },
                          price: { oneOf: [usd, { type: 'null' }], description: 'USD; null when the asset is not one Paybound can value' },
                          priceAtomic: { type: 'string', description: 'Atomic units of the asset' },
                          x402Version: { type: 'integer' },
                          source: { type: 'string', description: 'The facilitator URL it was synced from, or `observed`' },
                          lastUpdated: { type: 'string', format: 'date-time' },
                        },
                      },
                    },
                  },
                },
              },
            },
          },
          '400': problemResponse('Invalid query; `field` names it'),
          '401': problemResponse('Missing or unknown key'),
        },
      },
    },
    '/v1/sessions/{id}/stream': {
      get: {
        summary: 'Server-Sent Events: every event of the session with the balance after it (id = stream version; resume with Last-Event-ID)',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'after', in: 'query', required: false, schema: { type: 'integer' } },
        ],
        responses: { '200': { description: 'text/event-stream' }, '404': problemResponse('Unknown, or not this agent’s') },
      },
    },
    '/admin/v1/stream': {
      get: {
        summary: 'Server-Sent Events: every event as committed (id = cursor; resume with Last-Event-ID)',
        parameters: [
          { name: 'after', in: 'query', required: false, schema: { type: 'string' } },
          { name: 'backlog', in: 'query', required: false, schema: { type: 'integer', maximum: 1000 } },
        ],
        responses: { '200': { description: 'text/event-stream' }, '503': problemResponse('too_many_streams') },
      },
    },
    '/admin/v1/balances': { get: { summary: 'Sessions and agents with live balances, and spend per endpoint', responses: { '200': { description: 'Balances' } } } },
    '/dashboard': { get: { summary: "The operators' console (one page; asks for the admin token)", security: [], responses: { '200': { description: 'HTML' } } } },
    '/dashboard/assets/{file}': {
      get: {
        summary: "The console's bundled script and style sheet (content-hashed names)",
        security: [],
        parameters: [{ name: 'file', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'Static file' }, '404': problemResponse('No such file') },
      },
    },
    '/health': { get: { summary: 'Liveness', security: [], responses: { '200': { description: 'Alive' } } } },
    '/metrics': {
      get: {
        summary: 'Prometheus metrics of this governor process',
        description:
          'Text exposition format: decisions by command, outcome and refusal code (paybound_decisions_total), decision latency (paybound_decision_duration_seconds), amounts reserved, settled and refunded by asset (paybound_*_atomic_total), outbox lag (paybound_outbox_lag_events, paybound_outbox_lag_seconds, with Kafka), Kafka publish errors, open sessions, HTTP requests, and the Node.js runtime. Counters count what this process did; sum them over governors and workers. Needs `Authorization: Bearer <PAYBOUND_METRICS_TOKEN>` when that variable is set.',
        security: [],
        responses: { '200': { description: 'Metrics', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': problemResponse('unauthenticated: PAYBOUND_METRICS_TOKEN is set and the request does not carry it') },
      },
    },
    '/internal/v1/worker-commands': {
      post: {
        summary: "The settlement worker's budget commands (RecordSignature, Settle, Release), decided by this governor",
        description:
          "Internal: for the settlement worker only, with `Authorization: Bearer <PAYBOUND_WORKER_TOKEN>` (403 `forbidden` when that variable is not set here). The body is the command as JSON (amounts as decimal strings); the governor decides it in the org's one writer and answers with the events it appended, none for a retry of a decision already made. A refusal is the domain's problem: 409 `payment_already_signed`, `intent_already_settled`, `intent_already_refunded`, `release_not_proven`, 404 `payment_not_found`, 422 `settle_exceeds_reserved`.",
        requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', required: ['type', 'orgId', 'at', 'intentId'], properties: { type: { enum: ['RecordSignature', 'Settle', 'Release'] } } } } } },
        responses: {
          '200': { description: 'Decided and committed', content: { 'application/json': { schema: { type: 'object', properties: { events: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, streamVersion: { type: 'integer' } } } } } } } } },
          '400': problemResponse('invalid_request'),
          '403': problemResponse('forbidden: not the worker token, or none configured'),
          '409': problemResponse('The ledger refused the command'),
        },
      },
    },
    '/ready': { get: { summary: 'Readiness: database reachable and migrated', security: [], responses: { '200': { description: 'Ready' }, '503': problemResponse('Not ready') } } },
    // The console's routes (approvals extended, kill switch, shadow policies, spend, payments, exports, audit verify).
    ...consoleOpenApiPaths,
  },
} as const;
