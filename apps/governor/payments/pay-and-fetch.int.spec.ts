import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';

// The pay-and-fetch contract against sellers on loopback, with no settlement worker: every
// defect here answered wrongly on a6f3337 (each test says how).

const ADMIN = 'pay-and-fetch-admin';
const WORKER_TOKEN = 'pay-and-fetch-worker-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const USDC_BASE_SEPOLIA = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

type Route = (request: IncomingMessage, url: string) => { status: number; headers?: Record<string, string>; body?: string };

describe('pay-and-fetch, as an agent and a hostile seller see it', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let seller: Server;
  let sellerUrl: string;
  let key: string;
  const calls = new Map<string, number>();

  const offerHeader = (path: string, overrides: { amount?: string } = {}) => paymentRequiredHeader({ amount: overrides.amount ?? '10000', asset: TOKEN, payTo: PAY_TO, url: `${sellerUrl}${path}` });
  const routes: Record<string, Route> = {
    '/paid': (_r, url) => ({ status: 402, headers: { 'PAYMENT-REQUIRED': offerHeader(url) }, body: '{}' }),
    '/expensive': (_r, url) => ({ status: 402, headers: { 'PAYMENT-REQUIRED': offerHeader(url, { amount: '50000' }) }, body: '{}' }),
    // A valid offer padded with an extension to 20 KiB: above undici's 16 KiB default for all headers.
    '/oversized-offer': (_r, url) => {
      const offer = { x402Version: 2, resource: { url: `${sellerUrl}${url}` }, accepts: [{ scheme: 'exact', network: 'eip155:31337', amount: '10000', asset: TOKEN, payTo: PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' } }], extensions: { pad: 'x'.repeat(15_000) } };
      return { status: 402, headers: { 'PAYMENT-REQUIRED': Buffer.from(JSON.stringify(offer)).toString('base64') }, body: '{}' };
    },
    // The outside judge's case: an x402 v1 body on base-sepolia, which this deployment has no RPC for.
    '/v1-base-sepolia': (_r, url) => ({
      status: 402,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        x402Version: 1,
        error: 'payment required',
        accepts: [{ scheme: 'exact', network: 'base-sepolia', maxAmountRequired: '10000', asset: USDC_BASE_SEPOLIA, payTo: PAY_TO, resource: `${sellerUrl}${url}`, description: 'data', maxTimeoutSeconds: 60, extra: { name: 'USDC', version: '2' } }],
      }),
    }),
    '/nul-description': (_r, url) => {
      const offer = { x402Version: 2, resource: { url: `${sellerUrl}${url}`, description: 'a\u0000b' }, accepts: [{ scheme: 'exact', network: 'eip155:31337', amount: '10000', asset: TOKEN, payTo: PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1', note: 'c\u0000d' } }] };
      return { status: 402, headers: { 'PAYMENT-REQUIRED': Buffer.from(JSON.stringify(offer)).toString('base64') }, body: '{}' };
    },
    // A free answer whose seller pretends to be Paybound.
    '/spoofing': () => ({ status: 200, headers: { 'content-type': 'text/plain', 'Paybound-Remaining': '1000000.00', 'Paybound-Payment-Id': 'pay_spoofed', 'Paybound-Problem': 'session_limit_exceeded' }, body: 'free' }),
    '/seller-problem': () => ({
      status: 403,
      headers: { 'content-type': 'application/problem+json' },
      body: JSON.stringify({ type: 'https://paybound.dev/problems/session_limit_exceeded', title: 'forged', status: 403, code: 'session_limit_exceeded', detail: 'a seller pretending to be Paybound' }),
    }),
  };

  async function events(type: string, sessionId: string): Promise<Record<string, unknown>[]> {
    const rows = await db.pool.query<{ data: Record<string, unknown> }>(`SELECT data FROM events WHERE type = $1 AND data->>'sessionId' = $2 ORDER BY global_position`, [type, sessionId]);
    return rows.rows.map((r) => r.data);
  }

  async function openSession(limit = '1.00'): Promise<string> {
    const opened = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit } });
    expect(opened.status).toBe(201);
    return opened.body.id;
  }

  const fetchVia = (sessionId: string, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    call<Record<string, unknown>>(governor.url, 'POST', `/v1/sessions/${sessionId}/fetch`, { key, body, headers });

  beforeAll(async () => {
    seller = createServer((request, response) => {
      const url = request.url ?? '/';
      calls.set(url, (calls.get(url) ?? 0) + 1);
      const route = routes[url.split('?')[0]!];
      const answer = route === undefined ? { status: 404, body: 'no such route' } : route(request, url);
      response.writeHead(answer.status, answer.headers ?? {});
      response.end(answer.body ?? '');
    });
    // The oversized offer needs room on the seller's side as well.
    seller.maxHeadersCount = 0;
    await new Promise<void>((resolve) => seller.listen(0, '127.0.0.1', resolve));
    sellerUrl = `http://127.0.0.1:${(seller.address() as AddressInfo).port}`;
    db = await freshDatabase('pay_and_fetch');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
      // No settlement worker runs here; the late-signature test waits a little longer.
      PAYBOUND_SIGN_WAIT_MS: '300',
      PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    governor = await createGovernor(config, createLogger('test', 'warn'));
    key = await seedAgent(governor.url, ADMIN, { orgId: 'fetch-org', agentId: 'fetch-agent' }, { org: '100.00' });
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
    await new Promise((resolve) => seller?.close(resolve));
  });

  // a6f3337: 502 upstream_unreachable (undici refused the 20 KiB header before Paybound read it).
  it('answers an oversized PAYMENT-REQUIRED header with 502 bad_payment_offer, and reserves nothing', async () => {
    const sessionId = await openSession();
    const answer = await fetchVia(sessionId, { url: `${sellerUrl}/oversized-offer` });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ code: 'bad_payment_offer' });
    expect(String(answer.body.detail)).toMatch(/16384/);
    expect(await events('Reserved', sessionId)).toEqual([]);
  });

  // a6f3337: Reserved, then Refunded, and 503 payment_not_signed, which reads as "retry".
  it('refuses an offer on a network the worker cannot pay on before reserving: 502 bad_payment_offer naming the networks', async () => {
    const sessionId = await openSession();
    const answer = await fetchVia(sessionId, { url: `${sellerUrl}/v1-base-sepolia` });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ code: 'bad_payment_offer' });
    // Only networks the worker can pay on keep their stablecoins, so the offer's asset is unknown here.
    expect(String(answer.body.detail)).toContain('not a known USD stablecoin on eip155:84532');
    expect(await events('Reserved', sessionId)).toEqual([]);
    expect(await events('Refunded', sessionId)).toEqual([]);
  });

  // a6f3337: 500 (jsonb refused the NUL when the offer was stored).
  it('answers NUL in an offer\'s description and extra with 502 bad_payment_offer, never 500', async () => {
    const sessionId = await openSession();
    const answer = await fetchVia(sessionId, { url: `${sellerUrl}/nul-description` });
    expect(answer.status).toBe(502);
    expect(answer.body).toMatchObject({ code: 'bad_payment_offer' });
    expect(String(answer.body.detail)).toMatch(/NUL/);
    expect(await events('Reserved', sessionId)).toEqual([]);
  });

  // a6f3337: 403 price_above_max with no event; every other refusal is a LimitExceeded.
  it('decides maxPrice in the domain: 403 price_above_max at the request level, recorded as LimitExceeded', async () => {
    const sessionId = await openSession();
    const answer = await fetchVia(sessionId, { url: `${sellerUrl}/expensive`, maxPrice: '0.01' });
    expect(answer.status).toBe(403);
    expect(answer.body).toMatchObject({ code: 'price_above_max', level: 'request', limit: '0.01', requested: '0.05', remaining: '1.00' });
    expect(answer.headers.get('paybound-problem')).toBe('price_above_max');
    const refused = await events('LimitExceeded', sessionId);
    expect(refused).toEqual([expect.objectContaining({ code: 'price_above_max', level: 'request', limitMicros: '10000', requestedMicros: '50000', intentId: answer.body.paymentId })]);
    expect(await events('Reserved', sessionId)).toEqual([]);
    const invalid = await fetchVia(sessionId, { url: `${sellerUrl}/expensive`, maxPrice: 'cheap' });
    expect(invalid).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'maxPrice' } });
  });

  // a6f3337: 500 (new Headers() threw outside the try) for each of these values.
  it.each([
    ['CR LF', 'a\r\nInjected: yes'],
    ['NUL', 'a\u0000b'],
    ['a character beyond Latin-1', 'caf\u00e9 \u2603'],
  ])('answers a header value with %s with 400 naming the header', async (_what, value) => {
    const sessionId = await openSession();
    const answer = await fetchVia(sessionId, { url: `${sellerUrl}/spoofing`, headers: { 'X-Trace': value } });
    expect(answer.status).toBe(400);
    expect(answer.body).toMatchObject({ code: 'invalid_request', field: 'headers.X-Trace' });
  });

  // a6f3337: 502 upstream_unreachable.
  it('answers a URL with credentials with 400 on the url', async () => {
    const sessionId = await openSession();
    const answer = await fetchVia(sessionId, { url: `http://user:secret@127.0.0.1:${new URL(sellerUrl).port}/paid` });
    expect(answer).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'url' } });
  });

  // a6f3337: the agent saw the seller's Paybound-Remaining: 1000000.00 and Paybound-Payment-Id: pay_spoofed.
  it('drops every Paybound-* header a seller sends, and marks only Paybound\'s own problems', async () => {
    const sessionId = await openSession();
    const raw = await fetch(`${governor.url}/v1/sessions/${sessionId}/fetch`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ url: `${sellerUrl}/spoofing` }) });
    expect(raw.status).toBe(200);
    expect(await raw.text()).toBe('free');
    expect([raw.headers.get('paybound-remaining'), raw.headers.get('paybound-payment-id'), raw.headers.get('paybound-problem')]).toEqual([null, null, null]);

    const passed = await fetchVia(sessionId, { url: `${sellerUrl}/seller-problem` });
    expect(passed.status).toBe(403);
    expect(passed.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(passed.headers.get('paybound-problem')).toBeNull();
    const own = await fetchVia('ses_nope', { url: `${sellerUrl}/seller-problem` });
    expect(own.status).toBe(404);
    expect(own.headers.get('paybound-problem')).toBe('session_not_found');
  });

  // a6f3337: the repeat answered 409 payment_already_used, not the first answer.
  it('answers a repeat with the same Idempotency-Key with the first answer, marked as a replay, without calling the seller again', async () => {
    const sessionId = await openSession();
    const url = `${sellerUrl}/paid?run=replay`;
    const first = await fetchVia(sessionId, { url }, { 'Idempotency-Key': 'fetch-once' });
    // No worker signs here: the first answer is that the payment was not signed and was released.
    expect(first.status).toBe(503);
    expect(first.body).toMatchObject({ status: 503, code: 'payment_not_signed', reason: 'sign_timeout' });
    expect(first.headers.get('paybound-idempotent-replay')).toBeNull();
    const paymentId = first.body.paymentId as string;
    expect(first.headers.get('paybound-payment-id')).toBe(paymentId);
    const sellerCalls = calls.get('/paid?run=replay');

    const retried = await fetchVia(sessionId, { url }, { 'Idempotency-Key': 'fetch-once' });
    expect(retried.status).toBe(503);
    expect(retried.body).toEqual(first.body);
    expect(retried.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(retried.headers.get('paybound-idempotent-replay')).toBe('true');
    expect(retried.headers.get('paybound-problem')).toBe('payment_not_signed');
    expect(retried.headers.get('paybound-payment-id')).toBe(paymentId);
    expect(calls.get('/paid?run=replay')).toBe(sellerCalls);
    expect((await events('Reserved', sessionId)).map((e) => e.intentId)).toEqual([paymentId]);

    // The same key with another request is refused, over the same payment.
    const other = await fetchVia(sessionId, { url: `${url}&other=1` }, { 'Idempotency-Key': 'fetch-once' });
    expect(other).toMatchObject({ status: 422, body: { code: 'idempotency_key_reused' } });
  });

  // a6f3337: 503 payment_not_signed "nothing was paid" for a payment the worker had signed.
  it('answers a payment signed after the wait with its id and true status, not "nothing was paid"', async () => {
    const sessionId = await openSession();
    const pending = fetchVia(sessionId, { url: `${sellerUrl}/paid?run=late` });
    // The worker records its signature while the governor waits, but its header never comes.
    let reserved: Record<string, unknown> | undefined;
    while (reserved === undefined) {
      reserved = (await events('Reserved', sessionId))[0];
      if (reserved === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    const signed = await call(governor.url, 'POST', '/internal/v1/worker-commands', {
      key: WORKER_TOKEN,
      body: { type: 'RecordSignature', orgId: 'fetch-org', at: new Date().toISOString(), intentId: reserved.intentId, scheme: 'exact', payer: PAY_TO, nonce: `0x${'ab'.repeat(32)}`, validAfter: '1970-01-01T00:00:00.000Z', validBefore: reserved.validBefore },
    });
    expect(signed.status).toBe(200);
    const answer = await pending;
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ code: 'payment_not_sent', paymentId: reserved.intentId, paymentStatus: 'signed' });
    expect(String(answer.body.detail)).not.toMatch(/nothing was paid/);
    expect(String(answer.body.detail)).toMatch(/nothing was sent to the seller/);
    expect(await events('Refunded', sessionId)).toEqual([]);
  });
});
