import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../http/clock.js';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';

// The operators' console over the admin API (issue #23): the kill switch, shadow policies and
// ETag conflicts, spend over time, payments paged and exported, and the audit hash chain.

const ROOT = 'root-admin-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('the console admin API', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let base: string;
  const clock = new ManualClock(new Date('2026-11-25T10:00:00.000Z'));
  let orgSeq = 0;

  beforeAll(async () => {
    db = await freshDatabase('console');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ROOT,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    governor = await createGovernor(config, createLogger('test', 'warn'), { clock });
    base = governor.url;
  });

  afterAll(async () => {
    await governor.close();
    await db.drop();
  });

  async function fresh() {
    orgSeq += 1;
    const ids = { orgId: `org-${orgSeq}`, teamId: `team-${orgSeq}`, agentId: `agent-${orgSeq}` };
    const key = await seedAgent(base, ROOT, ids, { org: '100.00' });
    const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key, body: { limit: '5.00', expiresInMinutes: 10_000 } });
    expect(session.status).toBe(201);
    return { ...ids, key, sessionId: session.body.id };
  }

  function pay(ctx: { key: string; sessionId: string }, amount = '10000', url = 'http://api.example.com/data') {
    return call<{ id?: string; code?: string; level?: string; status?: string; paymentId?: string }>(base, 'POST', `/v1/sessions/${ctx.sessionId}/payments`, {
      key: ctx.key,
      body: { paymentRequired: paymentRequiredHeader({ amount, asset: TOKEN, payTo: PAY_TO, url }), url, method: 'GET' },
    });
  }

  describe('the kill switch', () => {
    it.each([
      ['agent', (c: { agentId: string }) => `/agents/${c.agentId}`],
      ['team', (c: { teamId: string }) => `/teams/${c.teamId}`],
      ['org', () => ''],
    ] as const)('freezing the %s refuses its next payment and session 403 agent_frozen, records Frozen by the admin, and unfreezing lets it pay again', async (level, path) => {
      const ctx = await fresh();
      expect((await pay(ctx)).status).toBe(202);
      const frozenAt = clock.now().toISOString();
      const frozen = await call<{ level: string; frozen: boolean; reason: string; by: string; at: string }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}${path(ctx)}/freeze`, { key: ROOT, body: { reason: 'runaway loop' } });
      expect(frozen.status).toBe(200);
      expect(frozen.body).toMatchObject({ level, frozen: true, reason: 'runaway loop', by: 'admin:root', at: frozenAt });

      const refused = await pay(ctx, '10000', 'http://api.example.com/other');
      expect(refused.status).toBe(403);
      expect(refused.body).toMatchObject({ code: 'agent_frozen', level });
      const session = await call<{ code: string }>(base, 'POST', '/v1/sessions', { key: ctx.key, body: { limit: '1.00' } });
      expect(session.status).toBe(403);
      expect(session.body.code).toBe('agent_frozen');

      const events = await db.pool.query<{ data: { level: string; reason: string }; actor: string }>(`SELECT data, metadata->>'actor' AS actor FROM events WHERE type = 'Frozen' AND metadata->>'orgId' = $1`, [ctx.orgId]);
      expect(events.rows.map((row) => [row.data.level, row.data.reason, row.actor])).toEqual([[level, 'runaway loop', 'admin:root']]);
      const list = await call<{ items: { level: string; reason: string }[] }>(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/frozen`, { key: ROOT });
      expect(list.body.items).toEqual([expect.objectContaining({ level, reason: 'runaway loop', by: 'admin:root' })]);

      // Freezing again records nothing and answers the state as it is.
      clock.advance(1_000);
      const again = await call<{ reason: string; at: string }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}${path(ctx)}/freeze`, { key: ROOT, body: { reason: 'twice' } });
      expect(again.body).toMatchObject({ reason: 'runaway loop', at: frozenAt });
      expect((await db.pool.query(`SELECT 1 FROM events WHERE type = 'Frozen' AND metadata->>'orgId' = $1`, [ctx.orgId])).rowCount).toBe(1);

      const unfrozen = await call<{ frozen: boolean }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}${path(ctx)}/unfreeze`, { key: ROOT, body: { reason: 'fixed' } });
      expect(unfrozen.body).toMatchObject({ frozen: false, by: 'admin:root' });
      expect((await pay(ctx, '10000', 'http://api.example.com/third')).status).toBe(202);
    });

    it('requires a reason, and refuses agent keys', async () => {
      const ctx = await fresh();
      expect((await call<{ field: string }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}/freeze`, { key: ROOT, body: {} })).body).toMatchObject({ code: 'invalid_request' });
      expect((await call(base, 'POST', `/admin/v1/orgs/${ctx.orgId}/freeze`, { key: ROOT, body: { reason: 'x'.repeat(501) } })).status).toBe(400);
      expect((await call(base, 'POST', `/admin/v1/orgs/${ctx.orgId}/freeze`, { key: ctx.key, body: { reason: 'x' } })).status).toBe(403);
      expect((await call<{ code: string }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}/agents/nobody/freeze`, { key: ROOT, body: { reason: 'x' } })).body.code).toBe('agent_not_found');
    });
  });

  describe('policies in shadow mode', () => {
    it('count what they would refuse while payments pass, and are promoted with their own ETag', async () => {
      const ctx = await fresh();
      const shadow = await call<{ version: number; mode: string }>(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}/policy?mode=shadow`, { key: ROOT, body: { maxPerPayment: '0.005' }, headers: { 'If-Match': '"0"' } });
      expect(shadow.status).toBe(200);
      expect(shadow.headers.get('etag')).toBe('"1"');
      expect((await call<{ version: number }>(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/policy`, { key: ROOT })).body.version).toBe(0);

      expect((await pay(ctx, '10000', 'http://api.example.com/1')).status).toBe(202);
      expect((await pay(ctx, '20000', 'http://api.example.com/2')).status).toBe(202);
      expect((await pay(ctx, '1000', 'http://api.example.com/3')).status).toBe(202);
      const report = await call<{ wouldRefuseCount: number; wouldRefuseAmount: string; byCode: unknown[] }>(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/policy/shadow/report`, { key: ROOT });
      expect(report.body).toMatchObject({ wouldRefuseCount: 2, wouldRefuseAmount: '0.03', byCode: [{ code: 'price_above_max', count: 2, amount: '0.03' }] });
      // The ShadowRefusal is committed with the payment's own decision.
      const together = await db.pool.query<{ types: string[] }>(
        `SELECT array_agg(type ORDER BY global_position) AS types FROM events WHERE metadata->>'orgId' = $1 AND type IN ('Reserved', 'ShadowRefusal') GROUP BY transaction_id, metadata->>'correlationId' ORDER BY min(global_position)`,
        [ctx.orgId],
      );
      expect(together.rows.map((r) => r.types)).toEqual([['Reserved', 'ShadowRefusal'], ['Reserved', 'ShadowRefusal'], ['Reserved']]);

      const stale = await call<{ code: string; etag: string; changedBy: string; current: { mode: string; version: number } }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}/policy/shadow/promote`, { key: ROOT, headers: { 'If-Match': '"7"' } });
      expect(stale.status).toBe(412);
      expect(stale.body).toMatchObject({ code: 'policy_version_mismatch', etag: '"1"', changedBy: 'admin:root', current: { mode: 'shadow', version: 1 } });
      const promoted = await call<{ version: number; mode: string }>(base, 'POST', `/admin/v1/orgs/${ctx.orgId}/policy/shadow/promote`, { key: ROOT, headers: { 'If-Match': '"1"' } });
      expect(promoted.body).toMatchObject({ mode: 'enforce', version: 1 });
      const refused = await pay(ctx, '10000', 'http://api.example.com/4');
      expect(refused.body).toMatchObject({ code: 'price_above_max' });
      expect((await call<{ policy: unknown }>(base, 'GET', `/admin/v1/orgs/${ctx.orgId}/policy?mode=shadow`, { key: ROOT })).body.policy).toBeNull();
    });

    it("answers an edit from a stale ETag 412 with the policy now and the other admin's name and time", async () => {
      const ctx = await fresh();
      const bob = await call<{ apiKey: string }>(base, 'POST', '/admin/v1/admin-keys', { key: ROOT, body: { name: `bob-${orgSeq}`, scope: 'org_admin', orgId: ctx.orgId } });
      clock.advance(5_000);
      expect((await call(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}/policy`, { key: bob.body.apiKey, body: { maxPerPayment: '1.00' }, headers: { 'If-Match': '"0"' } })).status).toBe(200);
      const conflict = await call<{ code: string; etag: string; changedBy: string; changedAt: string; current: { policy: { maxPerPayment: string } } }>(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}/policy`, {
        key: ROOT,
        body: { maxPerPayment: '2.00' },
        headers: { 'If-Match': '"0"' },
      });
      expect(conflict.status).toBe(412);
      expect(conflict.body).toMatchObject({ code: 'policy_version_mismatch', etag: '"1"', changedBy: `admin:bob-${orgSeq}`, changedAt: clock.now().toISOString(), current: { policy: { maxPerPayment: '1.00' } } });
    });
  });

  it('draws spend and refusals per hour from the projection, with the budget', async () => {
    const ctx = await fresh();
    await call(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}/agents/${ctx.agentId}/budget`, { key: ROOT, body: { limit: '3.00', period: 'day' } });
    await call(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}/policy`, { key: ROOT, body: { maxPerPayment: '0.05', budgetAlertPercents: [80, 50] }, headers: { 'If-Match': '*' } });
    for (const i of [1, 2, 3]) expect((await pay(ctx, '20000', `http://api.example.com/s${i}?q=${i}`)).status).toBe(202);
    expect((await pay(ctx, '90000', 'http://api.example.com/big')).status).toBe(403);
    const from = '2026-11-25T00:00:00.000Z';
    const to = '2026-11-26T00:00:00.000Z';
    const agent = await call<{ series: { start: string; reserved: string; payments: number; refused: number }[]; budget: unknown }>(
      base,
      'GET',
      `/admin/v1/spend?orgId=${ctx.orgId}&agentId=${ctx.agentId}&bucket=hour&from=${from}&to=${to}`,
      { key: ROOT },
    );
    expect(agent.status).toBe(200);
    expect(agent.body.series).toHaveLength(24);
    const busy = agent.body.series.filter((point) => point.payments > 0 || point.refused > 0);
    expect(busy).toEqual([expect.objectContaining({ start: '2026-11-25T10:00:00.000Z', reserved: '0.06', payments: 3, refused: 1 })]);
    expect(agent.body.budget).toEqual({ limit: '3.00', period: 'day' });
    const endpoint = await call<{ series: { payments: number }[] }>(base, 'GET', `/admin/v1/spend?orgId=${ctx.orgId}&resource=${encodeURIComponent('http://api.example.com/s1')}&bucket=day&from=${from}&to=${to}`, { key: ROOT });
    expect(endpoint.body.series.map((p) => p.payments)).toEqual([1]);
    const org = await call<{ alertThresholds: number[] }>(base, 'GET', `/admin/v1/spend?orgId=${ctx.orgId}&bucket=day&from=${from}&to=${to}`, { key: ROOT });
    expect(org.body.alertThresholds).toEqual([50, 80]);
    const refusals = await call<{ series: { start: string; byCode: Record<string, number> }[] }>(base, 'GET', `/admin/v1/refusals?orgId=${ctx.orgId}&bucket=day&from=${from}&to=${to}`, { key: ROOT });
    expect(refusals.body.series).toEqual([{ start: from, byCode: { price_above_max: 1 } }]);
    const tooLong = await call<{ field: string }>(base, 'GET', `/admin/v1/spend?orgId=${ctx.orgId}&bucket=hour&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z`, { key: ROOT });
    expect(tooLong).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'to' } });
  });

  it('pages payments by cursor, tells one payment\'s story, and exports any range as CSV and JSON Lines', async () => {
    const ctx = await fresh();
    const ids: string[] = [];
    for (const i of [1, 2, 3]) {
      clock.advance(1_000);
      const answer = await pay(ctx, '10000', `http://api.example.com/p${i}`);
      ids.push(answer.body.id ?? '');
    }
    const first = await call<{ items: { id: string }[]; next: string }>(base, 'GET', `/admin/v1/payments?orgId=${ctx.orgId}&limit=2`, { key: ROOT });
    expect(first.body.items.map((p) => p.id)).toEqual([ids[2], ids[1]]);
    const second = await call<{ items: { id: string }[]; next: string | null }>(base, 'GET', `/admin/v1/payments?orgId=${ctx.orgId}&limit=2&cursor=${first.body.next}`, { key: ROOT });
    expect(second.body).toEqual({ items: [expect.objectContaining({ id: ids[0], teamId: ctx.teamId, agentId: ctx.agentId })], next: null });
    expect((await call(base, 'GET', `/admin/v1/payments?orgId=${ctx.orgId}&cursor=garbage`, { key: ROOT })).status).toBe(400);

    const story = await call<{ request: { method: string; url: string }; decision: { outcome: string; policyVersion: number }; offer: { chosen: { amount: string } }; events: { type: string; actor: string; hash: string }[] }>(
      base,
      'GET',
      `/admin/v1/payments/${ids[0]}`,
      { key: ROOT },
    );
    expect(story.body).toMatchObject({ request: { method: 'GET', url: 'http://api.example.com/p1' }, decision: { outcome: 'reserved', policyVersion: 0 }, offer: { chosen: { amount: '10000' } } });
    expect(story.body.events.map((e) => [e.type, e.actor, /^[0-9a-f]{64}$/.test(e.hash)])).toEqual([['Reserved', `agent:${ctx.agentId}`, true]]);
    expect((await call(base, 'GET', '/admin/v1/payments/nope', { key: ROOT })).status).toBe(404);

    const range = `from=2026-11-25T00:00:00Z&to=2026-11-26T00:00:00Z&orgId=${ctx.orgId}`;
    const csv = await fetch(`${base}/admin/v1/exports/payments?${range}&format=csv`, { headers: { authorization: `Bearer ${ROOT}` } });
    expect(csv.headers.get('content-disposition')).toMatch(/^attachment; filename="payments_org-\d+_2026-11-25_2026-11-26\.csv"$/);
    const lines = (await csv.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe('paymentId,orgId,teamId,agentId,sessionId,status,amount,amountAtomic,asset,network,payTo,resource,transaction,payer,reason,createdAt,updatedAt');
    expect(lines.slice(1).map((line) => line.split(',')[0])).toEqual(ids);
    const jsonl = await fetch(`${base}/admin/v1/exports/payments?${range}&format=jsonl`, { headers: { authorization: `Bearer ${ROOT}` } });
    const records = (await jsonl.text()).trimEnd().split('\n').map((line) => JSON.parse(line) as { paymentId: string; amount: string });
    expect(records.map((r) => [r.paymentId, r.amount])).toEqual(ids.map((id) => [id, '0.01']));
  });

  it('lists approvals with what the console shows, and approves or denies with a reason recorded', async () => {
    const ctx = await fresh();
    await call(base, 'PUT', `/admin/v1/orgs/${ctx.orgId}/teams/${ctx.teamId}/policy`, { key: ROOT, body: { approvalAbove: '0.005', approvalTimeoutSeconds: 120 }, headers: { 'If-Match': '*' } });
    const held = await pay(ctx, '10000', 'http://api.example.com/held');
    expect(held.status).toBe(202);
    clock.advance(20_000);
    const list = await call<{ items: Record<string, unknown>[] }>(base, 'GET', `/admin/v1/approvals?orgId=${ctx.orgId}`, { key: ROOT });
    expect(list.body.items).toEqual([
      expect.objectContaining({ paymentId: held.body.id, teamId: ctx.teamId, agentId: ctx.agentId, sessionId: ctx.sessionId, method: 'GET', amount: '0.01', policySource: `team:${ctx.teamId}`, thresholdAmount: '0.005', secondsLeft: 100 }),
    ]);
    const denied = await call<{ status: string }>(base, 'POST', `/admin/v1/approvals/${held.body.id}/deny`, { key: ROOT, body: { reason: 'unknown vendor' } });
    expect(denied.body.status).toBe('rejected');
    const event = await db.pool.query<{ note: string; actor: string }>(`SELECT data->>'note' AS note, metadata->>'actor' AS actor FROM events WHERE type = 'ApprovalDenied' AND data->>'intentId' = $1`, [held.body.id]);
    expect(event.rows).toEqual([{ note: 'unknown vendor', actor: 'admin:root' }]);
    expect((await call<{ items: unknown[] }>(base, 'GET', `/admin/v1/approvals?orgId=${ctx.orgId}`, { key: ROOT })).body.items).toEqual([]);
  });

  describe('the audit hash chain', () => {
    it('holds on a real log, and names the event whose row was altered by hand', async () => {
      const ctx = await fresh();
      for (const i of [1, 2]) await pay(ctx, '10000', `http://api.example.com/a${i}`);
      const intact = await call<{ ok: boolean; checked: number; firstBroken: null }>(base, 'GET', '/admin/v1/audit/verify', { key: ROOT });
      expect(intact.body.ok).toBe(true);
      expect(intact.body.checked).toBeGreaterThan(20);

      const stream = `org-${ctx.orgId}`;
      const target = await db.pool.query<{ event_id: string; stream_version: string }>(`SELECT event_id, stream_version FROM events WHERE stream_id = $1 AND type = 'Reserved' ORDER BY stream_version LIMIT 1`, [stream]);
      const victim = target.rows[0]!;
      // An insider lowers the amount of a payment in place.
      await db.pool.query(`UPDATE events SET data = jsonb_set(data, '{amountMicros}', '"1"') WHERE event_id = $1`, [victim.event_id]);
      const broken = await call<{ ok: boolean; firstBroken: { streamId: string; streamVersion: number; eventId: string; problem: string; expected: string; found: string } }>(base, 'GET', `/admin/v1/audit/verify?streamId=${stream}`, { key: ROOT });
      expect(broken.body.ok).toBe(false);
      expect(broken.body.firstBroken).toMatchObject({ streamId: stream, streamVersion: Number(victim.stream_version), eventId: victim.event_id, problem: 'hash_mismatch' });
      expect(broken.body.firstBroken.expected).not.toBe(broken.body.firstBroken.found);

      // Recomputing that row's hash to cover the edit moves the break to the next event.
      await db.pool.query(
        `UPDATE events e SET hash = paybound_event_hash((SELECT p.hash FROM events p WHERE p.stream_id = e.stream_id AND p.stream_version = e.stream_version - 1), e.stream_id, e.stream_version, e.type, e.data, e.metadata, e.occurred_at) WHERE event_id = $1`,
        [victim.event_id],
      );
      const moved = await call<{ firstBroken: { streamVersion: number } }>(base, 'GET', `/admin/v1/audit/verify?streamId=${stream}`, { key: ROOT });
      expect(moved.body.firstBroken.streamVersion).toBe(Number(victim.stream_version) + 1);

      // The command-line check says the same, and fails.
      const cli = 'dist/libs/eventstore/audit-verify-cli.js';
      expect(existsSync(cli), 'npm run build first').toBe(true);
      const run = spawnSync(process.execPath, [cli], { env: { ...process.env, DATABASE_URL: db.url }, encoding: 'utf8', timeout: 60_000 });
      expect(run.status).toBe(1);
      expect(run.stdout).toContain(`stream ${stream} version ${Number(victim.stream_version) + 1}`);
    });
  });
});
