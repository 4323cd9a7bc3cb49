import { generateText } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
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

  beforeAll(async () => {
    db = await freshDatabase('client');
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    const apiKey = await seedAgent(governor.url, ADMIN, { orgId: 'org-c', agentId: 'agent-c' }, { org: '10.00' });
    paybound = createPaybound({ url: governor.url, apiKey });
  });

  afterAll(async () => {
    await governor?.stop();
    await db?.drop();
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
});

/**
 * POST /v1/sessions/{id}/fetch is being built elsewhere; until it lands, paybound.fetch and
 * the AI SDK tool are checked against a stand-in that answers as API.md specifies (the
 * seller's status, headers and body plus Paybound-* headers, or a Paybound problem).
 */
describe('paybound.fetch and the AI SDK tool against the documented pay-and-fetch answer', () => {
  const requests: { url: string; body: Record<string, unknown>; headers: Headers }[] = [];
  const standIn: typeof fetch = (input, init) => {
    const url = input instanceof Request ? input.url : input.toString();
    const body = JSON.parse(typeof init?.body === 'string' ? init.body : '{}') as Record<string, unknown>;
    requests.push({ url, body, headers: new Headers(init?.headers) });
    if (String(body.url).includes('too-dear')) {
      const problem = { type: 'https://paybound.dev/problems/session_limit_exceeded', title: 'session limit exceeded', status: 403, code: 'session_limit_exceeded', detail: 'payment refused at the session level', level: 'session', limit: '0.02', requested: '0.05', remaining: '0.01' };
      return Promise.resolve(new Response(JSON.stringify(problem), { status: 403, headers: { 'content-type': 'application/problem+json' } }));
    }
    if (String(body.url).includes('seller-error')) {
      const problem = { type: 'https://seller.example/errors/bad', status: 422, detail: 'the seller says no' };
      return Promise.resolve(new Response(JSON.stringify(problem), { status: 422, headers: { 'content-type': 'application/problem+json' } }));
    }
    return Promise.resolve(
      new Response('{"weather":"sunny"}', {
        status: 200,
        headers: { 'content-type': 'application/json', 'paybound-payment-id': 'pay_1', 'paybound-amount': '0.01', 'paybound-remaining': '0.01' },
      }),
    );
  };
  const paybound = createPaybound({ url: 'http://paybound.test/', apiKey: 'pb_agent_k', fetch: standIn });

  it('returns the seller answer as a Response and throws Paybound refusals', async () => {
    const response = await paybound.fetch('ses_1', 'https://api.example.com/weather', { method: 'post', headers: { 'x-city': 'Paris', 'Idempotency-Key': 'f-1' }, body: '{"q":1}', maxPrice: '0.05' });
    expect(response).toBeInstanceOf(Response);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ weather: 'sunny' });
    expect(response.headers.get('Paybound-Amount')).toBe('0.01');
    const sent = requests.at(-1)!;
    expect(sent.url).toBe('http://paybound.test/v1/sessions/ses_1/fetch');
    expect(sent.body).toEqual({ url: 'https://api.example.com/weather', method: 'POST', headers: { 'x-city': 'Paris', 'idempotency-key': 'f-1' }, body: '{"q":1}', maxPrice: '0.05' });
    expect(sent.headers.get('authorization')).toBe('Bearer pb_agent_k');
    expect(sent.headers.get('idempotency-key')).toBe('f-1');

    const refused = await failure(paybound.fetch('ses_1', 'https://api.example.com/too-dear'));
    expect(refused).toMatchObject({ status: 403, code: 'session_limit_exceeded' });
    expect(refused.figures.remaining).toBe('0.01');
    const sellers = await paybound.fetch('ses_1', 'https://api.example.com/seller-error');
    expect(sellers.status).toBe(422);
    expect(((await sellers.json()) as { detail: string }).detail).toBe('the seller says no');
  });

  it('lets a model pay through the Vercel AI SDK tool, and reads refusals as results', async () => {
    let step = 0;
    const model = new MockLanguageModelV3({
      doGenerate: () => {
        step += 1;
        const usage = { inputTokens: { total: 1, noCache: 1, cacheRead: 0, cacheWrite: 0 }, outputTokens: { total: 1, text: 1, reasoning: 0 } };
        if (step === 1) {
          return Promise.resolve({
            content: [
              { type: 'tool-call' as const, toolCallId: 'c1', toolName: 'paid_fetch', input: JSON.stringify({ url: 'https://api.example.com/weather' }) },
              { type: 'tool-call' as const, toolCallId: 'c2', toolName: 'paid_fetch', input: JSON.stringify({ url: 'https://api.example.com/too-dear', maxPrice: '0.05' }) },
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
      tools: { paid_fetch: paidFetchTool(paybound, 'ses_1') },
      prompt: 'What is the weather?',
      stopWhen: ({ steps }) => steps.length >= 2,
    });
    expect(result.text).toBe('It is sunny.');
    const outputs = result.steps[0]!.toolResults.map((r) => r.output);
    expect(outputs[0]).toMatchObject({ status: 200, body: '{"weather":"sunny"}', paid: '0.01', remaining: '0.01', refused: null });
    expect(outputs[1]).toMatchObject({ status: 403, refused: 'session_limit_exceeded', remaining: '0.01', paid: null });
  });
});
