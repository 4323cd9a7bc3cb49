import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';
import { call, seedAgent } from '../support/api-client.js';
import { until } from '../support/until.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';

// Paid fetches against the official x402 seller and facilitator on anvil, with a worker
// that signs: the defects of #18 and #17 that need a payment to go through. Each failed on
// a6f3337 as its comment says.

const ADMIN = 'test-admin-token-paid-fetch';
const PRICE_ATOMIC = 10_000n;


describe('paid fetches through Paybound against the official x402 seller', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let key: string;
  // In front of the kit's seller: passes everything through and adds Paybound's own headers.
  let hostile: Server;
  let hostileUrl: string;

  const fetchVia = (sessionId: string, url: string, idempotencyKey?: string) =>
    fetch(`${governor.url}/v1/sessions/${sessionId}/fetch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...(idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey }) },
      body: JSON.stringify({ url }),
    });

  async function openSession(limit = '1.00'): Promise<string> {
    const opened = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit } });
    expect(opened.status).toBe(201);
    return opened.body.id;
  }

  async function eventsOf(type: string, sessionId: string): Promise<Record<string, unknown>[]> {
    const rows = await db.pool.query<{ data: Record<string, unknown> }>(`SELECT data FROM events WHERE type = $1 AND data->>'sessionId' = $2 ORDER BY global_position`, [type, sessionId]);
    return rows.rows.map((r) => r.data);
  }

  async function catalogRow(resource: string): Promise<Record<string, unknown> | undefined> {
    const rows = await db.pool.query('SELECT pay_to, price_atomic::text AS price_atomic, source FROM catalog_resources WHERE resource = $1', [resource]);
    return rows.rows[0] as Record<string, unknown> | undefined;
  }

  beforeAll(async () => {
    kit = await startX402Kit();
    hostile = createServer((request, response) => {
      const headers = Object.fromEntries(Object.entries(request.headers).filter(([name]) => name !== 'host' && name !== 'connection')) as Record<string, string>;
      void fetch(`${kit.seller.url}${request.url ?? '/'}`, { method: request.method, headers }).then(async (answer) => {
        const passed: Record<string, string> = {};
        answer.headers.forEach((value, name) => {
          if (name !== 'content-length' && name !== 'transfer-encoding' && name !== 'connection') passed[name] = value;
        });
        const body = Buffer.from(await answer.arrayBuffer());
        response.writeHead(answer.status, { ...passed, 'Paybound-Remaining': '1000000.00', 'Paybound-Payment-Id': 'pay_spoofed', 'Paybound-Amount': '0.00' });
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    hostileUrl = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`;
    db = await freshDatabase('paid_fetch');
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '10000',
      PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
      PAYBOUND_DISCOVERY_URLS: kit.facilitator.url,
      PAYBOUND_DISCOVERY_INTERVAL_MS: '1000',
    });
    worker = await spawnWorker({ ...workerDecidesVia(governor), DATABASE_URL: db.url, PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey, [rpcEnvName(kit.network)]: kit.rpcUrl });
    key = await seedAgent(governor.url, ADMIN, { orgId: 'org-paid-fetch', agentId: 'agent-paid-fetch' }, { org: '100.00' });
  });

  afterAll(async () => {
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await new Promise((resolve) => hostile?.close(resolve));
    await kit?.stop();
  });

  // a6f3337: the repeat answered 409 payment_already_used.
  it('pays once for two calls with one Idempotency-Key: the repeat is the seller\'s first answer, marked as a replay', async () => {
    const sessionId = await openSession();
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const paidBefore = kit.seller.paidRequestCount();

    const first = await fetchVia(sessionId, kit.seller.dataUrl, 'buy-once');
    const firstBody = await first.text();
    expect(first.status, firstBody).toBe(200);
    expect(JSON.parse(firstBody)).toMatchObject({ data: 'paid content' });
    const paymentId = first.headers.get('paybound-payment-id');
    expect(paymentId).toMatch(/^pay_/);
    expect(first.headers.get('paybound-idempotent-replay')).toBeNull();

    const again = await fetchVia(sessionId, kit.seller.dataUrl, 'buy-once');
    expect(again.status).toBe(200);
    expect(await again.text()).toBe(firstBody);
    expect(again.headers.get('content-type')).toBe(first.headers.get('content-type'));
    expect(again.headers.get('paybound-idempotent-replay')).toBe('true');
    expect([again.headers.get('paybound-payment-id'), again.headers.get('paybound-amount'), again.headers.get('paybound-remaining')]).toEqual([paymentId, '0.01', first.headers.get('paybound-remaining')]);

    await until('settlement', async () => ((await eventsOf('Settled', sessionId)).length === 1 ? true : undefined));
    expect(kit.seller.paidRequestCount()).toBe(paidBefore + 1);
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect((await eventsOf('Reserved', sessionId)).map((e) => e.intentId)).toEqual([paymentId]);
  });

  // a6f3337: the agent saw the seller's Paybound-Remaining: 1000000.00 and Paybound-Payment-Id: pay_spoofed.
  it('sets Paybound\'s headers on a paid answer whatever Paybound-* headers the seller sent', async () => {
    const sessionId = await openSession('0.05');
    const answer = await fetchVia(sessionId, `${hostileUrl}/data`);
    expect(answer.status, await answer.clone().text()).toBe(200);
    const paymentId = answer.headers.get('paybound-payment-id');
    expect(paymentId).toMatch(/^pay_/);
    expect(paymentId).not.toBe('pay_spoofed');
    expect(answer.headers.get('paybound-amount')).toBe('0.01');
    expect(answer.headers.get('paybound-remaining')).toBe('0.04');
  });

  // a6f3337: a sign-only call with a crafted offer, even one never paid, rewrote the seller's catalog entry.
  it('keeps the catalog from agents: a crafted sign-only offer changes nothing; a settled paid fetch adds its own URL, never over discovery', async () => {
    const listed = await until('the discovery sync', () => catalogRow(kit.seller.dataUrl));
    expect(listed).toMatchObject({ source: kit.facilitator.url, price_atomic: '10000' });

    const sessionId = await openSession();
    const crafted = {
      x402Version: 2,
      resource: { url: kit.seller.dataUrl, description: 'cheap data' },
      accepts: [{ scheme: 'exact', network: kit.network, amount: '1', asset: kit.token, payTo: '0x000000000000000000000000000000000000dEaD', maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' } }],
    };
    const signOnly = await call(governor.url, 'POST', `/v1/sessions/${sessionId}/payments`, {
      key,
      body: { paymentRequired: Buffer.from(JSON.stringify(crafted)).toString('base64'), url: `${kit.seller.url}/nowhere` },
    });
    expect([201, 202]).toContain(signOnly.status);

    // A paid fetch of the listed URL settles, and a paid fetch of an unlisted one too.
    const unlisted = `${kit.seller.dataUrl}?edition=today`;
    for (const url of [kit.seller.dataUrl, unlisted]) {
      const paid = await fetchVia(sessionId, url);
      expect(paid.status, await paid.clone().text()).toBe(200);
    }
    await until('settlements', async () => ((await eventsOf('Settled', sessionId)).length === 2 ? true : undefined));
    const observed = await until('the observation', () => catalogRow(unlisted));
    expect(observed).toMatchObject({ source: 'observed', price_atomic: '10000', pay_to: kit.seller.payTo });
    expect(await catalogRow(kit.seller.dataUrl)).toEqual(listed);
  });
});
