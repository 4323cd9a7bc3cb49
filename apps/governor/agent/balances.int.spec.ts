import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../http/clock.js';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';
import { OrgCommandProcessor } from '../../../libs/ledger/org-command-processor.js';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';

// What agents and finance read as "remaining" must be what the decider would let through:
// the smallest remainder over every level, counting a day or month budget's spend in its
// period only.

const ROOT = 'root-admin-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

interface AgentBalance {
  id: string;
  orgId: string;
  period: string;
  limit: string | null;
  reserved: string;
  spent: string;
  remaining: string | null;
}

describe('balances read as the decider decides', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let base: string;
  const clock = new ManualClock(new Date('2026-11-26T23:00:00.000Z'));

  beforeAll(async () => {
    db = await freshDatabase('balances');
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

  function pay(key: string, sessionId: string, url: string) {
    return call<{ id?: string; code?: string; remaining?: string }>(base, 'POST', `/v1/sessions/${sessionId}/payments`, {
      key,
      body: { paymentRequired: paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO, url }), url, method: 'GET' },
    });
  }

  async function agentBalance(orgId: string, agentId: string): Promise<AgentBalance | undefined> {
    const balances = await call<{ agents: AgentBalance[] }>(base, 'GET', '/admin/v1/balances', { key: ROOT });
    expect(balances.status).toBe(200);
    return balances.body.agents.find((a) => a.orgId === orgId && a.id === agentId);
  }

  it("reports a session's remaining as the smallest over the session and the levels above it", async () => {
    const key = await seedAgent(base, ROOT, { orgId: 'org-small', teamId: 'team-small', agentId: 'agent-small' }, { org: '0.02' });
    const session = await call<{ id: string; remaining: string }>(base, 'POST', '/v1/sessions', { key, body: { limit: '999999999.00', expiresInMinutes: 600 } });
    expect(session.status).toBe(201);
    const read = await call<{ remaining: string }>(base, 'GET', `/v1/sessions/${session.body.id}`, { key });
    expect(read.body.remaining).toBe('0.02');
    expect((await pay(key, session.body.id, 'http://api.example.com/one')).status).toBe(202);
    const after = await call<{ remaining: string; reserved: string }>(base, 'GET', `/v1/sessions/${session.body.id}`, { key });
    expect(after.body).toMatchObject({ reserved: '0.01', remaining: '0.01' });
  });

  it('counts a daily budget afresh after midnight UTC, for the dashboard and for the agent', async () => {
    const orgId = 'org-daily';
    const agentId = 'agent-daily';
    const key = await seedAgent(base, ROOT, { orgId, teamId: 'team-daily', agentId }, { org: '100.00' });
    expect((await call(base, 'PUT', `/admin/v1/orgs/${orgId}/agents/${agentId}/budget`, { key: ROOT, body: { limit: '0.02', period: 'day' } })).status).toBe(200);
    const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key, body: { limit: '1.00', expiresInMinutes: 6_000 } });
    const processor = governor.app.get(OrgCommandProcessor);
    for (const url of ['http://api.example.com/a', 'http://api.example.com/b']) {
      const answer = await pay(key, session.body.id, url);
      expect(answer.status).toBe(202);
      const at = clock.now().toISOString();
      const id = answer.body.id!;
      await processor.submit({ type: 'RecordSignature', orgId, actor: 'worker:test', at, intentId: id, scheme: 'exact', payer: PAY_TO, nonce: `0x${id}`, validAfter: at, validBefore: at }, () => undefined);
      await processor.submit({ type: 'Settle', orgId, actor: 'worker:test', at, intentId: id, amountAtomic: 10_000n, network: 'eip155:31337', transaction: `0x${id}`, payer: PAY_TO }, () => undefined);
    }
    // The admin view is the read model, caught up by the projection's loop within moments.
    await expect.poll(() => agentBalance(orgId, agentId), { timeout: 10_000 }).toMatchObject({ period: 'day', limit: '0.02', spent: '0.02', remaining: '0.00' });
    expect((await call<{ remaining: string }>(base, 'GET', `/v1/sessions/${session.body.id}`, { key })).body.remaining).toBe('0.00');

    clock.set(new Date('2026-11-27T00:00:01.000Z'));
    // Before any payment of the new day, the day's spend is already back to zero.
    expect(await agentBalance(orgId, agentId)).toMatchObject({ spent: '0.00', reserved: '0.00', remaining: '0.02' });
    expect((await pay(key, session.body.id, 'http://api.example.com/c')).status).toBe(202);
    await expect.poll(() => agentBalance(orgId, agentId), { timeout: 10_000 }).toMatchObject({ spent: '0.00', reserved: '0.01', remaining: '0.01' });
    // The session itself has 1.00 − 0.02 spent − 0.01 held; the agent's day leaves less.
    const read = await call<{ remaining: string; spent: string }>(base, 'GET', `/v1/sessions/${session.body.id}`, { key });
    expect(read.body).toMatchObject({ spent: '0.02', remaining: '0.01' });
  });
});
