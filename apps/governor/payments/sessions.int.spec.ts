import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';

// Closing a session and the cap on open sessions per agent, over REST. On a6f3337 there was
// no close (POST …/close answered 404 and session_closed could not happen), and an agent
// opened 10,000 sessions in 22 s.

const ADMIN = 'sessions-admin';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const OPEN_MAX = 3;

describe('sessions: close and the cap on open sessions', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let agentSeq = 0;

  beforeAll(async () => {
    db = await freshDatabase('sessions');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT: String(OPEN_MAX),
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    governor = await createGovernor(config, createLogger('test', 'warn'));
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
  });

  async function agent(): Promise<string> {
    agentSeq += 1;
    return seedAgent(governor.url, ADMIN, { orgId: `org-s${agentSeq}`, agentId: `agent-s${agentSeq}` }, { org: '100.00' });
  }

  const open = (key: string, headers: Record<string, string> = {}) => call<{ id: string; status: string; code?: string; limit?: number; open?: number }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: '1.00' }, headers });
  const close = (key: string, id: string) => call<{ id: string; status: string; reserved: string; code?: string }>(governor.url, 'POST', `/v1/sessions/${id}/close`, { key });
  const pay = (key: string, sessionId: string, url: string) =>
    call<{ id?: string; status?: string | number; code?: string; level?: string; paymentId?: string }>(governor.url, 'POST', `/v1/sessions/${sessionId}/payments`, {
      key,
      body: { paymentRequired: paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO, url }), url },
    });

  it('closes a session: SessionClosed once, new payments refused with session_closed, held money still held, a second close answers the same', async () => {
    const key = await agent();
    const session = await open(key);
    const held = await pay(key, session.body.id, 'http://api.example.com/held');
    expect(held.status).toBe(202);

    const closed = await close(key, session.body.id);
    expect(closed.status).toBe(200);
    expect(closed.body).toMatchObject({ id: session.body.id, status: 'closed', reserved: '0.01' });
    expect((await call<{ status: string }>(governor.url, 'GET', `/v1/sessions/${session.body.id}`, { key })).body.status).toBe('closed');

    const refused = await pay(key, session.body.id, 'http://api.example.com/after');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'session_closed', level: 'session' });
    const recorded = await db.pool.query(`SELECT 1 FROM events WHERE type = 'LimitExceeded' AND data->>'intentId' = $1 AND data->>'code' = 'session_closed'`, [refused.body.paymentId]);
    expect(recorded.rowCount).toBe(1);

    // The payment under way finishes: reporting the seller's refusal releases it.
    const released = await call<{ status: string }>(governor.url, 'POST', `/v1/payments/${held.body.id}/result`, { key, body: { status: 500 } });
    expect(released.body.status).toBe('refunded');

    const again = await close(key, session.body.id);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ status: 'closed', reserved: '0.00' });
    const closings = await db.pool.query(`SELECT 1 FROM events WHERE type = 'SessionClosed' AND data->>'sessionId' = $1`, [session.body.id]);
    expect(closings.rowCount).toBe(1);
  });

  it('answers 404 for another agent\'s session and an unknown one, and closes nothing', async () => {
    const owner = await agent();
    const other = await agent();
    const session = await open(owner);
    expect((await close(other, session.body.id)).body).toMatchObject({ code: 'session_not_found' });
    expect((await close(owner, 'ses_nope')).status).toBe(404);
    expect((await call<{ status: string }>(governor.url, 'GET', `/v1/sessions/${session.body.id}`, { key: owner })).body.status).toBe('open');
  });

  it(`refuses the session beyond ${OPEN_MAX} open ones with 429 too_many_open_sessions, and opens again once one is closed`, async () => {
    const key = await agent();
    const ids: string[] = [];
    for (let i = 0; i < OPEN_MAX; i += 1) ids.push((await open(key)).body.id);
    const refused = await open(key);
    expect(refused.status).toBe(429);
    expect(refused.body).toMatchObject({ code: 'too_many_open_sessions', limit: OPEN_MAX, open: OPEN_MAX });
    // A retry of a session already opened is still answered.
    const keyed = await open(key, { 'Idempotency-Key': 'beyond' });
    expect(keyed.status).toBe(429);
    // Another agent of another org is not counted with this one.
    expect((await open(await agent())).status).toBe(201);

    await close(key, ids[0]!);
    expect((await open(key)).status).toBe(201);
    expect((await open(key)).status).toBe(429);
    const sessions = await db.pool.query(`SELECT 1 FROM events WHERE type = 'SessionOpened' AND data->>'orgId' = $1`, [`org-s${agentSeq - 1}`]);
    expect(sessions.rowCount).toBe(OPEN_MAX + 1);
  });
});
