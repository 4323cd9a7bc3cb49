import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../../apps/governor/config.js';
import { createGovernor, type RunningGovernor } from '../../apps/governor/create-governor.js';
import { isErrorCode } from '../../libs/platform/error-catalogue.js';
import { createLogger } from '../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { rawRequest, type RawAnswer, type RawRequest } from '../support/raw-http.js';
import { changedState, stateFingerprint } from '../support/state-fingerprint.js';

// Hostile input at the boundary (#17 High 1, first half, and Low): every case is refused
// with a 4xx problem naming what is wrong, and nothing is written.

const ROOT = 'root-admin-token-hostile-input';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('hostile input at the boundary', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let base: string;
  let agentKey: string;
  let sessionId: string;

  beforeAll(async () => {
    db = await freshDatabase('hostile_input');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ROOT,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    governor = await createGovernor(config, createLogger('test', 'silent'));
    base = governor.url;
    agentKey = await seedAgent(base, ROOT, { orgId: 'demo', teamId: 'team', agentId: 'agent' }, { org: '100.00' });
    const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '1.00' } });
    expect(session.status).toBe(201);
    sessionId = session.body.id;
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
  });

  const json = (_body: string): [string, string][] => [['Content-Type', 'application/json']];
  const agent = (): [string, string] => ['Authorization', `Bearer ${agentKey}`];
  const admin = (): [string, string] => ['Authorization', `Bearer ${ROOT}`];

  /** Sends the request and asserts a problem with this status and code, and that nothing was written. */
  async function refused(request: RawRequest, status: number, code: string, field?: string): Promise<RawAnswer> {
    const before = await stateFingerprint(db.pool);
    const answer = await rawRequest(base, request);
    expect({ status: answer.status, code: answer.json?.code }, `${request.method} ${request.target.slice(0, 100)}: ${answer.body.toString('utf8').slice(0, 300)}`).toEqual({ status, code });
    expect(answer.header('content-type')).toMatch(/^application\/problem\+json/);
    expect(isErrorCode(String(answer.json?.code))).toBe(true);
    if (field !== undefined) expect(answer.json?.field).toBe(field);
    expect(changedState(before, await stateFingerprint(db.pool))).toEqual([]);
    return answer;
  }

  describe('JSON strings: NUL, lone surrogates and control characters, in values and keys', () => {
    it.each([
      ['NUL in a metadata value', String.raw`{"limit":"0.01","metadata":{"k":"a\u0000"}}`, 'metadata.k'],
      ['a lone high surrogate', String.raw`{"limit":"0.01","metadata":{"k":"\ud800"}}`, 'metadata.k'],
      ['a lone low surrogate', String.raw`{"limit":"0.01","metadata":{"k":"x\udc00y"}}`, 'metadata.k'],
      ['a high surrogate followed by a non-surrogate', String.raw`{"limit":"0.01","metadata":{"k":"\ud800\u0041"}}`, 'metadata.k'],
      ['a C0 control character', String.raw`{"limit":"0.01","metadata":{"k":"\u0007"}}`, 'metadata.k'],
      ['a C1 control character', String.raw`{"limit":"0.01","metadata":{"k":"\u0085"}}`, 'metadata.k'],
      ['DEL', String.raw`{"limit":"0.01","metadata":{"k":"\u007f"}}`, 'metadata.k'],
      ['NUL in a key', String.raw`{"limit":"0.01","metadata":{"k\u0000":"v"}}`, 'metadata.k\\u0000'],
      ['a newline in a key', String.raw`{"limit":"0.01","metadata":{"a\nb":"v"}}`, 'metadata.a\\u000ab'],
      ['NUL in the amount', String.raw`{"limit":"0.01\u0000"}`, 'limit'],
    ])('POST /v1/sessions with %s: 400 naming the field', async (_name, body, field) => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 400, 'invalid_request', field);
    });

    it('keeps a well-formed surrogate pair and tab, newline and carriage return inside values', async () => {
      const body = String.raw`{"limit":"0.01","metadata":{"k":"\ud83d\ude00 line\nnext\ttab\r"}}`;
      const answer = await rawRequest(base, { method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body });
      expect(answer.status).toBe(201);
      expect((answer.json?.metadata as Record<string, string>).k).toBe('\u{1F600} line\nnext\ttab\r');
    });

    it('refuses NUL in the URL of a sign-only payment, naming the field', async () => {
      const body = JSON.stringify({ paymentRequired: paymentRequiredHeader({ amount: '1000', asset: TOKEN, payTo: PAY_TO }), url: 'http://api.example.com/a\u0000b' });
      await refused({ method: 'POST', target: `/v1/sessions/${sessionId}/payments`, headers: [agent(), ...json(body)], body }, 400, 'invalid_request', 'url');
    });

    it('refuses NUL in an admin name', async () => {
      const body = JSON.stringify({ id: 'nul-org', name: 'evil\u0000name', limit: null });
      await refused({ method: 'POST', target: '/admin/v1/orgs', headers: [admin(), ...json(body)], body }, 400, 'invalid_request', 'name');
    });
  });

  describe('the shape of the JSON', () => {
    it('refuses duplicate keys: "limit":"0.01","limit":"99999" opens nothing', async () => {
      const body = '{"limit":"0.01","limit":"99999"}';
      const answer = await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 400, 'invalid_request', 'limit');
      expect(String(answer.json?.detail)).toMatch(/more than once/);
    });

    it('refuses duplicate keys deep inside, naming the path', async () => {
      const body = '{"limit":"0.01","metadata":{"a":"1","b":"2","a":"3"}}';
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 400, 'invalid_request', 'metadata.a');
    });

    it('refuses a 20,000-deep body with 400, not 500', async () => {
      const body = `{"limit":"0.01","metadata":${'['.repeat(20_000)}${']'.repeat(20_000)}}`;
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 400, 'invalid_request');
    });

    it('refuses a 20,000-deep pay-and-fetch body, where any JSON is otherwise allowed', async () => {
      const body = `{"url":"http://api.example.com/x","method":"POST","body":${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}}`;
      await refused({ method: 'POST', target: `/v1/sessions/${sessionId}/fetch`, headers: [agent(), ...json(body)], body }, 400, 'invalid_request');
    });

    it('refuses a number that is not finite', async () => {
      const body = '{"limit":"0.01","expiresInMinutes":1e999}';
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 400, 'invalid_request', 'expiresInMinutes');
    });

    it('answers malformed JSON with invalid_json', async () => {
      const body = '{"limit":"0.01",}';
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 400, 'invalid_json');
    });

    it('keeps the 128 KiB cap', async () => {
      const body = JSON.stringify({ limit: '0.01', metadata: { k: 'x'.repeat(140 * 1024) } });
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 413, 'payload_too_large');
    });
  });

  describe('content type, charset and encoding', () => {
    const valid = '{"limit":"0.01"}';

    it('refuses a form body (curl -d) with 415, not 400 "field required"', async () => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ['Content-Type', 'application/x-www-form-urlencoded']], body: 'limit=0.01' }, 415, 'unsupported_media_type');
    });

    it('refuses a body without a content type with 415', async () => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent()], body: valid }, 415, 'unsupported_media_type');
    });

    it('refuses text/plain with 415', async () => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ['Content-Type', 'text/plain']], body: valid }, 415, 'unsupported_media_type');
    });

    it('refuses UTF-16 declared in the charset with 415', async () => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ['Content-Type', 'application/json; charset=utf-16le']], body: Buffer.from(valid, 'utf16le') }, 415, 'unsupported_media_type');
    });

    it('refuses UTF-16 with a byte order mark and no charset with 415', async () => {
      const body = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(valid, 'utf16le')]);
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json('')], body }, 415, 'unsupported_media_type');
    });

    it('refuses UTF-16 without a byte order mark with 415', async () => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json('')], body: Buffer.from(valid, 'utf16le') }, 415, 'unsupported_media_type');
    });

    it('refuses bytes that are not UTF-8 with 415', async () => {
      const body = Buffer.concat([Buffer.from('{"limit":"0.01","metadata":{"k":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}}')]);
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json('')], body }, 415, 'unsupported_media_type');
    });

    it('refuses a compressed body with 415', async () => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(''), ['Content-Encoding', 'gzip']], body: valid }, 415, 'unsupported_media_type');
    });

    it('accepts application/json with charset=utf-8 and the +json suffix', async () => {
      for (const type of ['application/json; charset=UTF-8', 'application/merge-patch+json']) {
        const answer = await rawRequest(base, { method: 'POST', target: '/v1/sessions', headers: [agent(), ['Content-Type', type]], body: valid });
        expect(answer.status, type).toBe(201);
      }
    });

    it('answers a missing body where one is required with 400', async () => {
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json('')] }, 400, 'invalid_request');
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent()] }, 400, 'invalid_request');
    });
  });

  describe('paths, queries and headers', () => {
    const paths = [
      ['GET', () => '/v1/sessions/%00'],
      ['GET', () => '/v1/sessions/ses_%00x'],
      ['GET', () => '/v1/payments/pay%00'],
      ['POST', () => '/v1/payments/pay%00/result'],
      ['GET', () => '/v1/sessions/%01/stream'],
      ['GET', () => '/admin/v1/orgs/%00/policy'],
      ['GET', () => '/admin/v1/orgs/demo/teams/%00/policy'],
      ['GET', () => '/admin/v1/orgs/demo/agents/a%7F/policy'],
      ['DELETE', () => '/admin/v1/orgs/demo/agents/%00/keys'],
      ['POST', () => '/admin/v1/approvals/%00/approve'],
      ['GET', () => '/admin/v1/webhooks/%00'],
      ['GET', () => '/admin/v1/webhooks/%00/deliveries/1'],
    ] as const;

    it.each(paths)('%s with a control character in a path id: 400 naming the parameter, never 500', async (method, target) => {
      const key = target().startsWith('/admin') ? admin() : agent();
      const body = method === 'POST' && target().endsWith('result') ? '{"status":200}' : undefined;
      const answer = await refused({ method, target: target(), headers: [key, ...(body === undefined ? [] : json(body))], body }, 400, 'invalid_request');
      expect(String(answer.json?.field)).toMatch(/^(id|orgId|teamId|agentId)$/);
    });

    it('refuses a malformed percent escape in a path with 400', async () => {
      await refused({ method: 'GET', target: '/v1/sessions/%E0%A4%A', headers: [agent()] }, 400, 'invalid_request');
      await refused({ method: 'GET', target: '/v1/sessions/%ED%A0%80', headers: [agent()] }, 400, 'invalid_request');
    });

    it.each([
      ['/admin/v1/audit?orgId=%00', 'orgId'],
      ['/admin/v1/audit?actor=a%0Ab', 'actor'],
      ['/v1/catalog?q=%00', 'q'],
      ['/admin/v1/approvals?orgId=%00', 'orgId'],
      ['/admin/v1/webhooks?orgId=x%00', 'orgId'],
      ['/admin/v1/audit?limit=1&limit=500', 'limit'],
      ['/v1/catalog?q=a&q=b', 'q'],
      ['/admin/v1/audit?orgId=%E0%A4%A', 'orgId'],
    ])('GET %s: 400 naming the query parameter', async (target, field) => {
      await refused({ method: 'GET', target, headers: [target.startsWith('/admin') ? admin() : agent()] }, 400, 'invalid_request', field);
    });

    it('answers CR, LF or NUL in a header value with a 400 problem, not a dropped connection', async () => {
      for (const value of ['a\rb', 'a\nb', 'a\u0000b']) {
        const answer = await rawRequest(base, { method: 'GET', target: `/v1/sessions/${sessionId}`, headers: [agent(), ['X-Test', value]] });
        expect(answer.status).toBe(400);
        expect(answer.json?.code).toBe('invalid_request');
      }
    });

    it.each([
      ['Authorization', (key: string) => ['Authorization', `Bearer ${key}`] as [string, string]],
      ['Content-Type', () => ['Content-Type', 'text/plain'] as [string, string]],
      ['Idempotency-Key', () => ['Idempotency-Key', 'second'] as [string, string]],
    ])('refuses %s given twice (400 naming it), whichever copy Node would have kept', async (name, second) => {
      const body = '{"limit":"0.01"}';
      const headers: [string, string][] = [agent(), ...json(body), ['Idempotency-Key', 'first']];
      await refused({ method: 'POST', target: '/v1/sessions', headers: [...headers, second(ROOT)], body }, 400, 'invalid_request', name.toLowerCase());
    });

    it('does not say what it runs on (no X-Powered-By)', async () => {
      const answer = await rawRequest(base, { method: 'GET', target: '/health' });
      expect(answer.status).toBe(200);
      expect(answer.header('x-powered-by')).toBeUndefined();
    });
  });

  describe('amounts', () => {
    it('names the field of an amount it cannot hold', async () => {
      const body = '{"limit":"99999999999999.00"}';
      await refused({ method: 'POST', target: '/v1/sessions', headers: [agent(), ...json(body)], body }, 400, 'invalid_amount', 'limit');
      const budget = '{"limit":"99999999999999.00"}';
      await refused({ method: 'PUT', target: '/admin/v1/orgs/demo/budget', headers: [admin(), ...json(budget)], body: budget }, 400, 'invalid_amount', 'limit');
    });
  });
});
