import type pg from 'pg';
import { orgStreamId } from '../../libs/ledger/org-command-processor.js';
import { call, paymentRequiredHeader, seedAgent } from './api-client.js';

// Every route of the OpenAPI document the governor serves, with what a test needs to call it
// well-formed: who may call it, its path filled with real ids, a valid body. Suites that walk
// every route (fuzz, tenancy) read the document rather than a list of their own, so a route
// another branch adds is covered the day it is documented.

export type RouteAudience = 'agent' | 'admin' | 'worker' | 'public';

export interface ApiRoute {
  method: string;
  /** As documented: /v1/sessions/{id}/payments */
  template: string;
  audience: RouteAudience;
  pathParams: string[];
  queryParams: string[];
  headerParams: string[];
  /** The JSON schema of the body, $refs resolved one level; undefined when the route takes none. */
  body: { required: boolean; schema: JsonSchema } | undefined;
  /** Server-Sent Events: a valid call streams until the client leaves. */
  streams: boolean;
  /** The HTTP statuses the document says the route may answer. */
  documentedStatuses: number[];
}

export interface JsonSchema {
  type?: string | string[];
  $ref?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  examples?: unknown[];
  default?: unknown;
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  minimum?: number;
}

interface OpenApiOperation {
  security?: unknown[];
  parameters?: { name: string; in: string }[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: JsonSchema }> };
  responses?: Record<string, unknown>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, OpenApiOperation>>;
  components?: { schemas?: Record<string, JsonSchema> };
}

const METHODS = new Set(['get', 'post', 'put', 'patch', 'delete']);

/** The routes of the document served at /docs/openapi.json. */
export async function documentedRoutes(baseUrl: string): Promise<{ routes: ApiRoute[]; resolve: (schema: JsonSchema) => JsonSchema }> {
  const response = await fetch(`${baseUrl}/docs/openapi.json`);
  if (!response.ok) throw new Error(`GET /docs/openapi.json: ${response.status}`);
  const document = (await response.json()) as OpenApiDocument;
  const resolve = (schema: JsonSchema): JsonSchema => {
    if (schema.$ref === undefined) return schema;
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = document.components?.schemas?.[name];
    if (target === undefined) throw new Error(`unresolved ${schema.$ref}`);
    return resolve(target);
  };
  const routes: ApiRoute[] = [];
  for (const [template, operations] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      if (!METHODS.has(method)) continue;
      const parameters = operation.parameters ?? [];
      const audience: RouteAudience = template.startsWith('/internal/')
        ? 'worker'
        : Array.isArray(operation.security) && operation.security.length === 0
          ? 'public'
          : template.startsWith('/admin/')
            ? 'admin'
            : 'agent';
      const schema = operation.requestBody?.content?.['application/json']?.schema;
      routes.push({
        method: method.toUpperCase(),
        template,
        audience,
        pathParams: parameters.filter((p) => p.in === 'path').map((p) => p.name),
        queryParams: parameters.filter((p) => p.in === 'query').map((p) => p.name),
        headerParams: parameters.filter((p) => p.in === 'header').map((p) => p.name),
        body: schema === undefined ? undefined : { required: operation.requestBody?.required ?? false, schema: resolve(schema) },
        streams: /\/stream$/.test(template),
        documentedStatuses: Object.keys(operation.responses ?? {}).map(Number).filter(Number.isInteger),
      });
    }
  }
  return { routes, resolve };
}

/** The ids of one org's fixture: what a well-formed call on each route names. */
export interface OrgFixture {
  orgId: string;
  teamId: string;
  agentId: string;
  agentKey: string;
  sessionId: string;
  /** A reserved payment of the agent. */
  paymentId: string;
  /** A payment waiting for an admin's approval. */
  approvalId: string;
  webhookId: string;
  /** A failed delivery of the webhook (never attempted: the endpoint is disabled). */
  deliveryId: string;
  /** Bound to this org. */
  orgAdminKey: string;
  orgAdminName: string;
  /** An upstream MCP server only this org may use (the registry itself is root's). */
  mcpServerName: string;
  financeKey: string;
  financeName: string;
}

export const FIXTURE_TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
/**
 * A public address literal: registration checks a webhook's host for a public address, and a
 * literal needs no resolver (this machine has none for the internet). Nothing is delivered there:
 * the fixture's endpoint is disabled, and the suites allow one attempt.
 */
export const WEBHOOK_BASE = 'https://93.184.215.14/hooks';

/** The body of an answer that must have this status; throws with the answer otherwise. */
export async function ok<T>(what: string, answer: Promise<{ status: number; body: T }>, status: number): Promise<T> {
  const settled = await answer;
  if (settled.status !== status) throw new Error(`${what}: ${settled.status} ${JSON.stringify(settled.body)}`);
  return settled.body;
}

/**
 * An org with a team and an agent (named `team` and `agent` in every org, so that two orgs'
 * ids collide), an open session, a reserved payment, a payment waiting for approval (of a
 * second agent whose policy asks for one), a disabled webhook endpoint with one failed delivery, and an org admin and a finance
 * key bound to the org. The governor must know FIXTURE_TOKEN as an asset on eip155:31337.
 */
export async function seedOrgFixture(baseUrl: string, rootToken: string, orgId: string, pool: pg.Pool): Promise<OrgFixture> {
  const root = { key: rootToken };
  const agentKey = await seedAgent(baseUrl, rootToken, { orgId, teamId: 'team', agentId: 'agent' }, { org: '1000.00' });
  const session = await ok('open session', call<{ id: string }>(baseUrl, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '100.00', expiresInMinutes: 10_080 } }), 201);
  const offer = (amount: string) => paymentRequiredHeader({ amount, asset: FIXTURE_TOKEN, payTo: PAY_TO });
  const payment = await ok(
    'reserve',
    call<{ id: string }>(baseUrl, 'POST', `/v1/sessions/${session.id}/payments`, { key: agentKey, body: { paymentRequired: offer('1000'), url: `http://api.example.com/${orgId}/data` } }),
    202,
  );
  // The agent whose keys the key routes rotate and revoke, so a well-formed call of them never cuts off the fixture's agent.
  await ok('spare agent', call(baseUrl, 'POST', `/admin/v1/orgs/${orgId}/agents`, { ...root, body: { id: 'spare', name: 'spare', teamId: 'team' } }), 201);
  const approverKey = await ok('approver agent', call<{ apiKey: string }>(baseUrl, 'POST', `/admin/v1/orgs/${orgId}/agents`, { ...root, body: { id: 'approver', name: 'approver', teamId: 'team' } }), 201);
  await ok('approval policy', call(baseUrl, 'PUT', `/admin/v1/orgs/${orgId}/agents/approver/policy`, { ...root, body: { approvalAbove: '0.001' }, headers: { 'If-Match': '*' } }), 200);
  const approverSession = await ok('approver session', call<{ id: string }>(baseUrl, 'POST', '/v1/sessions', { key: approverKey.apiKey, body: { limit: '10.00', expiresInMinutes: 10_080 } }), 201);
  const approval = await ok(
    'approval',
    call<{ id: string }>(baseUrl, 'POST', `/v1/sessions/${approverSession.id}/payments`, { key: approverKey.apiKey, body: { paymentRequired: offer('10000'), url: `http://api.example.com/${orgId}/big` } }),
    202,
  );
  const webhook = await ok('webhook', call<{ id: string }>(baseUrl, 'POST', '/admin/v1/webhooks', { ...root, body: { url: `${WEBHOOK_BASE}/${orgId}`, orgId } }), 201);
  // Disabled at once: the suites need its id, not deliveries to an address this machine cannot reach.
  await ok('webhook disabled', call(baseUrl, 'PATCH', `/admin/v1/webhooks/${webhook.id}`, { ...root, body: { enabled: false } }), 200);
  // A delivery record to read and retry, written as the dispatcher would have written one that failed.
  const delivery = await pool.query<{ delivery_id: string }>(
    `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, status, attempts, next_attempt_at, last_error, created_at)
     SELECT $1, event_id, type, 'failed', 1, now(), 'fixture', now() FROM events WHERE stream_id = $2 ORDER BY global_position LIMIT 1
     RETURNING delivery_id`,
    [webhook.id, orgStreamId(orgId)],
  );
  const orgAdminName = `${orgId}-admin`;
  const financeName = `${orgId}-books`;
  const orgAdmin = await ok('org admin key', call<{ apiKey: string }>(baseUrl, 'POST', '/admin/v1/admin-keys', { ...root, body: { name: orgAdminName, scope: 'org_admin', orgId } }), 201);
  const finance = await ok('finance key', call<{ apiKey: string }>(baseUrl, 'POST', '/admin/v1/admin-keys', { ...root, body: { name: financeName, scope: 'finance', orgId } }), 201);
  const mcpServerName = `mcp-${orgId}`.toLowerCase();
  await ok('mcp server', call(baseUrl, 'POST', '/admin/v1/mcp-servers', { ...root, body: { name: mcpServerName, url: `${WEBHOOK_BASE}/mcp`, orgIds: [orgId] } }), 201);
  return {
    orgId,
    teamId: 'team',
    agentId: 'agent',
    agentKey,
    sessionId: session.id,
    paymentId: payment.id,
    approvalId: approval.id,
    webhookId: webhook.id,
    deliveryId: String(delivery.rows[0]!.delivery_id),
    orgAdminKey: orgAdmin.apiKey,
    orgAdminName,
    mcpServerName,
    financeKey: finance.apiKey,
    financeName,
  };
}

/** The id a path parameter of this route names in the fixture. */
export function pathValue(route: ApiRoute, param: string, fixture: OrgFixture): string {
  switch (param) {
    case 'orgId':
      return fixture.orgId;
    case 'teamId':
      return fixture.teamId;
    case 'agentId':
      return route.template.endsWith('/keys') ? 'spare' : fixture.agentId;
    case 'name':
      return route.template.startsWith('/admin/v1/mcp-servers/') ? fixture.mcpServerName : fixture.orgAdminName;
    case 'deliveryId':
      return fixture.deliveryId;
    case 'file':
      return 'dashboard.js';
    default:
      break;
  }
  if (route.template.startsWith('/v1/payments/') || route.template.startsWith('/admin/v1/payments/')) return fixture.paymentId;
  if (route.template.startsWith('/admin/v1/approvals/')) return fixture.approvalId;
  if (route.template.startsWith('/admin/v1/webhooks/')) return fixture.webhookId;
  // Sessions, and whatever a route added later calls its id: the session is the likeliest.
  return fixture.sessionId;
}

/** The path with every parameter filled, each value passed through `encode`. */
export function fillPath(route: ApiRoute, value: (param: string) => string): string {
  return route.template.replace(/\{([^}]+)\}/g, (_, param: string) => value(param));
}

let unique = 0;

/** A body the route accepts, for the fixture (unique ids where the route creates something). */
export function validBody(route: ApiRoute, fixture: OrgFixture, resolve: (schema: JsonSchema) => JsonSchema): unknown {
  unique += 1;
  const key = `${route.method} ${route.template}`;
  switch (key) {
    case 'POST /v1/sessions':
      return { limit: '0.50' };
    case 'POST /v1/sessions/{id}/fetch':
      // A loopback literal: refused before any connection (private addresses are denied), so a well-formed call never leaves the machine.
      return { url: 'http://127.0.0.1:9/data', method: 'GET' };
    case 'POST /v1/sessions/{id}/payments':
      return { paymentRequired: paymentRequiredHeader({ amount: '1000', asset: FIXTURE_TOKEN, payTo: PAY_TO }), url: 'http://api.example.com/data' };
    case 'POST /v1/payments/{id}/result':
      return { status: 200 };
    case 'POST /admin/v1/orgs':
      return { id: `made-${unique}`, name: 'made' };
    case 'POST /admin/v1/orgs/{orgId}/teams':
      return { id: `team-${unique}`, name: 'team' };
    case 'POST /admin/v1/orgs/{orgId}/agents':
      return { id: `agent-${unique}`, name: 'agent' };
    case 'PUT /admin/v1/orgs/{orgId}/budget':
    case 'PUT /admin/v1/orgs/{orgId}/teams/{teamId}/budget':
    case 'PUT /admin/v1/orgs/{orgId}/agents/{agentId}/budget':
      return { limit: '500.00' };
    case 'PUT /admin/v1/orgs/{orgId}/policy':
    case 'PUT /admin/v1/orgs/{orgId}/teams/{teamId}/policy':
    case 'PUT /admin/v1/orgs/{orgId}/agents/{agentId}/policy':
      return { maxPerPayment: '5.00' };
    case 'POST /admin/v1/admin-keys':
      return { name: `key-${unique}`, scope: 'finance', orgId: fixture.orgId };
    case 'POST /admin/v1/webhooks':
      return { url: `${WEBHOOK_BASE}/${unique}`, orgId: fixture.orgId };
    case 'PATCH /admin/v1/webhooks/{id}':
      return { description: `edited ${unique}` };
    case 'POST /admin/v1/webhooks/{id}/secret':
      return { overlapSeconds: 0 };
    default:
      return route.body === undefined ? undefined : exampleOf(route.body.schema, resolve);
  }
}

/** A value for a schema: its example, default or first enum value, else the simplest of its type. */
export function exampleOf(schema: JsonSchema, resolve: (schema: JsonSchema) => JsonSchema, depth = 0): unknown {
  const s = resolve(schema);
  if (s.examples?.[0] !== undefined) return s.examples[0];
  if (s.default !== undefined) return s.default;
  if (s.enum?.[0] !== undefined) return s.enum[0];
  if (s.oneOf?.[0] !== undefined) return exampleOf(s.oneOf[0], resolve, depth + 1);
  if (s.allOf !== undefined) return Object.assign({}, ...s.allOf.map((part) => exampleOf(part, resolve, depth + 1) as object));
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'object': {
      const out: Record<string, unknown> = {};
      if (depth < 5) for (const name of s.required ?? []) out[name] = exampleOf(s.properties?.[name] ?? {}, resolve, depth + 1);
      return out;
    }
    case 'array':
      return [];
    case 'integer':
    case 'number':
      return s.minimum ?? 1;
    case 'boolean':
      return true;
    case 'string':
      return 'x';
    case 'null':
    case undefined:
    default:
      return null;
  }
}

/** The headers a well-formed call of the route carries besides auth and content type. */
export function validHeaders(route: ApiRoute): [string, string][] {
  return route.headerParams.includes('If-Match') ? [['If-Match', '*']] : [];
}
