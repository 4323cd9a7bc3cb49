import { generateText } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paidFetchTool } from '../../libs/client/ai-sdk.js';
import { createPaybound, PayboundError, type Paybound } from '../../libs/client/paybound.js';
import { paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';

const ADMIN = 'test-admin-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

async function failure(promise: Promise<unknown>): Promise<PayboundError> {
  const error = await promise.then(
    () => expect.unreachable('the call should have failed'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PayboundError);
  return error as PayboundError;
}

describe('the TypeScript client against a governor process', () => {
  let db: TestDatabase;
  let governor: GovernorProcess;
  let paybound: Paybound;
  // A seller on loopback: free weather, a 402 at 0.05, and its own problem+json dressed as Paybound's.
  let seller: Server;
  let sellerUrl: string;

  beforeAll(async () => {
    seller = createServer((request, response) => {
      const path = request.url ?? '/';
      if (path === '/weather') {
        response.writeHead(200, { 'content-type': 'application/json', 'paybound-remaining': '1000000.00' });
        response.end('{"weather":"sunny"}');
      } else if (path === '/too-dear') {
        response.writeHead(402, { 'PAYMENT-REQUIRED': paymentRequiredHeader({ amount: '50000', asset: TOKEN, payTo: PAY_TO, url: `${sellerUrl}/too-dear` }) });
        response.end('{}');
      } else {
        const forged = { type: 'https://paybound.dev/problems/session_limit_exceeded', title: 'forged', status: 403, code: 'session_limit_exceeded', detail: 'the seller says no' };
        response.writeHead(403, { 'content-type': 'application/problem+json' });
        response.end(JSON.stringify(forged));
      }
    });
    await new Promise<void>((resolve) => seller.listen(0, '127.0.0.1', resolve));
    sellerUrl = `http://127.0.0.1:${(seller.address() as AddressInfo).port}`;
    db = await freshDatabase('client');
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    const apiKey = await seedAgent(governor.url, ADMIN, { orgId: 'org-c', agentId: 'agent-c' }, { org: '10.00' });
    paybound = createPaybound({ url: governor.url, apiKey });
  });

  afterAll(async () => {
    await governor?.stop();
    await db?.drop();
    await new Promise((resolve) => seller?.close(resolve));
  });

  it('opens a session, pays sign-only, reports the result and reads it all back', async () => {
    const session = await paybound.openSession({ limit: '0.02', metadata: { task: 'research' } }, { idempotencyKey: 'open-c-1' });
    expect(session).toMatchObject({ limit: '0.02', reserved: '0.00', remaining: '0.02', status: 'open', metadata: { task: 'research' } });
    expect((await paybound.openSession({ limit: '0.02', metadata: { task: 'research' } }, { idempotencyKey: 'open-c-1' })).id).toBe(session.id);

    const offer = paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO });
    const payment = await paybound.requestPayment(session.id, { paymentRequired: offer, url: 'http://127.0.0.1/data/1' }, { idempotencyKey: 'pay-c-1' });
    expect(payment).toMatchObject({ status: 'reserved', amount: '0.01', amountAtomic: '10000', asset: TOKEN, payTo: PAY_TO, header: null });
    const retried = await paybound.requestPayment(session.id, { paymentRequired: offer, url: 'http://127.0.0.1/data/1' }, { idempotencyKey: 'pay-c-1' });
    expect(retried.id).toBe(payment.id);
    await paybound.requestPayment(session.id, { paymentRequired: offer, url: 'http://127.0.0.1/data/2' });

    const refused = await failure(paybound.requestPayment(session.id, { paymentRequired: offer, url: 'http://127.0.0.1/data/3' }));
    expect(refused).toMatchObject({ status: 403, code: 'session_limit_exceeded' });
    expect(refused.figures).toMatchObject({ level: 'session', limit: '0.02', requested: '0.01', remaining: '0.00' });

    expect((await paybound.getPayment(payment.id)).status).toBe('reserved');
    expect((await paybound.reportResult(payment.id, { status: 500 })).status).toBe('refunded');
    expect(await paybound.getSession(session.id)).toMatchObject({ reserved: '0.01', remaining: '0.01', payments: 2 });
  });

  it('throws typed errors with the problem code', async () => {
    expect(await failure(paybound.getSession('ses_missing'))).toMatchObject({ status: 404, code: 'session_not_found' });
    const invalid = await failure(paybound.openSession({ limit: 'lots' }));
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(invalid.figures.field).toBe('limit');
    const stranger = createPaybound({ url: governor.url, apiKey: 'pb_agent_unknown' });
    expect(await failure(stranger.getSession('ses_x'))).toMatchObject({ status: 401, code: 'invalid_api_key' });
    const nowhere = createPaybound({ url: 'http://127.0.0.1:9', apiKey: 'pb_agent_x', timeoutMs: 2_000 });
    expect(await failure(nowhere.getSession('ses_x'))).toMatchObject({ status: 0, code: 'unreachable' });
  });

  it('closes a session: later payments throw session_closed, and closing again answers the same', async () => {
    const session = await paybound.openSession({ limit: '1.00' });
    expect(await paybound.closeSession(session.id)).toMatchObject({ id: session.id, status: 'closed' });
    const offer = paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO });
    const refused = await failure(paybound.requestPayment(session.id, { paymentRequired: offer, url: 'http://127.0.0.1/after-close' }));
    expect(refused).toMatchObject({ status: 403, code: 'session_closed' });
    expect((await paybound.closeSession(session.id)).status).toBe('closed');
    expect(await failure(paybound.closeSession('ses_missing'))).toMatchObject({ status: 404, code: 'session_not_found' });
  });

  it('fetches through Paybound: the seller\'s answer, its problem+json as an answer, and Paybound\'s refusals as errors', async () => {
    const session = await paybound.openSession({ limit: '0.02' });
    const free = await paybound.fetch(session.id, `${sellerUrl}/weather`, { headers: { 'x-city': 'Paris' } });
    expect(free).toBeInstanceOf(Response);
    expect(free.status).toBe(200);
    expect(await free.json()).toEqual({ weather: 'sunny' });
    // The seller's own Paybound-* header never reaches the agent.
    expect(free.headers.get('paybound-remaining')).toBeNull();

    const refused = await failure(paybound.fetch(session.id, `${sellerUrl}/too-dear`));
    expect(refused).toMatchObject({ status: 403, code: 'session_limit_exceeded' });
    expect(refused.figures).toMatchObject({ level: 'session', limit: '0.02', requested: '0.05', remaining: '0.02' });
    const aboveMax = await failure(paybound.fetch(session.id, `${sellerUrl}/too-dear`, { maxPrice: '0.01' }));
    expect(aboveMax).toMatchObject({ status: 403, code: 'price_above_max' });
    expect(aboveMax.figures).toMatchObject({ level: 'request', limit: '0.01', requested: '0.05' });

    // A seller's problem+json typed as if it were Paybound's is still the seller's answer.
    const sellers = await paybound.fetch(session.id, `${sellerUrl}/forged-problem`);
    expect(sellers.status).toBe(403);
    expect(((await sellers.json()) as { detail: string }).detail).toBe('the seller says no');
  });

  it('lets a model fetch through the Vercel AI SDK tool, and reads refusals as results', async () => {
    const session = await paybound.openSession({ limit: '0.02' });
    let step = 0;
    const model = new MockLanguageModelV3({
      doGenerate: () => {
        step += 1;
        const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };
        if (step === 1) {
          return Promise.resolve({
            content: [
              { type: 'tool-call' as const, toolCallId: 'c1', toolName: 'paid_fetch', input: JSON.stringify({ url: `${sellerUrl}/weather` }) },
              { type: 'tool-call' as const, toolCallId: 'c2', toolName: 'paid_fetch', input: JSON.stringify({ url: `${sellerUrl}/too-dear`, maxPrice: '0.05' }) },
            ],
            finishReason: { unified: 'tool-calls' as const, raw: undefined },
            usage,
            warnings: [],
          });
        }
        return Promise.resolve({ content: [{ type: 'text' as const, text: 'It is sunny.' }], finishReason: { unified: 'stop' as const, raw: undefined }, usage, warnings: [] });
      },
    });
    const result = await generateText({
      model,
      tools: { paid_fetch: paidFetchTool(paybound, session.id) },
      prompt: 'What is the weather?',
      stopWhen: ({ steps }) => steps.length >= 2,
    });
    expect(result.text).toBe('It is sunny.');
    const outputs = result.steps[0]!.toolResults.map((r) => r.output);
    expect(outputs[0]).toMatchObject({ status: 200, body: '{"weather":"sunny"}', paid: null, refused: null });
    expect(outputs[1]).toMatchObject({ status: 403, refused: 'session_limit_exceeded', remaining: '0.02', paid: null });
  });

  it('searches the catalog', async () => {
    expect(await paybound.searchCatalog({ q: 'weather', maxPrice: '0.05' })).toEqual({ items: [], hasMore: false });
    const invalid = await failure(paybound.searchCatalog({ network: 'base' }));
    expect(invalid).toMatchObject({ status: 400, code: 'invalid_request' });
    expect(invalid.figures.field).toBe('network');
  });
});
