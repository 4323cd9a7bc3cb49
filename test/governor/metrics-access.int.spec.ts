import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../../apps/governor/config.js';
import { createGovernor, type RunningGovernor } from '../../apps/governor/create-governor.js';
import { createLogger } from '../../libs/platform/logger.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';

// /metrics shows the paying wallets' addresses and balances (#17 Low): closed unless a token
// guards it or the operator opened it on purpose.

describe('who may read /metrics', () => {
  let db: TestDatabase;
  const governors: RunningGovernor[] = [];

  beforeAll(async () => {
    db = await freshDatabase('metrics_access');
  });

  afterAll(async () => {
    for (const governor of governors) await governor.close();
    await db?.drop();
  });

  async function start(env: Record<string, string>): Promise<string> {
    const governor = await createGovernor(loadGovernorConfig({ DATABASE_URL: db.url, PORT: '0', ...env }), createLogger('test', 'silent'));
    governors.push(governor);
    return governor.url;
  }

  it('is closed by default: 403 with a problem saying how to open it', async () => {
    const base = await start({});
    const answer = await fetch(`${base}/metrics`);
    expect(answer.status).toBe(403);
    expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(((await answer.json()) as { code: string; detail: string }).detail).toMatch(/PAYBOUND_METRICS_TOKEN.*PAYBOUND_METRICS_OPEN/);
  });

  it('asks for the token when one is set, even when also opened', async () => {
    const base = await start({ PAYBOUND_METRICS_TOKEN: 'metrics-token-for-this-test', PAYBOUND_METRICS_OPEN: 'true' });
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    expect((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer wrong-token' } })).status).toBe(401);
    const scraped = await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer metrics-token-for-this-test' } });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('paybound_http_requests_total');
  });

  it('is open to anyone only when PAYBOUND_METRICS_OPEN=true and no token is set', async () => {
    const base = await start({ PAYBOUND_METRICS_OPEN: 'true' });
    expect((await fetch(`${base}/metrics`)).status).toBe(200);
  });
});
