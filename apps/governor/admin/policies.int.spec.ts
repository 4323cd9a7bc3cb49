import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../http/clock.js';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';
import type { BudgetCommand } from '../../../libs/domain/budget/commands.js';
import { OrgCommandProcessor } from '../../../libs/ledger/org-command-processor.js';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';

const ROOT = 'root-admin-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const OTHER_TOKEN = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512';
const BASE_USDC = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const OTHER_PAYEE = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

describe('policies and the admin API over HTTP', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let base: string;
  const clock = new ManualClock(new Date('2026-11-25T10:00:00.000Z'));
  let orgSeq = 0;

  beforeAll(async () => {
    db = await freshDatabase('policies');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ROOT,
      PAYBOUND_SIGN_WAIT_MS: '0',
      // Base Sepolia's built-in USDC is kept only where the worker can pay on it.
      PAYBOUND_PAYABLE_NETWORKS: 'eip155:31337,eip155:84532',
      PAYBOUND_ASSETS: JSON.stringify([
        { network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' },
        { network: 'eip155:31337', address: OTHER_TOKEN, decimals: 6, symbol: 'OUSD' },
      ]),
    });
    governor = await createGovernor(config, createLogger('test', 'warn'), { clock });
    base = governor.url;
  });

  afterAll(async () => {
    await governor.close();
    await db.drop();
  });

  /** A fresh org with one agent and an open $1.00 session. */
  async function fresh(limits: { org?: string; agent?: string } = {}) {
    orgSeq += 1;
    const orgId = `org-${orgSeq}`;
    const agentId = `agent-${orgSeq}`;
    const key = await seedAgent(base, ROOT, { orgId, teamId: `team-${orgSeq}`, agentId }, { org: limits.org ?? '100.00', agent: limits.agent ?? null });
    const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key, body: { limit: '1.00', expiresInMinutes: 10_000 } });
    expect(session.status).toBe(201);
    return { orgId, agentId, teamId: `team-${orgSeq}`, key, sessionId: session.body.id };
  }

  function pay(ctx: { key: string; sessionId: string }, offer: { amount?: string; asset?: string; payTo?: string; network?: string; url?: string } = {}, method = 'GET') {
    const url = offer.url ?? 'http://api.example.com/data';
    return call<{ code?: string; limit?: string | null; requested?: string; remaining?: string | null; level?: string; id?: string }>(base, 'POST', `/v1/sessions/${ctx.sessionId}/payments`, {
      key: ctx.key,
      body: {
        paymentRequired: paymentRequiredHeader({ amount: offer.amount ?? '10000', asset: offer.asset ?? TOKEN, payTo: offer.payTo ?? PAY_TO, network: offer.network, url }),
        url,
        method,
      },
    });
  }

  /** A policy PUT; `*` (replace whatever is there) unless the test names the version it read. */
  async function putPolicy(orgId: string, path: string, policy: Record<string, unknown>, key = ROOT, ifMatch = '*') {
    return call<{ version: number; code?: string }>(base, 'PUT', `/admin/v1/orgs/${orgId}${path}/policy`, { key, body: policy, headers: { 'If-Match': ifMatch } });
  }

  async function limitExceededEvents(intentId: string) {
    const result = await db.pool.query<{ data: { code: string; level: string } }>(`SELECT data FROM events WHERE type = 'LimitExceeded' AND data->>'intentId' = $1`, [intentId]);
    return result.rows.map((r) => r.data);
  }

  // Each rule, set at the org level, and a payment it must refuse, then one it must allow.
  it.each([
    ['maxPerPayment', { maxPerPayment: '0.005' }, {}, { amount: '5000' }, 'price_above_max'],
    ['allowedDomains with a wildcard', { allowedDomains: ['*.example.org'] }, {}, { url: 'http://api.example.org/x' }, 'domain_not_allowed'],
    ['deniedDomains', { deniedDomains: ['api.example.com'] }, {}, { url: 'http://other.example.com/x' }, 'domain_not_allowed'],
    ['allowedPayees', { allowedPayees: [OTHER_PAYEE] }, {}, { payTo: OTHER_PAYEE }, 'payee_not_allowed'],
    ['deniedPayees', { deniedPayees: [PAY_TO] }, {}, { payTo: OTHER_PAYEE }, 'payee_not_allowed'],
    ['allowedNetworks', { allowedNetworks: ['eip155:31337'] }, { network: 'eip155:84532', asset: BASE_USDC }, {}, 'network_not_allowed'],
    ['allowedAssets', { allowedAssets: [OTHER_TOKEN] }, {}, { asset: OTHER_TOKEN }, 'asset_not_allowed'],
  ])('%s refuses with 403 and a LimitExceeded event, and allows what it should', async (_rule, policy, refusedOffer, allowedOffer, code) => {
    const ctx = await fresh();
    expect((await putPolicy(ctx.orgId, '', policy)).status).toBe(200);
    const refused = await pay(ctx, refusedOffer);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code, level: 'policy' });
    const paymentId = (refused.body as { paymentId: string }).paymentId;
    expect(await limitExceededEvents(paymentId)).toEqual([expect.objectContaining({ code, level: 'policy' })]);
    expect((await pay(ctx, allowedOffer)).status).toBe(202);
  });

  it('raises BudgetThresholdReached once per threshold set over HTTP, and shows the thresholds on GET', async () => {
    const ctx = await fresh();
    expect((await putPolicy(ctx.orgId, '', { budgetAlertPercents: [80, 50] })).status).toBe(200);
    const policy = await call<{ policy: { budgetAlertPercents: number[] } }>(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/policy`, { key: ROOT });
    expect(policy.body.policy.budgetAlertPercents).toEqual([80, 50]);
    // $0.30 + $0.30 crosses 50 % of the $1.00 session; $0.25 more crosses 80 %; $0.10 more crosses nothing new.
    // No worker signs here, so each accepted payment answers 202 (reserved, not signed yet).
    for (const [i, amount] of ['300000', '300000', '250000', '100000'].entries()) expect((await pay(ctx, { amount, url: `http://api.example.com/${i}` })).status).toBe(202);
    const alerts = await db.pool.query<{ data: { level: string; thresholdPercent: number; usedMicros: string } }>(
      `SELECT data FROM events WHERE type = 'BudgetThresholdReached' AND data->>'orgId' = $1 ORDER BY global_position`,
      [ctx.orgId],
    );
    expect(alerts.rows.map((r) => `${r.data.level}:${r.data.thresholdPercent}:${r.data.usedMicros}`)).toEqual(['session:50:600000', 'session:80:850000']);
    const invalid = await putPolicy(ctx.orgId, '', { budgetAlertPercents: [80, 80] });
    expect(invalid).toMatchObject({ status: 400, body: { code: 'invalid_request' } });
  });

  it('refuses pay-and-fetch to loopback and private addresses by default, before anything is reserved', async () => {
    const ctx = await fresh();
    for (const url of ['http://127.0.0.1:59999/admin', 'http://[::1]:59999/', 'http://169.254.169.254/latest/meta-data/', 'http://localhost:59999/']) {
      const refused = await call<{ code: string; field: string; paymentId?: string }>(base, 'POST', `/v1/sessions/${ctx.sessionId}/fetch`, { key: ctx.key, body: { url } });
      expect({ url, status: refused.status, code: refused.body.code, field: refused.body.field, paymentId: refused.body.paymentId }).toEqual({ url, status: 403, code: 'destination_not_allowed', field: 'url', paymentId: undefined });
    }
    expect((await db.pool.query(`SELECT 1 FROM events WHERE type IN ('Reserved', 'LimitExceeded') AND data->>'sessionId' = $1`, [ctx.sessionId])).rowCount).toBe(0);
  });

  it('answers price_above_max with the figures', async () => {
    const ctx = await fresh();
    await putPolicy(ctx.orgId, '', { maxPerPayment: '0.005' });
    const refused = await pay(ctx, { amount: '10000' });
    expect(refused.body).toMatchObject({ code: 'price_above_max', limit: '0.005', requested: '0.01', remaining: '1.00' });
  });

  it('applies the most restrictive level: an agent cap below the org cap wins, other agents keep the org cap', async () => {
    const ctx = await fresh();
    await putPolicy(ctx.orgId, '', { maxPerPayment: '1.00' });
    await putPolicy(ctx.orgId, `/agents/${ctx.agentId}`, { maxPerPayment: '0.005' });
    const refused = await pay(ctx);
    expect(refused.body).toMatchObject({ code: 'price_above_max', limit: '0.005' });
    const other = await call<{ apiKey: string }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}/agents`, { key: ROOT, body: { id: `${ctx.agentId}-b`, name: 'b' } });
    const otherSession = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: other.body.apiKey, body: { limit: '1.00' } });
    expect((await pay({ key: other.body.apiKey, sessionId: otherSession.body.id })).status).toBe(202);
    // A team policy applies to its members too.
    await putPolicy(ctx.orgId, `/teams/${ctx.teamId}`, { deniedDomains: ['api.example.com'] });
    await putPolicy(ctx.orgId, `/agents/${ctx.agentId}`, {}, ROOT, '"1"');
    expect((await pay(ctx)).body.code).toBe('domain_not_allowed');
  });

  it('limits payments per minute per agent and per session, with time from the clock', async () => {
    const ctx = await fresh();
    await putPolicy(ctx.orgId, '', { maxPaymentsPerMinutePerSession: 2 });
    expect((await pay(ctx, { url: 'http://api.example.com/1' })).status).toBe(202);
    expect((await pay(ctx, { url: 'http://api.example.com/2' })).status).toBe(202);
    expect((await pay(ctx, { url: 'http://api.example.com/3' })).body.code).toBe('rate_limited');
    clock.advance(61_000);
    expect((await pay(ctx, { url: 'http://api.example.com/4' })).status).toBe(202);

    await putPolicy(ctx.orgId, '', { maxPaymentsPerMinutePerAgent: 1 }, ROOT, '"1"');
    clock.advance(61_000);
    const second = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: ctx.key, body: { limit: '1.00', expiresInMinutes: 10_000 } });
    expect((await pay(ctx)).status).toBe(202);
    expect((await pay({ key: ctx.key, sessionId: second.body.id })).body.code).toBe('rate_limited');
  });

  it('stops a runaway agent with the loop guard after N payments; it spent exactly N × price', async () => {
    const ctx = await fresh();
    const processor = governor.app.get(OrgCommandProcessor);
    await putPolicy(ctx.orgId, '', { loopGuard: { maxPayments: 5, windowSeconds: 300 } });
    const answers = [];
    for (let i = 0; i < 20; i++) {
      const answer = await pay(ctx);
      answers.push(answer);
      if (answer.status === 202) {
        // The settlement worker's part, done here directly: sign, then settle the full price.
        const at = clock.now().toISOString();
        const steps: BudgetCommand[] = [
          { type: 'RecordSignature', orgId: ctx.orgId, actor: 'worker:test', at, intentId: answer.body.id!, scheme: 'exact', payer: PAY_TO, nonce: `0x${i}`, validAfter: at, validBefore: at },
          { type: 'Settle', orgId: ctx.orgId, actor: 'worker:test', at, intentId: answer.body.id!, amountAtomic: 10_000n, network: 'eip155:31337', transaction: `0xtx${i}`, payer: PAY_TO },
        ];
        for (const step of steps) await processor.submit(step, () => undefined);
      }
      clock.advance(1_000);
    }
    expect(answers.map((a) => a.status)).toEqual([...Array<number>(5).fill(202), ...Array<number>(15).fill(403)]);
    expect(new Set(answers.slice(5).map((a) => a.body.code))).toEqual(new Set(['loop_detected']));
    const session = await call<{ spent: string; reserved: string }>(base, 'GET', `/v1/sessions/${ctx.sessionId}`, { key: ctx.key });
    expect(session.body).toMatchObject({ spent: '0.05', reserved: '0.00' });
    // The same client calling another URL is not a loop.
    expect((await pay(ctx, { url: 'http://api.example.com/other' })).status).toBe(202);
  });

  it('starts a daily budget afresh at midnight UTC without losing history', async () => {
    const ctx = await fresh();
    const processor = governor.app.get(OrgCommandProcessor);
    const budget = await call(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}/agents/${ctx.agentId}/budget`, { key: ROOT, body: { limit: '0.02', period: 'day' } });
    expect(budget.status).toBe(200);
    clock.set(new Date('2026-11-26T23:00:00.000Z'));
    const settleNow = async (id: string) => {
      const at = clock.now().toISOString();
      await processor.submit({ type: 'RecordSignature', orgId: ctx.orgId, actor: 'worker:test', at, intentId: id, scheme: 'exact', payer: PAY_TO, nonce: `0x${id}`, validAfter: at, validBefore: at }, () => undefined);
      await processor.submit({ type: 'Settle', orgId: ctx.orgId, actor: 'worker:test', at, intentId: id, amountAtomic: 10_000n, network: 'eip155:31337', transaction: `0x${id}`, payer: PAY_TO }, () => undefined);
    };
    for (const url of ['http://api.example.com/a', 'http://api.example.com/b']) {
      const answer = await pay(ctx, { url });
      expect(answer.status).toBe(202);
      await settleNow(answer.body.id!);
    }
    const refused = await pay(ctx, { url: 'http://api.example.com/c' });
    expect(refused.body).toMatchObject({ code: 'agent_limit_exceeded', limit: '0.02', remaining: '0.00' });
    clock.set(new Date('2026-11-27T00:00:01.000Z'));
    expect((await pay(ctx, { url: 'http://api.example.com/d' })).status).toBe(202);
    // History is kept: the audit still lists both Settled events of the day before.
    const audit = await call<{ items: { type: string }[] }>(base, 'GET', `/admin/v1/audit?orgId=${ctx.orgId}&type=Settled`, { key: ROOT });
    expect(audit.body.items).toHaveLength(2);
    clock.set(new Date('2026-11-25T10:00:00.000Z'));
  });

  it('lets one of two admins win a concurrent edit; the other gets 412; the audit says who changed what', async () => {
    const ctx = await fresh();
    const alice = await call<{ apiKey: string }>(base, 'POST', '/admin/v1/admin-keys', { key: ROOT, body: { name: `alice-${ctx.orgId}`, scope: 'org_admin', orgId: ctx.orgId } });
    const bob = await call<{ apiKey: string }>(base, 'POST', '/admin/v1/admin-keys', { key: ROOT, body: { name: `bob-${ctx.orgId}`, scope: 'org_admin', orgId: ctx.orgId } });
    const seenByAlice = await call(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/policy`, { key: alice.body.apiKey });
    const seenByBob = await call(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/policy`, { key: bob.body.apiKey });
    const etag = seenByAlice.headers.get('etag')!;
    expect(etag).toBe('"0"');
    expect(seenByBob.headers.get('etag')).toBe(etag);

    const [first, second] = await Promise.all([
      putPolicy(ctx.orgId, '', { maxPerPayment: '0.50' }, alice.body.apiKey, etag),
      putPolicy(ctx.orgId, '', { maxPerPayment: '0.01' }, bob.body.apiKey, etag),
    ]);
    expect([first.status, second.status].sort()).toEqual([200, 412]);
    const loser = first.status === 412 ? first : second;
    expect(loser.body.code).toBe('policy_version_mismatch');
    const winner = first.status === 200 ? `alice-${ctx.orgId}` : `bob-${ctx.orgId}`;

    const audit = await call<{ items: { type: string; actor: string; data: { before: { maxPerPaymentMicros: string | null }; after: { maxPerPaymentMicros: string } } }[] }>(
      base,
      'GET',
      `/admin/v1/audit?orgId=${ctx.orgId}&type=PolicyChanged`,
      { key: ROOT },
    );
    expect(audit.body.items).toHaveLength(1);
    expect(audit.body.items[0]).toMatchObject({ actor: `admin:${winner}`, data: { before: { maxPerPaymentMicros: null } } });
    expect(audit.body.items[0]!.data.after.maxPerPaymentMicros).toBe(first.status === 200 ? '500000' : '10000');

    // The audit pages by cursor and filters by agent and time.
    const page1 = await call<{ items: unknown[]; next: string | null }>(base, 'GET', `/admin/v1/audit?orgId=${ctx.orgId}&limit=2`, { key: ROOT });
    expect(page1.body.items).toHaveLength(2);
    const page2 = await call<{ items: { id: string }[] }>(base, 'GET', `/admin/v1/audit?orgId=${ctx.orgId}&limit=2&after=${page1.body.next}`, { key: ROOT });
    expect(page2.body.items.length).toBeGreaterThan(0);
    const byAgent = await call<{ items: { type: string }[] }>(base, 'GET', `/admin/v1/audit?agentId=${ctx.agentId}`, { key: ROOT });
    expect(byAgent.body.items.map((i) => i.type)).toEqual(['AgentRegistered', 'AgentKeyChanged', 'SessionOpened']);
    const future = await call<{ items: unknown[] }>(base, 'GET', `/admin/v1/audit?orgId=${ctx.orgId}&from=2099-01-01T00:00:00Z`, { key: ROOT });
    expect(future.body.items).toEqual([]);
  });

  it('keeps agents apart from each other and from the admin API; revocation and rotation act at once', async () => {
    const a = await fresh();
    const b = await fresh();
    expect((await call(base, 'GET', `/v1/sessions/${b.sessionId}`, { key: a.key })).status).toBe(404);
    expect((await pay({ key: a.key, sessionId: b.sessionId })).status).toBe(404);
    const bPayment = await pay(b);
    expect((await call(base, 'GET', `/v1/payments/${bPayment.body.id}`, { key: a.key })).status).toBe(404);
    expect((await call(base, 'POST', `/v1/payments/${bPayment.body.id}/result`, { key: a.key, body: { status: 500 } })).status).toBe(404);
    const foreignStream = await fetch(`${base}/v1/sessions/${b.sessionId}/stream`, { headers: { authorization: `Bearer ${a.key}` }, signal: AbortSignal.timeout(5_000) });
    expect(foreignStream.status).toBe(404);
    await foreignStream.body?.cancel();
    const ownStream = await fetch(`${base}/v1/sessions/${b.sessionId}/stream`, { headers: { authorization: `Bearer ${b.key}` }, signal: AbortSignal.timeout(5_000) });
    expect(ownStream.status).toBe(200);
    expect(ownStream.headers.get('content-type')).toContain('text/event-stream');
    await ownStream.body?.cancel();

    const asAdmin = await call<{ code: string }>(base, 'GET', '/admin/v1/audit', { key: a.key });
    expect(asAdmin.status).toBe(403);
    expect((await call(base, 'POST', '/admin/v1/orgs', { key: a.key, body: { name: 'x' } })).status).toBe(403);
    expect((await call(base, 'GET', `/v1/sessions/${a.sessionId}`, { key: ROOT })).status).toBe(401);

    const rotated = await call<{ apiKey: string }>(base, 'POST', `/admin/v1/orgs/${a.orgId}/agents/${a.agentId}/keys`, { key: ROOT });
    expect((await call(base, 'GET', `/v1/sessions/${a.sessionId}`, { key: a.key })).status).toBe(401);
    expect((await call(base, 'GET', `/v1/sessions/${a.sessionId}`, { key: rotated.body.apiKey })).status).toBe(200);
    expect((await call(base, 'DELETE', `/admin/v1/orgs/${a.orgId}/agents/${a.agentId}/keys`, { key: ROOT })).status).toBe(200);
    const revoked = await call<{ code: string }>(base, 'GET', `/v1/sessions/${a.sessionId}`, { key: rotated.body.apiKey });
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('invalid_api_key');
  });

  it('rejects invalid policy and budget input with the field, and loses nothing', async () => {
    const ctx = await fresh();
    const cases: [string, Record<string, unknown>, string, string?][] = [
      ['/policy', { maxPerPayment: 0.05 }, 'maxPerPayment'],
      ['/policy', { allowedDomains: ['not a host'] }, 'allowedDomains.0'],
      ['/policy', { allowedPayees: ['0x123'] }, 'allowedPayees.0'],
      ['/policy', { loopGuard: { maxPayments: 0, windowSeconds: 60 } }, 'loopGuard.maxPayments'],
      // Above the 10,000 payments of history the guards look at, a count limit could never refuse.
      ['/policy', { maxPaymentsPerMinutePerAgent: 10_001 }, 'maxPaymentsPerMinutePerAgent'],
      ['/policy', { loopGuard: { maxPayments: 10_001, windowSeconds: 60 } }, 'loopGuard.maxPayments'],
      ['/policy', { allowedNetworks: ['base'] }, 'allowedNetworks.0'],
      ['/policy', { surprise: true }, ''],
      ['/budget', { limit: '-1', period: 'day' }, 'limit'],
      ['/budget', { limit: '100000000000000.00', period: 'day' }, 'limit', 'invalid_amount'],
      ['/budget', { limit: '1.00', period: 'week' }, 'period'],
    ];
    for (const [path, body, field, code = 'invalid_request'] of cases) {
      const answer = await call<{ code: string; field: string }>(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}${path}`, { key: ROOT, body });
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.code).toBe(code);
      expect(answer.body.field).toBe(field);
    }
    const badEtag = await putPolicy(ctx.orgId, '', {}, ROOT, 'v1');
    expect(badEtag.status).toBe(400);
    const policy = await call<{ version: number }>(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/policy`, { key: ROOT });
    expect(policy.body.version).toBe(0);
  });

  it('documents every route it serves in the OpenAPI document at /docs', async () => {
    const document = await call<{ paths: Record<string, Record<string, unknown>> }>(base, 'GET', '/docs/openapi.json');
    expect(document.status).toBe(200);
    const express = governor.app.getHttpAdapter().getInstance() as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } };
    const served = express.router.stack
      .flatMap((layer) => (layer.route === undefined ? [] : Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${layer.route!.path}`)))
      .filter((route) => !route.includes(' /docs'))
      .map((route) => route.replace(/:(\w+)/g, '{$1}'));
    expect(served.length).toBeGreaterThan(10);
    const documented = new Set(Object.entries(document.body.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)));
    expect(served.filter((route) => !documented.has(route))).toEqual([]);
  });

  it('holds a payment above the approval threshold for an admin; approve, deny and timeout', async () => {
    const ctx = await fresh();
    await putPolicy(ctx.orgId, '', { approvalAbove: '0.005', approvalTimeoutSeconds: 60 });
    const waiting = await pay(ctx, { url: 'http://api.example.com/1' });
    expect(waiting.status).toBe(202);
    expect(waiting.body).toMatchObject({ status: 'awaiting_approval' });
    const held = await call<{ reserved: string }>(base, 'GET', `/v1/sessions/${ctx.sessionId}`, { key: ctx.key });
    expect(held.body.reserved).toBe('0.01');

    const pending = await call<{ items: { paymentId: string; policySource: string; thresholdAmount: string; method: string; secondsLeft: number }[] }>(base, 'GET', `/admin/v1/approvals?orgId=${ctx.orgId}`, { key: ROOT });
    expect(pending.body.items.map((i) => i.paymentId)).toEqual([waiting.body.id]);
    expect(pending.body.items[0]).toMatchObject({ policySource: 'org', thresholdAmount: '0.005', method: 'GET', secondsLeft: 60 });
    expect((await call(base, 'POST', `/admin/v1/approvals/${waiting.body.id}/approve`, { key: ctx.key })).status).toBe(403);
    const approved = await call<{ status: string }>(base, 'POST', `/admin/v1/approvals/${waiting.body.id}/approve`, { key: ROOT });
    expect(approved.body.status).toBe('reserved');
    expect((await call<{ status: string }>(base, 'GET', `/v1/payments/${waiting.body.id}`, { key: ctx.key })).body.status).toBe('reserved');
    expect((await call<{ code: string }>(base, 'POST', `/admin/v1/approvals/${waiting.body.id}/deny`, { key: ROOT })).body.code).toBe('approval_already_decided');

    const toDeny = await pay(ctx, { url: 'http://api.example.com/2' });
    await call(base, 'POST', `/admin/v1/approvals/${toDeny.body.id}/deny`, { key: ROOT });
    const denied = await call<{ status: string; reason: string; refusal: { code: string } }>(base, 'GET', `/v1/payments/${toDeny.body.id}`, { key: ctx.key });
    expect(denied.body).toMatchObject({ status: 'rejected', reason: 'approval_denied', refusal: { code: 'approval_required' } });

    const forgotten = await pay(ctx, { url: 'http://api.example.com/3' });
    clock.advance(61_000);
    // The governor's background loop refuses it once the timeout has passed on its clock.
    let status = '';
    for (let i = 0; i < 50 && status !== 'rejected'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await call<{ status: string }>(base, 'GET', `/v1/payments/${forgotten.body.id}`, { key: ctx.key })).body.status;
    }
    const timedOut = await call<{ status: string; reason: string }>(base, 'GET', `/v1/payments/${forgotten.body.id}`, { key: ctx.key });
    expect(timedOut.body).toMatchObject({ status: 'rejected', reason: 'approval_timeout' });
    const session = await call<{ reserved: string }>(base, 'GET', `/v1/sessions/${ctx.sessionId}`, { key: ctx.key });
    expect(session.body.reserved).toBe('0.01');
    const audit = await call<{ items: { type: string; actor: string }[] }>(base, 'GET', `/admin/v1/audit?orgId=${ctx.orgId}&type=ApprovalGranted,ApprovalDenied`, { key: ROOT });
    expect(audit.body.items.map((i) => [i.type, i.actor])).toEqual([
      ['ApprovalGranted', 'admin:root'],
      ['ApprovalDenied', 'admin:root'],
      ['ApprovalDenied', 'system'],
    ]);
  });
});
