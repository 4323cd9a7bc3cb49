import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from '../../libs/webhooks/signature.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { DataKeys } from '../../libs/platform/data-keys.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { sampleValue, scrape } from '../support/prometheus.js';
import { eventually, WebhookReceiver, type ReceivedRequest } from '../support/webhook-receiver.js';

const ADMIN = 'test-admin-token-webhooks';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const TIMEOUT_MS = 3_000;
const THRESHOLD_TYPE = 'paybound.budget_threshold_reached.v1';

interface Endpoint {
  id: string;
  url: string;
  eventTypes: string[];
  orgId: string | null;
  enabled: boolean;
  secret: string;
}

interface Delivery {
  id: string;
  eventId: string;
  eventType: string;
  status: string;
  attempts: number;
  lastHttpStatus: number | null;
  lastError: string | null;
  deliveredAt: string | null;
}

interface DeliveryDetail extends Delivery {
  attemptHistory: { attempt: number; httpStatus: number | null; error: string | null; durationMs: number }[];
}

describe('webhooks: alerts delivered signed, once per endpoint, retried, never in the way of decisions', () => {
  let db: TestDatabase;
  // Two governors on one database: both dispatch and send, and still each event goes once per endpoint.
  let governor: GovernorProcess;
  let second: GovernorProcess;
  let receiver: WebhookReceiver;
  let orgSeq = 0;

  let keyDir: string;

  beforeAll(async () => {
    db = await freshDatabase('webhooks');
    // Secrets are sealed at rest with this data key, as `npm start` does with its own.
    keyDir = await mkdtemp(join(tmpdir(), 'paybound-data-key-'));
    await writeFile(join(keyDir, 'data-key'), DataKeys.generate('test1'), { mode: 0o600 });
    const env = {
      PAYBOUND_DATA_KEY_FILE: join(keyDir, 'data-key'),
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      // The test reads the webhook counters from /metrics.
      PAYBOUND_METRICS_OPEN: 'true',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
      PAYBOUND_WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
      PAYBOUND_WEBHOOK_RETRY_BASE_MS: '100',
      PAYBOUND_WEBHOOK_RETRY_MAX_MS: '400',
      PAYBOUND_WEBHOOK_MAX_ATTEMPTS: '100',
    };
    [governor, second] = await Promise.all([spawnGovernor(env), spawnGovernor(env)]);
    receiver = await WebhookReceiver.start();
  });

  afterAll(async () => {
    await receiver?.down();
    await second?.stop();
    await governor?.stop();
    await db?.drop();
    await rm(keyDir, { recursive: true, force: true });
  });

  const admin = <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => call<T>(governor.url, method, path, { key: ADMIN, body });

  async function createEndpoint(body: Record<string, unknown>): Promise<Endpoint> {
    const created = await admin<Endpoint>('POST', '/admin/v1/webhooks', body);
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    return created.body;
  }

  /** A fresh org whose org policy alerts at 50 % and 80 %, with a $1.00 session. */
  async function freshOrg() {
    orgSeq += 1;
    const orgId = `org-${orgSeq}`;
    const key = await seedAgent(governor.url, ADMIN, { orgId, agentId: `agent-${orgSeq}` }, { org: '100.00' });
    expect((await call(governor.url, 'PUT', `/admin/v1/orgs/${orgId}/policy`, { key: ADMIN, body: { budgetAlertPercents: [50, 80] }, headers: { 'If-Match': '*' } })).status).toBe(200);
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: '1.00', expiresInMinutes: 600 } });
    expect(session.status).toBe(201);
    return { orgId, key, sessionId: session.body.id };
  }

  /** A sign-only payment (no worker: 202, reserved); alternates between the governors. */
  let payments = 0;
  function pay(ctx: { key: string; sessionId: string }, amountAtomic: string) {
    payments += 1;
    const url = `http://api.example.com/data/${payments}`;
    const base = payments % 2 === 0 ? governor.url : second.url;
    return call<{ id: string; status: string }>(base, 'POST', `/v1/sessions/${ctx.sessionId}/payments`, {
      key: ctx.key,
      body: { paymentRequired: paymentRequiredHeader({ amount: amountAtomic, asset: TOKEN, payTo: PAY_TO, url }), url },
    });
  }

  /** $0.30 + $0.30 crosses 50 %, $0.25 more crosses 80 %, $0.10 more crosses nothing new. */
  const AMOUNTS = ['300000', '300000', '250000', '100000'];

  async function deliveries(endpointId: string): Promise<Delivery[]> {
    const page = await admin<{ items: Delivery[]; next: string | null }>('GET', `/admin/v1/webhooks/${endpointId}/deliveries?limit=100`);
    expect(page.status).toBe(200);
    return page.body.items;
  }

  /** Once the dispatcher has read the whole log and nothing is pending, nothing more can arrive. */
  async function settled(): Promise<void> {
    await eventually('the dispatcher at the end of the log and no delivery pending', async () => {
      const behind = await db.pool.query<{ behind: string; pending: string }>(
        `SELECT (SELECT count(*) FROM events e, subscription_checkpoints c WHERE c.name = 'webhook-dispatcher'
                   AND (e.transaction_id, e.global_position) > (c.transaction_id, c.global_position)) AS behind,
                (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS pending`,
      );
      const row = behind.rows[0]!;
      return row.behind === '0' && row.pending === '0' ? true : undefined;
    });
  }

  function thresholds(requests: ReceivedRequest[]): string[] {
    return requests.map((r) => `${(r.envelope.data as { level: string }).level}:${(r.envelope.data as { thresholdPercent: number }).thresholdPercent}`).sort();
  }

  it('delivers each threshold once per endpoint, signed with that endpoint\'s secret; an org scope keeps other orgs out', async () => {
    const ctx = await freshOrg();
    const other = await freshOrg();
    const scoped = await createEndpoint({ url: `${receiver.url}/scoped`, orgId: ctx.orgId, description: 'finance alerts' });
    const unscoped = await createEndpoint({ url: `${receiver.url}/all`, eventTypes: ['BudgetThresholdReached'] });
    const otherOrg = await createEndpoint({ url: `${receiver.url}/other`, orgId: other.orgId });
    expect(scoped).toMatchObject({ orgId: ctx.orgId, eventTypes: ['BudgetThresholdReached', 'WalletLowBalance', 'WalletBalanceRestored'], enabled: true });
    expect(scoped.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(unscoped.secret).not.toBe(scoped.secret);

    for (const amount of AMOUNTS) expect((await pay(ctx, amount)).status).toBe(202);
    // The other org crosses 50 % too: only its own endpoint and the unscoped one get that.
    expect((await pay(other, '600000')).status).toBe(202);
    await eventually('the thresholds at every endpoint', () => (receiver.accepted('/scoped').length >= 2 && receiver.accepted('/all').length >= 3 && receiver.accepted('/other').length >= 1 ? true : undefined));
    await settled();

    const alerts = await db.pool.query<{ event_id: string }>(`SELECT event_id FROM events WHERE type = 'BudgetThresholdReached' AND metadata->>'orgId' = $1 ORDER BY global_position`, [ctx.orgId]);
    expect(alerts.rows).toHaveLength(2);
    const alertIds = alerts.rows.map((r) => r.event_id).sort();
    const otherAlert = await db.pool.query<{ event_id: string }>(`SELECT event_id FROM events WHERE type = 'BudgetThresholdReached' AND metadata->>'orgId' = $1`, [other.orgId]);
    expect(otherAlert.rows).toHaveLength(1);
    expect(receiver.onPath('/other').map((r) => r.envelope.id)).toEqual([otherAlert.rows[0]!.event_id]);
    expect(receiver.onPath('/all').map((r) => r.envelope.id).sort()).toEqual([...alertIds, otherAlert.rows[0]!.event_id].sort());
    for (const [path, endpoint, wrong] of [['/scoped', scoped, unscoped], ['/all', unscoped, scoped]] as const) {
      // Every request was answered 200 at once, so there is no retry either: exactly one request per event.
      const got = receiver.onPath(path).filter((r) => r.envelope.orgid === ctx.orgId);
      expect(got).toHaveLength(receiver.onPath(path).length - (path === '/all' ? 1 : 0));
      expect(got.map((r) => r.envelope.id).sort()).toEqual(alertIds);
      expect(thresholds(got)).toEqual(['session:50', 'session:80']);
      for (const request of got) {
        const header = request.headers['paybound-signature'] as string;
        const check = (secret: string) => verifyWebhookSignature({ header, rawBody: request.rawBody, secret, nowMs: Date.now() });
        expect(check(endpoint.secret)).toBe('ok');
        expect(check(wrong.secret)).toBe('signature_mismatch');
        expect(verifyWebhookSignature({ header, rawBody: request.rawBody.replace('"thresholdPercent":', '"thresholdPercent": '), secret: endpoint.secret, nowMs: Date.now() })).toBe('signature_mismatch');
        expect(request.headers['paybound-webhook-id']).toBe(request.envelope.id);
        expect(header.startsWith(`t=${String(request.headers['paybound-webhook-timestamp'])},v1=`)).toBe(true);
        expect(request.headers['paybound-webhook-attempt']).toBe('1');
        expect(request.headers['content-type']).toBe('application/cloudevents+json; charset=utf-8');
        expect(request.envelope).toMatchObject({ specversion: '1.0', type: THRESHOLD_TYPE, orgid: ctx.orgId, data: { orgId: ctx.orgId, level: 'session', limitMicros: '1000000' } });
      }
    }
    expect((await deliveries(otherOrg.id)).map((d) => d.eventId)).toEqual([otherAlert.rows[0]!.event_id]);

    const recorded = (await deliveries(scoped.id)).sort((a, b) => (a.eventId < b.eventId ? -1 : 1));
    expect(recorded.map((d) => ({ eventId: d.eventId, status: d.status, attempts: d.attempts, lastHttpStatus: d.lastHttpStatus }))).toEqual(
      alertIds.map((eventId) => ({ eventId, status: 'delivered', attempts: 1, lastHttpStatus: 200 })),
    );
    const shown = await admin<{ deliveries: Record<string, number> }>('GET', `/admin/v1/webhooks/${scoped.id}`);
    expect(shown.body).toMatchObject({ id: scoped.id, description: 'finance alerts', deliveries: { pending: 0, delivered: 2, failed: 0 } });
    // The secret was shown once: no later answer carries it.
    const listed = await admin('GET', '/admin/v1/webhooks');
    for (const answer of [shown, listed, await admin('GET', `/admin/v1/webhooks/${scoped.id}/deliveries`)]) {
      expect(JSON.stringify(answer.body)).not.toContain(scoped.secret);
      expect(JSON.stringify(answer.body)).not.toContain('whsec_');
    }
    expect(governor.output() + second.output()).not.toContain('whsec_');
    // Nor does the table: the secret is sealed, with its key's id beside it.
    const stored = await db.pool.query<{ secret: string; secret_key_id: string | null }>('SELECT secret, secret_key_id FROM webhook_endpoints WHERE endpoint_id = ANY($1::text[])', [[scoped.id, unscoped.id]]);
    expect(stored.rows.map((r) => r.secret_key_id)).toEqual(['test1', 'test1']);
    for (const row of stored.rows) expect(row.secret).not.toContain('whsec_');
  });

  it('keeps trying an endpoint that is down, then refusing with 503, and delivers everything once it recovers', async () => {
    const down = await WebhookReceiver.start({ down: true });
    // Attempts counted by both governors' metrics, beside what the tables recorded.
    const attemptCounts = async () => {
      const scrapes = await Promise.all([governor, second].map((g) => scrape(`${g.url}/metrics`)));
      const sum = (result: string) => scrapes.reduce((total, samples) => total + sampleValue(samples, 'paybound_webhook_attempts_total', { result }), 0);
      const recorded = await db.pool.query<{ attempts: string; delivered: string; failed: string }>(
        `SELECT (SELECT count(*) FROM webhook_attempts) AS attempts, (SELECT count(*) FROM webhook_deliveries WHERE status = 'delivered') AS delivered,
                (SELECT count(*) FROM webhook_deliveries WHERE status = 'failed') AS failed`,
      );
      const row = recorded.rows[0]!;
      return { delivered: sum('delivered'), retrying: sum('retrying'), failed: sum('failed'), recordedAttempts: Number(row.attempts), recordedDelivered: Number(row.delivered), recordedFailed: Number(row.failed) };
    };
    try {
      await settled();
      const countsBefore = await attemptCounts();
      const ctx = await freshOrg();
      const endpoint = await createEndpoint({ url: `${down.url}/hook`, orgId: ctx.orgId });
      for (const amount of AMOUNTS) expect((await pay(ctx, amount)).status).toBe(202);

      await eventually('attempts against a closed port', async () => {
        const list = await deliveries(endpoint.id);
        return list.length === 2 && list.every((d) => d.status === 'pending' && d.attempts >= 2 && (d.lastError ?? '').includes('ECONNREFUSED')) ? list : undefined;
      });
      down.mode = 'unavailable';
      await down.up();
      await eventually('attempts answered 503', async () => {
        const list = await deliveries(endpoint.id);
        return list.every((d) => d.lastHttpStatus === 503) ? list : undefined;
      });
      const refusedRequests = down.onPath('/hook').length;
      expect(refusedRequests).toBeGreaterThanOrEqual(2);

      const recoveredAtMs = Date.now();
      down.mode = 'ok';
      await eventually('both thresholds delivered after recovery', () => (down.accepted('/hook').length >= 2 ? true : undefined));
      const msToDelivery = down.accepted('/hook').map((r) => r.receivedAtMs - recoveredAtMs);
      await settled();

      // Retries carry the same event id: deduped, each threshold arrived once.
      const accepted = down.accepted('/hook');
      expect(accepted).toHaveLength(2);
      expect(new Set(accepted.map((r) => r.headers['paybound-webhook-id'])).size).toBe(2);
      expect(thresholds(accepted)).toEqual(['session:50', 'session:80']);
      for (const request of down.onPath('/hook')) {
        expect(verifyWebhookSignature({ header: request.headers['paybound-signature'] as string, rawBody: request.rawBody, secret: endpoint.secret, nowMs: Date.now() })).toBe('ok');
      }
      const list = await deliveries(endpoint.id);
      expect(list.map((d) => d.status)).toEqual(['delivered', 'delivered']);
      for (const d of list) expect(d.attempts).toBeGreaterThan(2);
      const detail = await admin<DeliveryDetail>('GET', `/admin/v1/webhooks/${endpoint.id}/deliveries/${list[0]!.id}`);
      const history = detail.body.attemptHistory;
      expect(history).toHaveLength(detail.body.attempts);
      expect(history.map((a) => a.attempt)).toEqual(history.map((_, i) => i + 1));
      expect(history[0]).toMatchObject({ httpStatus: null, error: expect.stringContaining('ECONNREFUSED') as unknown });
      expect(history.some((a) => a.httpStatus === 503)).toBe(true);
      expect(history.at(-1)).toMatchObject({ httpStatus: 200, error: null });
      const lastRequest = accepted.find((r) => r.envelope.id === detail.body.eventId)!;
      expect(lastRequest.headers['paybound-webhook-attempt']).toBe(String(detail.body.attempts));
      // The metrics saw the attempts the tables recorded meanwhile (this endpoint's, and the
      // earlier tests' endpoints without an org scope): each delivered once, the rest retried.
      const countsAfter = await attemptCounts();
      const moved = (key: keyof typeof countsAfter) => countsAfter[key] - countsBefore[key];
      expect(moved('recordedDelivered')).toBeGreaterThanOrEqual(2);
      expect({ delivered: moved('delivered'), attempts: moved('delivered') + moved('retrying') + moved('failed'), failed: moved('failed') }).toEqual({
        delivered: moved('recordedDelivered'),
        attempts: moved('recordedAttempts'),
        failed: moved('recordedFailed'),
      });
      expect(moved('retrying')).toBeGreaterThanOrEqual(list.reduce((total, d) => total + d.attempts - 1, 0));
      console.log(
        `webhooks: receiver down then 503: attempts per delivery ${list.map((d) => d.attempts).join(', ')}; ${refusedRequests} requests refused with 503; delivered ${msToDelivery.join(' and ')} ms after recovery`,
      );
    } finally {
      await down.down();
    }
  });

  it('answers payments while the receiver holds its requests open and while the webhook tables are locked', async () => {
    const hanging = await WebhookReceiver.start();
    hanging.mode = 'hang';
    try {
      const ctx = await freshOrg();
      const endpoint = await createEndpoint({ url: `${hanging.url}/hook`, orgId: ctx.orgId });
      // The first two payments cross 50 %: its delivery goes out and is held open by the receiver.
      for (const amount of AMOUNTS.slice(0, 2)) expect((await pay(ctx, amount)).status).toBe(202);
      await eventually('a delivery held open', () => (hanging.openCount() > 0 ? true : undefined));
      const heldRequest = hanging.requests[0]!;

      // While it hangs, the next payments (one crosses 80 %) are decided and answered.
      for (const amount of AMOUNTS.slice(2)) {
        const answer = await pay(ctx, amount);
        expect(answer.status).toBe(202);
        expect({ open: hanging.openCount() > 0, heldAnswered: heldRequest.answered, heldAborted: heldRequest.abortedAtMs }).toEqual({ open: true, heldAnswered: undefined, heldAborted: undefined });
      }

      // With every webhook table locked against any access, a payment is still answered: the decision path never touches them.
      const locker = await db.pool.connect();
      try {
        await locker.query('BEGIN');
        await locker.query('LOCK TABLE webhook_endpoints, webhook_deliveries, webhook_attempts IN ACCESS EXCLUSIVE MODE');
        const underLock = await pay(ctx, '10000');
        expect(underLock.status).toBe(202);
        const session = await call<{ reserved: string }>(governor.url, 'GET', `/v1/sessions/${ctx.sessionId}`, { key: ctx.key });
        expect(session.body.reserved).toBe('0.96');
      } finally {
        await locker.query('ROLLBACK').catch(() => undefined);
        locker.release();
      }

      // The sender gives up on held requests after its timeout and tries again later.
      await eventually('held requests timed out', async () => {
        const list = await deliveries(endpoint.id);
        return list.length === 2 && list.every((d) => (d.lastError ?? '').startsWith('timeout:')) ? list : undefined;
      });
      expect(heldRequest.abortedAtMs! - heldRequest.receivedAtMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
      hanging.mode = 'ok';
      hanging.release(200);
      await eventually('both thresholds delivered once the receiver answers', () => (hanging.accepted('/hook').length >= 2 ? true : undefined));
      await settled();
      const accepted = hanging.accepted('/hook');
      expect(thresholds(accepted)).toEqual(['session:50', 'session:80']);
      expect(new Set(accepted.map((r) => r.envelope.id)).size).toBe(2);
      const detail = await admin<DeliveryDetail>('GET', `/admin/v1/webhooks/${endpoint.id}/deliveries/${(await deliveries(endpoint.id))[0]!.id}`);
      expect(detail.body.attemptHistory[0]).toMatchObject({ httpStatus: null, error: `timeout: no response within ${TIMEOUT_MS} ms` });
      expect(detail.body.attemptHistory[0]!.durationMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 100);
    } finally {
      hanging.release(200);
      await hanging.down();
    }
  });

  it('rotates the secret with an overlap, pauses a disabled endpoint, retries a failed delivery on request, and deletes', async () => {
    const ctx = await freshOrg();
    const endpoint = await createEndpoint({ url: `${receiver.url}/rotating`, orgId: ctx.orgId });
    const rotated = await admin<{ secret: string; previousSecretExpiresAt: string }>('POST', `/admin/v1/webhooks/${endpoint.id}/secret`, { overlapSeconds: 3_600 });
    expect(rotated.status).toBe(201);
    expect(rotated.body.secret).not.toBe(endpoint.secret);
    expect(Date.parse(rotated.body.previousSecretExpiresAt) - Date.now()).toBeGreaterThan(3_500_000);
    for (const amount of AMOUNTS.slice(0, 2)) expect((await pay(ctx, amount)).status).toBe(202);
    const [overlapping] = await eventually('the 50 % alert', () => (receiver.accepted('/rotating').length === 1 ? receiver.accepted('/rotating') : undefined));
    const verify = (request: ReceivedRequest, secret: string) => verifyWebhookSignature({ header: request.headers['paybound-signature'] as string, rawBody: request.rawBody, secret, nowMs: Date.now() });
    // During the overlap both secrets verify: receivers switch without dropping anything.
    expect((overlapping!.headers['paybound-signature'] as string).match(/v1=/g)).toHaveLength(2);
    expect([verify(overlapping!, rotated.body.secret), verify(overlapping!, endpoint.secret)]).toEqual(['ok', 'ok']);
    const sealed = await db.pool.query('SELECT secret_key_id, previous_secret_key_id, secret LIKE $2 OR previous_secret LIKE $2 AS clear FROM webhook_endpoints WHERE endpoint_id = $1', [endpoint.id, 'whsec_%']);
    expect(sealed.rows).toEqual([{ secret_key_id: 'test1', previous_secret_key_id: 'test1', clear: false }]);

    // Disabled: the 80 % alert is not delivered.
    expect((await admin<Endpoint>('PATCH', `/admin/v1/webhooks/${endpoint.id}`, { enabled: false })).body.enabled).toBe(false);
    expect((await pay(ctx, AMOUNTS[2]!)).status).toBe(202);
    await settled();
    expect(receiver.onPath('/rotating')).toHaveLength(1);
    expect(await deliveries(endpoint.id)).toHaveLength(1);

    // A delivery whose attempts run out is failed; a retry on request sends it once more.
    const closed = await WebhookReceiver.start({ down: true });
    const failing = await createEndpoint({ url: `${closed.url}/closed`, orgId: ctx.orgId, eventTypes: ['Reserved'] });
    expect((await pay(ctx, '10000')).status).toBe(202);
    const [pendingOne] = await eventually('a Reserved delivery tried', async () => {
      const list = await deliveries(failing.id);
      return list.length === 1 && list[0]!.attempts >= 1 ? list : undefined;
    });
    // Skip most of the 100 attempts this governor allows: the last ones run the real path to `failed`.
    await eventually('attempts moved on between two tries', async () => {
      const moved = await db.pool.query(`UPDATE webhook_deliveries SET attempts = 98 WHERE delivery_id = $1 AND lease_expires_at IS NULL AND status = 'pending'`, [pendingOne!.id]);
      return moved.rowCount === 1 ? true : undefined;
    });
    const failed = await eventually('the delivery failed', async () => ((await deliveries(failing.id))[0]?.status === 'failed' ? (await deliveries(failing.id))[0] : undefined));
    expect(failed).toMatchObject({ attempts: 100, lastHttpStatus: null, lastError: expect.stringContaining('ECONNREFUSED') as unknown });
    expect((await admin('PATCH', `/admin/v1/webhooks/${failing.id}`, { url: `${receiver.url}/fixed` })).status).toBe(200);
    // Rotated without overlap: the retry is signed with the new secret only.
    const immediate = await admin<{ secret: string; previousSecretExpiresAt: null }>('POST', `/admin/v1/webhooks/${failing.id}/secret`, { overlapSeconds: 0 });
    expect(immediate.body.previousSecretExpiresAt).toBeNull();
    const retried = await admin<Delivery>('POST', `/admin/v1/webhooks/${failing.id}/deliveries/${pendingOne!.id}/retry`);
    expect(retried).toMatchObject({ status: 202, body: { status: 'pending', attempts: 100 } });
    await eventually('the retried delivery', () => (receiver.accepted('/fixed').length === 1 ? true : undefined));
    const delivered = await eventually('delivered', async () => ((await deliveries(failing.id))[0]?.status === 'delivered' ? (await deliveries(failing.id))[0] : undefined));
    expect(delivered).toMatchObject({ attempts: 101, lastHttpStatus: 200, lastError: null });
    const resent = receiver.accepted('/fixed')[0]!;
    expect((resent.headers['paybound-signature'] as string).match(/v1=/g)).toHaveLength(1);
    expect([verify(resent, immediate.body.secret), verify(resent, failing.secret)]).toEqual(['ok', 'signature_mismatch']);
    expect((await admin<{ code: string }>('POST', `/admin/v1/webhooks/${failing.id}/deliveries/${delivered.id}/retry`)).body.code).toBe('webhook_delivery_already_delivered');

    const deleted = await admin('DELETE', `/admin/v1/webhooks/${failing.id}`);
    expect(deleted).toMatchObject({ status: 200, body: { id: failing.id, deleted: true } });
    expect((await admin<{ code: string }>('GET', `/admin/v1/webhooks/${failing.id}`)).body.code).toBe('webhook_endpoint_not_found');
    expect((await admin<{ items: { id: string }[] }>('GET', '/admin/v1/webhooks')).body.items.map((e) => e.id)).not.toContain(failing.id);
  });

  it('refuses invalid endpoints with the field, unknown ids with 404, and agents with 403; a new endpoint gets nothing from before it', async () => {
    const ctx = await freshOrg();
    const cases: [Record<string, unknown>, number, string, string][] = [
      [{}, 400, 'invalid_request', 'url'],
      [{ url: 'ftp://example.com/hook' }, 400, 'invalid_request', 'url'],
      [{ url: 'https://user:pass@example.com/hook' }, 400, 'invalid_request', 'url'],
      [{ url: 'not a url' }, 400, 'invalid_request', 'url'],
      [{ url: 'https://example.com/hook', eventTypes: ['BudgetThresholdReached', 'Nope'] }, 400, 'invalid_request', 'eventTypes.1'],
      [{ url: 'https://example.com/hook', eventTypes: [] }, 400, 'invalid_request', 'eventTypes'],
      [{ url: 'https://example.com/hook', eventTypes: ['Settled', 'Settled'] }, 400, 'invalid_request', 'eventTypes'],
      [{ url: 'https://example.com/hook', secret: 'mine' }, 400, 'invalid_request', ''],
      [{ url: 'https://example.com/hook', orgId: 'no-such-org' }, 404, 'org_not_found', 'orgId'],
    ];
    for (const [body, status, code, field] of cases) {
      const answer = await admin<{ code: string; field: string }>('POST', '/admin/v1/webhooks', body);
      expect({ body, status: answer.status, code: answer.body.code, field: answer.body.field }).toEqual({ body, status, code, field });
    }
    expect((await admin<{ field: string }>('PATCH', '/admin/v1/webhooks/we_missing', { enabled: true })).status).toBe(404);
    // An alert from before the endpoint existed is not sent to it.
    expect((await pay(ctx, '600000')).status).toBe(202);
    await settled();
    const endpoint = await createEndpoint({ url: `${receiver.url}/late`, orgId: ctx.orgId });
    await settled();
    expect(await deliveries(endpoint.id)).toEqual([]);
    expect(receiver.onPath('/late')).toEqual([]);
    expect((await admin<{ field: string }>('PATCH', `/admin/v1/webhooks/${endpoint.id}`, {})).status).toBe(400);
    expect((await admin<{ field: string }>('GET', `/admin/v1/webhooks/${endpoint.id}/deliveries?limit=1000`)).body.field).toBe('limit');
    expect((await admin<{ code: string }>('GET', `/admin/v1/webhooks/${endpoint.id}/deliveries/not-a-number`)).body.code).toBe('webhook_delivery_not_found');
    expect((await admin<{ code: string }>('GET', `/admin/v1/webhooks/${endpoint.id}/deliveries/123456`)).body.code).toBe('webhook_delivery_not_found');
    expect((await call(governor.url, 'GET', '/admin/v1/webhooks', { key: ctx.key })).status).toBe(403);
    expect((await call(governor.url, 'POST', '/admin/v1/webhooks', { key: ctx.key, body: { url: 'https://example.com/x' } })).status).toBe(403);
  });
});
