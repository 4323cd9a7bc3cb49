import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../../apps/governor/config.js';
import { createGovernor, type RunningGovernor } from '../../apps/governor/create-governor.js';
import { createLogger } from '../../libs/platform/logger.js';
import { status, type ServiceError } from '@grpc/grpc-js';
import { STREAM_SLOT_LIMITS } from '../../apps/governor/dashboard/stream-slots.js';
import { AgentGrpcServer } from '../../apps/governor/grpc/agent-grpc-server.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { documentedRoutes, fillPath, FIXTURE_TOKEN, pathValue, seedOrgFixture, validBody, validHeaders, type ApiRoute, type JsonSchema, type OrgFixture } from '../support/api-routes.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { connectAgentClient, type GrpcAgentClient } from '../support/grpc-agent-client.js';
import { rawRequest, type RawAnswer, type RawRequest } from '../support/raw-http.js';
import { changedState, stateFingerprint } from '../support/state-fingerprint.js';

// Tenancy (#17 High 2): agent ids are unique within an org only, so every read, stream, key
// rotation and revocation is keyed by org and agent. Two orgs here have agents of the same
// name; nothing one of them does reaches the other.

const ROOT = 'root-admin-token-tenancy';
const WORKER = 'worker-token-tenancy-0123456789';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const PAYER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

describe('same-named agents in two orgs', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let base: string;

  beforeAll(async () => {
    db = await freshDatabase('tenancy_agents');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ROOT,
      PAYBOUND_WORKER_TOKEN: WORKER,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    governor = await createGovernor(config, createLogger('test', 'silent'));
    base = governor.url;
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
  });

  /** A signed payment in `demo`, as the settlement worker leaves it: the signature recorded, the header stored. */
  async function signedPayment(key: string, sessionId: string): Promise<string> {
    const offer = paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO });
    const requested = await call<{ id: string; status: string }>(base, 'POST', `/v1/sessions/${sessionId}/payments`, { key, body: { paymentRequired: offer, url: 'http://api.example.com/data' } });
    expect(requested.status).toBe(202);
    const now = Date.now();
    const signature = await call(base, 'POST', '/internal/v1/worker-commands', {
      key: WORKER,
      body: {
        type: 'RecordSignature',
        orgId: 'demo',
        at: new Date(now).toISOString(),
        intentId: requested.body.id,
        scheme: 'exact',
        payer: PAYER,
        nonce: `0x${'ab'.repeat(32)}`,
        validAfter: new Date(now - 60_000).toISOString(),
        validBefore: new Date(now + 30_000).toISOString(),
      },
    });
    expect(signature.status, JSON.stringify(signature.body)).toBe(200);
    await db.pool.query('INSERT INTO payment_signatures (intent_id, header_name, header_value) VALUES ($1, $2, $3)', [requested.body.id, 'PAYMENT-SIGNATURE', 'c2lnbmVkLWhlYWRlci1vZi1kZW1v']);
    return requested.body.id;
  }

  it('an agent demo-agent of org orgc cannot read, stream, pay from or report on org demo\'s demo-agent session and payment', async () => {
    const demoKey = await seedAgent(base, ROOT, { orgId: 'demo', agentId: 'demo-agent' }, { org: '100.00' });
    const orgcKey = await seedAgent(base, ROOT, { orgId: 'orgc', agentId: 'demo-agent' }, { org: '100.00' });
    const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: demoKey, body: { limit: '1.00' } });
    expect(session.status).toBe(201);
    const paymentId = await signedPayment(demoKey, session.body.id);

    // The owner sees both, with the signed header.
    expect((await call(base, 'GET', `/v1/sessions/${session.body.id}`, { key: demoKey })).status).toBe(200);
    const own = await call<{ header: { value: string } | null }>(base, 'GET', `/v1/payments/${paymentId}`, { key: demoKey });
    expect(own.status).toBe(200);
    expect(own.body.header?.value).toBe('c2lnbmVkLWhlYWRlci1vZi1kZW1v');

    // The namesake in the other org sees nothing, and learns nothing from the answers.
    const session404 = await call<{ code: string }>(base, 'GET', `/v1/sessions/${session.body.id}`, { key: orgcKey });
    expect([session404.status, session404.body.code]).toEqual([404, 'session_not_found']);
    const payment404 = await call<{ code: string; header?: unknown }>(base, 'GET', `/v1/payments/${paymentId}`, { key: orgcKey });
    expect([payment404.status, payment404.body.code, payment404.body.header]).toEqual([404, 'payment_not_found', undefined]);
    const stream = await fetch(`${base}/v1/sessions/${session.body.id}/stream`, { headers: { authorization: `Bearer ${orgcKey}` } });
    expect(stream.status).toBe(404);
    await stream.body?.cancel();
    const pay = await call(base, 'POST', `/v1/sessions/${session.body.id}/payments`, {
      key: orgcKey,
      body: { paymentRequired: paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO }), url: 'http://api.example.com/data' },
    });
    expect(pay.status).toBe(404);
    const report = await call(base, 'POST', `/v1/payments/${paymentId}/result`, { key: orgcKey, body: { status: 500 } });
    expect(report.status).toBe(404);
    // And the payment is as it was.
    expect((await call<{ status: string }>(base, 'GET', `/v1/payments/${paymentId}`, { key: demoKey })).body.status).toBe('signed');
  });

  it('revoking org orgd\'s agentb keys leaves org orgb\'s agentb working; rotating them too', async () => {
    const orgbKey = await seedAgent(base, ROOT, { orgId: 'orgb', agentId: 'agentb' }, { org: '100.00' });
    const orgdKey = await seedAgent(base, ROOT, { orgId: 'orgd', agentId: 'agentb' }, { org: '100.00' });
    const revoked = await call<{ revoked: number }>(base, 'DELETE', '/admin/v1/orgs/orgd/agents/agentb/keys', { key: ROOT });
    expect([revoked.status, revoked.body.revoked]).toEqual([200, 1]);
    expect((await call(base, 'POST', '/v1/sessions', { key: orgdKey, body: { limit: '1.00' } })).status).toBe(401);
    expect((await call(base, 'POST', '/v1/sessions', { key: orgbKey, body: { limit: '1.00' } })).status).toBe(201);

    const rotated = await call<{ apiKey: string }>(base, 'POST', '/admin/v1/orgs/orgd/agents/agentb/keys', { key: ROOT });
    expect(rotated.status).toBe(201);
    expect((await call(base, 'POST', '/v1/sessions', { key: orgbKey, body: { limit: '1.00' } })).status).toBe(201);
    const opened = await call<{ agentId: string }>(base, 'POST', '/v1/sessions', { key: rotated.body.apiKey, body: { limit: '1.00' } });
    expect(opened.status).toBe(201);
    // The new key acts for orgd's agentb: its session is not visible to orgb's namesake.
    expect((await call(base, 'GET', `/v1/sessions/${(opened.body as { id?: string }).id}`, { key: orgbKey })).status).toBe(404);
  });
});

// Every route of the OpenAPI document, called by one org's agent and admin keys on the
// other org's resources. Both orgs have a team `team` and an agent `agent`, so only the org
// tells them apart. A cross-tenant call must be refused (403 or 404) and change nothing; an
// answer that is allowed (a list of one's own org) must carry nothing of the other org.
describe('tenancy over every documented route: two orgs with the same team and agent ids', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let base: string;
  let grpc: GrpcAgentClient;
  let routes: ApiRoute[];
  let resolve: (s: JsonSchema) => JsonSchema;
  let a: OrgFixture;
  let b: OrgFixture;

  beforeAll(async () => {
    db = await freshDatabase('tenancy_routes');
    process.env.GRPC_PORT = '0';
    try {
      governor = await createGovernor(
        loadGovernorConfig({
          DATABASE_URL: db.url,
          PORT: '0',
          PAYBOUND_ADMIN_TOKEN: ROOT,
          PAYBOUND_WORKER_TOKEN: WORKER,
          PAYBOUND_SIGN_WAIT_MS: '0',
          PAYBOUND_WEBHOOK_MAX_ATTEMPTS: '1',
          PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: FIXTURE_TOKEN, decimals: 6, symbol: 'TUSD' }]),
        }),
        createLogger('test', 'silent'),
      );
    } finally {
      delete process.env.GRPC_PORT;
    }
    base = governor.url;
    a = await seedOrgFixture(base, ROOT, 'tenant-a', db.pool);
    b = await seedOrgFixture(base, ROOT, 'tenant-b', db.pool);
    const grpcPort = governor.app.get(AgentGrpcServer).port;
    if (grpcPort === undefined) throw new Error('the gRPC server did not start');
    grpc = connectAgentClient(grpcPort, () => b.agentKey);
    ({ routes, resolve } = await documentedRoutes(base));
  });

  afterAll(async () => {
    grpc?.close();
    await governor?.close();
    await db?.drop();
  });

  /** What of org A an answer must not show unless the request itself carried it. */
  function secretsOfA(): string[] {
    return [a.orgId, a.sessionId, a.paymentId, a.approvalId, a.webhookId, a.agentKey, a.orgAdminKey, a.financeKey, a.orgAdminName, a.financeName, `/${a.orgId}/data`];
  }

  function leaks(request: RawRequest, answer: RawAnswer): string[] {
    const asked = `${request.target} ${request.body?.toString() ?? ''}`;
    const text = answer.body.toString('utf8');
    return secretsOfA().filter((secret) => !asked.includes(secret) && text.includes(secret));
  }

  function request(route: ApiRoute, target: OrgFixture, key: string): RawRequest {
    const body = validBody(route, target, resolve);
    return {
      method: route.method,
      target: fillPath(route, (param) => encodeURIComponent(pathValue(route, param, target))),
      headers: [['Authorization', `Bearer ${key}`], ...validHeaders(route), ...(body === undefined ? [] : ([['Content-Type', 'application/json']] as [string, string][]))],
      body: body === undefined ? undefined : JSON.stringify(body),
      timeoutMs: 10_000,
    };
  }

  it('every agent and admin route, called with the other org\'s keys on this org\'s ids, is refused, changes nothing and leaks nothing', async () => {
    const tenantRoutes = routes.filter((r) => r.audience === 'agent' || r.audience === 'admin');
    // The owner's side first: with org A's keys (or root for what spans orgs) the same ids are found, so a refusal below is tenancy and not a wrong id.
    for (const route of tenantRoutes.filter((r) => r.method === 'GET' && r.pathParams.length > 0)) {
      const owner = request(route, a, route.audience === 'agent' ? a.agentKey : ROOT);
      const answer = await rawRequest(base, owner);
      expect(answer.status, `${route.method} ${route.template} as its owner: ${answer.body.toString('utf8').slice(0, 200)}`).toBeLessThan(300);
    }

    const before = await stateFingerprint(db.pool);
    const failures: string[] = [];
    const outcomes = new Map<string, number>();
    let calls = 0;
    let successes = 0;
    for (const route of tenantRoutes) {
      const keys = route.audience === 'agent' ? [['agent', b.agentKey]] : [['org_admin', b.orgAdminKey], ['finance', b.financeKey]];
      for (const [who, key] of keys as [string, string][]) {
        // Routes that name no id of A act on the caller's own org: calling them is not crossing tenants, unless a body names A.
        const namesA = route.pathParams.length > 0 || (route.method !== 'GET' && route.audience === 'admin');
        // An agent opening its own session crosses no tenant (and would change the state this test compares).
        if (!namesA && route.method !== 'GET') continue;
        const sent = request(route, a, key);
        const answer = await rawRequest(base, sent);
        calls += 1;
        const label = `${who} of ${b.orgId}: ${route.method} ${sent.target}`;
        const code = typeof answer.json?.code === 'string' ? answer.json.code : '';
        outcomes.set(`${answer.status} ${code}`, (outcomes.get(`${answer.status} ${code}`) ?? 0) + 1);
        if (namesA && answer.status < 400) {
          successes += 1;
          failures.push(`${label}: ${answer.status}, an unexpected success`);
        }
        if (namesA && ![403, 404].includes(answer.status)) failures.push(`${label}: ${answer.status} ${code}, not 403 or 404`);
        if (answer.status >= 500) failures.push(`${label}: ${answer.status}`);
        for (const leaked of leaks(sent, answer)) failures.push(`${label}: the answer shows ${leaked}`);
      }
      // A query naming org A on a list: refused, or answered with nothing of A.
      if (route.audience === 'admin' && route.method === 'GET' && route.queryParams.includes('orgId')) {
        const sent = { ...request(route, b, b.orgAdminKey), target: `${fillPath(route, (p) => pathValue(route, p, b))}?orgId=${a.orgId}` };
        const answer = await rawRequest(base, sent);
        calls += 1;
        if (answer.status < 400) {
          successes += 1;
          failures.push(`org_admin of ${b.orgId}: GET ${sent.target}: ${answer.status}, an unexpected success`);
        }
        for (const leaked of leaks(sent, answer)) failures.push(`GET ${sent.target}: the answer shows ${leaked}`);
      }
    }
    console.log(
      `[tenancy] ${calls} cross-tenant calls over ${tenantRoutes.length} routes: ${successes} successes; outcomes ${[...outcomes].map(([k, n]) => `${k}×${n}`).join(', ')}`,
    );
    expect(failures).toEqual([]);
    expect(changedState(before, await stateFingerprint(db.pool))).toEqual([]);
    // Org A still works with its own keys.
    expect((await call(base, 'GET', `/v1/sessions/${a.sessionId}`, { key: a.agentKey })).status).toBe(200);
    expect((await call(base, 'GET', `/admin/v1/orgs/${a.orgId}/policy`, { key: a.orgAdminKey })).status).toBe(200);
  });

  it('gRPC: org B\'s agent can neither get, pay from, report on nor watch org A\'s session and payment', async () => {
    const refusal = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e as ServiceError,
      );
      return error === undefined ? 'answered' : `${error.code} ${String(error.metadata.get('paybound-code')[0])}`;
    };
    const offer = paymentRequiredHeader({ amount: '1000', asset: FIXTURE_TOKEN, payTo: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' });
    expect(await refusal(grpc.unary('getSession', { sessionId: a.sessionId }))).toBe(`${status.NOT_FOUND} session_not_found`);
    expect(await refusal(grpc.unary('requestPayment', { sessionId: a.sessionId, paymentRequired: offer, url: 'http://api.example.com/x' }))).toBe(`${status.NOT_FOUND} session_not_found`);
    expect(await refusal(grpc.unary('reportResult', { paymentId: a.paymentId, httpStatus: 500 }))).toBe(`${status.NOT_FOUND} payment_not_found`);
    const watch = grpc.watchSession<unknown>({ sessionId: a.sessionId, maxDurationSeconds: 5 });
    const watched: unknown[] = [];
    watch.on('data', (m: unknown) => watched.push(m));
    const watchError = await new Promise<ServiceError | undefined>((done) => {
      watch.on('error', done);
      watch.on('end', () => done(undefined));
    });
    expect([watchError?.code, watched]).toEqual([status.NOT_FOUND, []]);
    // The owner, over the same server, is answered.
    const own = await grpc.unary<{ session: { id: string } }>('getSession', { sessionId: a.sessionId }, a.agentKey);
    expect(own.session.id).toBe(a.sessionId);
  });

  it('the admin event stream of org B\'s admin carries B\'s events and never A\'s; root\'s carries both', async () => {
    const streamB = await openEventStream(base, '/admin/v1/stream?backlog=500', b.orgAdminKey);
    const streamRoot = await openEventStream(base, '/admin/v1/stream?backlog=0', ROOT);
    try {
      const inA = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: a.agentKey, body: { limit: '0.10' } });
      const inB = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: b.agentKey, body: { limit: '0.10' } });
      expect([inA.status, inB.status]).toEqual([201, 201]);
      await streamRoot.until((text) => text.includes(inA.body.id) && text.includes(inB.body.id));
      await streamB.until((text) => text.includes(inB.body.id));
      const seenByB = streamB.text();
      expect(secretsOfA().filter((secret) => seenByB.includes(secret))).toEqual([]);
      expect(seenByB.includes(inA.body.id)).toBe(false);
    } finally {
      streamB.close();
      streamRoot.close();
    }
  });

  it('streams: one agent holding its share of event streams locks out neither the other org nor the admins', async () => {
    const held: EventStreamReader[] = [];
    try {
      for (let i = 0; i < STREAM_SLOT_LIMITS.perPrincipal; i++) held.push(await openEventStream(base, `/v1/sessions/${a.sessionId}/stream`, a.agentKey));
      const refused = await rawRequest(base, { method: 'GET', target: `/v1/sessions/${a.sessionId}/stream`, headers: [['Authorization', `Bearer ${a.agentKey}`]] });
      expect([refused.status, refused.json?.code, refused.header('retry-after')]).toEqual([503, 'too_many_streams', '1']);
      held.push(await openEventStream(base, `/v1/sessions/${b.sessionId}/stream`, b.agentKey));
      held.push(await openEventStream(base, '/admin/v1/stream?backlog=0', b.orgAdminKey));
      held.push(await openEventStream(base, '/admin/v1/stream?backlog=0', ROOT));
    } finally {
      for (const stream of held) stream.close();
    }
  });

  it('keys: org B\'s admin can neither rotate nor revoke org A\'s agent or admin keys; revoking B\'s admin key ends B\'s stream, not A\'s', async () => {
    const attempts: [string, string][] = [
      ['POST', `/admin/v1/orgs/${a.orgId}/agents/agent/keys`],
      ['DELETE', `/admin/v1/orgs/${a.orgId}/agents/agent/keys`],
      ['DELETE', `/admin/v1/admin-keys/${a.orgAdminName}`],
      ['DELETE', `/admin/v1/admin-keys/${a.financeName}`],
      ['POST', `/admin/v1/webhooks/${a.webhookId}/secret`],
    ];
    for (const [method, target] of attempts) {
      const answer = await call<{ code?: string }>(base, method, target, { key: b.orgAdminKey, body: method === 'POST' && target.endsWith('/secret') ? { overlapSeconds: 0 } : undefined });
      expect([403, 404], `${method} ${target}: ${answer.status} ${JSON.stringify(answer.body)}`).toContain(answer.status);
    }
    // A's keys all still work.
    expect((await call(base, 'POST', '/v1/sessions', { key: a.agentKey, body: { limit: '0.10' } })).status).toBe(201);
    expect((await call(base, 'GET', `/admin/v1/orgs/${a.orgId}/policy`, { key: a.orgAdminKey })).status).toBe(200);
    expect((await call(base, 'GET', '/admin/v1/audit', { key: a.financeKey })).status).toBe(200);

    // Root revokes B's org admin key: B's open stream ends, A's goes on.
    const streamA = await openEventStream(base, '/admin/v1/stream?backlog=0', a.orgAdminKey);
    const streamB = await openEventStream(base, '/admin/v1/stream?backlog=0', b.orgAdminKey);
    try {
      expect((await call(base, 'DELETE', `/admin/v1/admin-keys/${b.orgAdminName}`, { key: ROOT })).status).toBe(200);
      await streamB.ended();
      const later = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: a.agentKey, body: { limit: '0.10' } });
      await streamA.until((text) => text.includes(later.body.id));
      expect(streamA.isEnded()).toBe(false);
      // A revoked key is no admin key at all.
      expect((await call(base, 'GET', '/admin/v1/audit', { key: b.orgAdminKey })).status).toBe(403);
      expect((await call(base, 'GET', '/admin/v1/audit', { key: a.orgAdminKey })).status).toBe(200);
    } finally {
      streamA.close();
      streamB.close();
    }
  });
});

interface EventStreamReader {
  text(): string;
  until(predicate: (text: string) => boolean, timeoutMs?: number): Promise<void>;
  ended(timeoutMs?: number): Promise<void>;
  isEnded(): boolean;
  close(): void;
}

/** An open Server-Sent Events stream, read into one growing text. */
async function openEventStream(base: string, target: string, key: string): Promise<EventStreamReader> {
  const controller = new AbortController();
  const response = await fetch(`${base}${target}`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
  if (response.status !== 200 || response.body === null) throw new Error(`${target}: ${response.status} ${await response.text()}`);
  let text = '';
  let ended = false;
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const pump = (async () => {
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) break;
        const value: Uint8Array = chunk.value;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // Closed by us.
    }
    ended = true;
  })();
  const waitFor = async (condition: () => boolean, what: string, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`${target}: ${what} within ${timeoutMs} ms; read so far: ${text.slice(-500)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    text: () => text,
    until: (predicate, timeoutMs = 10_000) => waitFor(() => predicate(text), 'the expected events', timeoutMs),
    ended: (timeoutMs = 10_000) => waitFor(() => ended, 'the end of the stream', timeoutMs),
    isEnded: () => ended,
    close: () => {
      controller.abort();
      void pump;
    },
  };
}
