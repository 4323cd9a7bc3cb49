// The console's admin routes (issue #23) in the OpenAPI document; merged into its `paths`.

const problem = { $ref: '#/components/schemas/Problem' };
const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problem } } });
const json = (description: string, schema: Record<string, unknown> = { type: 'object' }) => ({ description, content: { 'application/json': { schema } } });
const path = (name: string) => ({ name, in: 'path', required: true, schema: { type: 'string' } });
const query = (name: string, required = false, schema: Record<string, unknown> = { type: 'string' }, description?: string) => ({ name, in: 'query', required, schema, ...(description === undefined ? {} : { description }) });
const ifMatch = { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' }, description: 'The ETag read from GET; `*` or absent skips the check.' };
const reasonBody = {
  required: true,
  content: { 'application/json': { schema: { type: 'object', required: ['reason'], additionalProperties: false, properties: { reason: { type: 'string', minLength: 1, maxLength: 500 } } } } },
};
const frozenState = {
  type: 'object',
  properties: { level: { enum: ['org', 'team', 'agent'] }, levelId: { type: 'string' }, frozen: { type: 'boolean' }, reason: { type: ['string', 'null'] }, by: { type: ['string', 'null'] }, at: { type: ['string', 'null'], format: 'date-time' } },
};
const bucketParams = [query('bucket', false, { enum: ['hour', 'day'], default: 'hour' }), query('from', false, { type: 'string', format: 'date-time' }), query('to', false, { type: 'string', format: 'date-time' })];

function killSwitch(prefix: string, params: object[], what: string) {
  const op = (freeze: boolean) => ({
    post: {
      summary: freeze
        ? `Freeze ${what}: from the next decision on every new payment and session under it is refused 403 agent_frozen (a LimitExceeded at this level); payments in flight finish. A Frozen event with the admin as actor; idempotent`
        : `Unfreeze ${what} (an Unfrozen event with the admin as actor); idempotent`,
      parameters: params,
      requestBody: reasonBody,
      responses: { '200': json('The level\'s state now', frozenState), '400': problemResponse('invalid_request'), '404': problemResponse('org_not_found, team_not_found or agent_not_found') },
    },
  });
  return { [`${prefix}/freeze`]: op(true), [`${prefix}/unfreeze`]: op(false) };
}

function promote(prefix: string, params: object[]) {
  return {
    [`${prefix}/policy/shadow/promote`]: {
      post: {
        summary: 'Make the shadow policy the enforced one (If-Match: the shadow\'s ETag); a PolicyChanged with promotedFromShadowVersion. Shadow policies are edited with PUT …/policy?mode=shadow and read with GET …/policy?mode=shadow, each with its own ETag',
        parameters: [...params, ifMatch],
        responses: {
          '200': json('The enforced policy now'),
          '404': problemResponse('shadow_policy_not_found'),
          '412': problemResponse('policy_version_mismatch, with `current` (the shadow now), `etag`, `changedBy` and `changedAt`'),
        },
      },
    },
  };
}

const org = [path('orgId')];
const team = [path('orgId'), path('teamId')];
const agent = [path('orgId'), path('agentId')];

export const consoleOpenApiPaths = {
  '/admin/v1/approvals': {
    get: {
      summary: 'Payments waiting for an admin, oldest first: agent, session, resource, amount, the policy that held them, its threshold and the seconds left',
      parameters: [query('orgId')],
      responses: { '200': json('{items: [{paymentId, orgId, teamId, agentId, sessionId, resource, method, amount, asset, network, payTo, policySource, thresholdAmount, requestedAt, expiresAt, secondsLeft}]}') },
    },
  },
  '/admin/v1/approvals/{id}/approve': {
    post: {
      summary: 'Approve a waiting payment: reserved for signing at once (ApprovalGranted with the admin as actor and the reason as note)',
      parameters: [path('id')],
      requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } } } } } },
      responses: { '200': json('The payment'), '404': problemResponse('payment_not_found'), '409': problemResponse('approval_already_decided') },
    },
  },
  '/admin/v1/approvals/{id}/deny': {
    post: {
      summary: 'Deny a waiting payment: refused approval_required and its hold released (ApprovalDenied with the reason as note)',
      parameters: [path('id')],
      requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { reason: { type: 'string', maxLength: 500 } } } } } },
      responses: { '200': json('The payment'), '404': problemResponse('payment_not_found'), '409': problemResponse('approval_already_decided') },
    },
  },
  ...killSwitch('/admin/v1/orgs/{orgId}', org, 'an org'),
  ...killSwitch('/admin/v1/orgs/{orgId}/teams/{teamId}', team, 'a team'),
  ...killSwitch('/admin/v1/orgs/{orgId}/agents/{agentId}', agent, 'an agent'),
  '/admin/v1/orgs/{orgId}/frozen': {
    get: { summary: 'The org\'s frozen levels', parameters: org, responses: { '200': json('{items: [{level, levelId, reason, by, at}]}') } },
  },
  ...promote('/admin/v1/orgs/{orgId}', org),
  ...promote('/admin/v1/orgs/{orgId}/teams/{teamId}', team),
  ...promote('/admin/v1/orgs/{orgId}/agents/{agentId}', agent),
  '/admin/v1/orgs/{orgId}/policy/shadow/report': {
    get: {
      summary: 'What the org\'s shadow policies would have refused (ShadowRefusal events) since `since` (default: the last 24 hours); a payment counts once',
      parameters: [...org, query('since', false, { type: 'string', format: 'date-time' })],
      responses: { '200': json('{since, until, wouldRefuseCount, wouldRefuseAmount, byCode: [{code, count, amount}]}') },
    },
  },
  '/admin/v1/spend': {
    get: {
      summary: 'Spend per hour or day of the org, or of one team, agent or resource (at most one), with its budget and alert thresholds; at most 31 days of hours or 400 days of days',
      parameters: [query('orgId', true), query('teamId'), query('agentId'), query('resource', false, { type: 'string' }, 'The URL paid for, without its query'), ...bucketParams],
      responses: { '200': json('{bucket, level, levelId, series: [{start, spent, reserved, refunded, payments, refused}], budget?: {limit, period}, alertThresholds?: [percent]}'), '400': problemResponse('invalid_request') },
    },
  },
  '/admin/v1/refusals': {
    get: {
      summary: 'Refused payments per hour or day, by code',
      parameters: [query('orgId', true), ...bucketParams],
      responses: { '200': json('{bucket, series: [{start, byCode: {code: count}}]}'), '400': problemResponse('invalid_request') },
    },
  },
  '/admin/v1/payments': {
    get: {
      summary: 'An org\'s payments, newest first, paged by cursor',
      parameters: [query('orgId', true), query('status'), query('agentId'), query('sessionId'), query('limit', false, { type: 'integer', minimum: 1, maximum: 200, default: 50 }), query('cursor', false, { type: 'string' }, 'The `next` of the previous page')],
      responses: { '200': json('{items: [payment with orgId, teamId, agentId], next: cursor | null}'), '400': problemResponse('invalid_request') },
    },
  },
  '/admin/v1/payments/{paymentId}': {
    get: {
      summary: 'A payment\'s whole story: request, offer, decision and policy version, signature (public parts), the seller\'s answer, the settlement and every event with its actor and hash',
      parameters: [path('paymentId')],
      responses: { '200': json('The story'), '404': problemResponse('payment_not_found') },
    },
  },
  '/admin/v1/payments/{paymentId}/receipt': {
    get: {
      summary: 'The payment as one versioned document (receiptVersion 1): the EIP-3009 typed data and signature (once settled) to check against the signer, the transaction to check against the chain (scripts/verify-receipt.ts), and the event hashes of the audit chain',
      parameters: [path('paymentId')],
      responses: { '200': json('The receipt'), '404': problemResponse('payment_not_found') },
    },
  },
  '/admin/v1/exports/payments': {
    get: {
      summary: 'Payments created in [from, to), oldest first, streamed (chunked) as CSV or JSON Lines with Content-Disposition: attachment; any range, in keyset pages',
      parameters: [query('orgId'), query('from', true, { type: 'string', format: 'date-time' }), query('to', true, { type: 'string', format: 'date-time' }), query('format', false, { enum: ['csv', 'jsonl'], default: 'csv' })],
      responses: { '200': { description: 'The rows', content: { 'text/csv': {}, 'application/jsonl': {} } }, '400': problemResponse('invalid_request') },
    },
  },
  '/admin/v1/audit/verify': {
    get: {
      summary: 'Recompute the per-stream hash chains of the event log and name the first broken link (stream, version, event, expected and found hash)',
      parameters: [query('streamId')],
      responses: { '200': json('{ok, checked, firstBroken: {streamId, streamVersion, eventId, globalPosition, expected, found, problem} | null}') },
    },
  },
};
