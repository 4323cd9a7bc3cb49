import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../../apps/governor/config.js';
import { createGovernor, type RunningGovernor } from '../../apps/governor/create-governor.js';
import { createLogger } from '../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';

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
