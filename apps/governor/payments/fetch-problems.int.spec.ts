import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';

// The problems pay-and-fetch answers when no worker signs, read as a client reads them:
// RFC 9457's own members keep their meaning whatever figures a problem carries.

const ADMIN = 'fetch-problems-admin';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('pay-and-fetch problems', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let seller: Server;
  let sellerUrl: string;
  let key: string;
  let sessionId: string;

  beforeAll(async () => {
    // A seller that asks $0.01 for everything, on loopback.
    seller = createServer((request, response) => {
      response.writeHead(402, { 'PAYMENT-REQUIRED': paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO, url: `${sellerUrl}${request.url ?? '/'}` }) });
      response.end('{}');
    });
    await new Promise<void>((resolve) => seller.listen(0, '127.0.0.1', resolve));
    sellerUrl = `http://127.0.0.1:${(seller.address() as AddressInfo).port}`;
    db = await freshDatabase('fetch_problems');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      // No settlement worker runs here: with no wait, every payment is released unsigned at once.
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    governor = await createGovernor(config, createLogger('test', 'warn'));
    key = await seedAgent(governor.url, ADMIN, { orgId: 'fetch-org', agentId: 'fetch-agent' }, { org: '10.00' });
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: '1.00' } });
    expect(session.status).toBe(201);
    sessionId = session.body.id;
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
    await new Promise((resolve) => seller?.close(resolve));
  });

  it('answers a retry of a fetch that went ahead with 409 payment_already_used; its status stays the number 409', async () => {
    const fetch = () => call<Record<string, unknown>>(governor.url, 'POST', `/v1/sessions/${sessionId}/fetch`, { key, body: { url: `${sellerUrl}/data` }, headers: { 'Idempotency-Key': 'fetch-once' } });
    const first = await fetch();
    expect(first.status).toBe(503);
    expect(first.body).toMatchObject({ status: 503, code: 'payment_not_signed', reason: 'sign_timeout' });
    const paymentId = first.body.paymentId;
    expect(paymentId).toEqual(expect.stringMatching(/^pay_/));

    const retried = await fetch();
    expect(retried.status).toBe(409);
    expect(retried.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(retried.body).toEqual({
      type: 'https://paybound.dev/problems/payment_already_used',
      title: 'payment already used',
      status: 409,
      code: 'payment_already_used',
      detail: `payment ${String(paymentId)} for this Idempotency-Key is already refunded`,
      paymentId,
      paymentStatus: 'refunded',
    });
  });
});
