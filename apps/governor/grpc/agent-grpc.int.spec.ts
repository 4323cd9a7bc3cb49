import { status, type ServiceError } from '@grpc/grpc-js';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';
import { AgentGrpcServer } from './agent-grpc-server.js';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { connectAgentClient, type GrpcAgentClient, type GrpcPayment, type GrpcSession } from '../../../test/support/grpc-agent-client.js';

const ADMIN = 'test-admin-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('the agent API over gRPC', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let client: GrpcAgentClient;
  let key: string;
  // A seller on loopback for PaidFetch: a free answer that pretends to be Paybound, and a 402.
  let seller: Server;
  let sellerUrl: string;
  const sellerCalls = new Map<string, number>();

  beforeAll(async () => {
    seller = createServer((request, response) => {
      const url = request.url ?? '/';
      sellerCalls.set(url, (sellerCalls.get(url) ?? 0) + 1);
      if (url.startsWith('/free')) {
        response.writeHead(200, { 'content-type': 'text/plain', 'x-seller': 'yes', 'Paybound-Remaining': '1000000.00' });
        response.end('free data');
      } else {
        response.writeHead(402, { 'PAYMENT-REQUIRED': paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO, url: `${sellerUrl}${url}` }) });
        response.end('{}');
      }
    });
    await new Promise<void>((resolve) => seller.listen(0, '127.0.0.1', resolve));
    sellerUrl = `http://127.0.0.1:${(seller.address() as AddressInfo).port}`;
    db = await freshDatabase('grpc');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_FETCH_PRIVATE_ADDRESSES: 'allow',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    // GRPC_PORT is read from the environment at start, as the governor process reads it.
    process.env.GRPC_PORT = '0';
    try {
      governor = await createGovernor(config, createLogger('test', 'warn'));
    } finally {
      delete process.env.GRPC_PORT;
    }
    const port = governor.app.get(AgentGrpcServer).port;
    if (port === undefined || port <= 0) throw new Error('the gRPC server did not start');
    client = connectAgentClient(port, () => key);
    key = await seedAgent(governor.url, ADMIN, { orgId: 'org-g', teamId: 'team-g', agentId: 'agent-g' }, { org: '10.00' });
  });

  afterAll(async () => {
    client?.close();
    await governor?.close();
    await db?.drop();
    await new Promise((resolve) => seller?.close(resolve));
  });

  async function refusal(promise: Promise<unknown>): Promise<{ code: number; paybound: string; detail: string; problem: Record<string, unknown> }> {
    const error = await promise.then(
      () => expect.unreachable('the call should have failed'),
      (e: unknown) => e as ServiceError,
    );
    return {
      code: error.code,
      paybound: String(error.metadata.get('paybound-code')[0]),
      detail: String(error.metadata.get('paybound-detail')[0]),
      problem: JSON.parse(String(error.metadata.get('paybound-problem')[0])) as Record<string, unknown>,
    };
  }

  const offer = paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO });

  it('opens, reads, pays, refuses and watches a session', async () => {
    const opened = await client.unary<{ session: GrpcSession }>('openSession', { limit: '0.02', maxPayments: 5, metadata: { run: 'grpc-1' }, idempotencyKey: 'open-g-1' });
    expect(opened.session).toMatchObject({ limit: '0.02', reserved: '0.00', remaining: '0.02', status: 'SESSION_STATUS_OPEN', payments: 0, maxPayments: 5, metadata: { run: 'grpc-1' } });
    expect(opened.session.id).toMatch(/^ses_/);
    const sessionId = opened.session.id;

    // The same idempotency key answers the first session, over gRPC and over REST alike.
    const again = await client.unary<{ session: GrpcSession }>('openSession', { limit: '0.02', maxPayments: 5, metadata: { run: 'grpc-1' }, idempotencyKey: 'open-g-1' });
    expect(again.session.id).toBe(sessionId);
    const overRest = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: '0.02', maxPayments: 5, metadata: { run: 'grpc-1' } }, headers: { 'Idempotency-Key': 'open-g-1' } });
    expect(overRest.body.id).toBe(sessionId);

    const got = await client.unary<{ session: GrpcSession }>('getSession', { sessionId });
    expect(got.session).toMatchObject({ id: sessionId, remaining: '0.02' });

    // Watch from now on; the first message is the balance as it is.
    const seen: GrpcSession[] = [];
    const stream = client.watchSession<{ session: GrpcSession }>({ sessionId, maxDurationSeconds: 60 });
    const streamEnded = new Promise<ServiceError | null>((resolve) => {
      stream.on('error', (e: ServiceError) => resolve(e));
      stream.on('end', () => resolve(null));
    });
    stream.on('data', (m: { session: GrpcSession }) => seen.push(m.session));
    // The watch reads its first balance on its own time: pay only once it has.
    await expect.poll(() => seen.length, { timeout: 5_000, interval: 20 }).toBe(1);

    const paid = await client.unary<{ payment: GrpcPayment; header?: unknown }>('requestPayment', { sessionId, paymentRequired: offer, url: 'http://127.0.0.1/data/1', idempotencyKey: 'pay-g-1' });
    expect(paid.payment).toMatchObject({ status: 'PAYMENT_STATUS_RESERVED', amount: '0.01', amountAtomic: '10000' });
    expect(paid.header).toBeUndefined();
    const retried = await client.unary<{ payment: GrpcPayment }>('requestPayment', { sessionId, paymentRequired: offer, url: 'http://127.0.0.1/data/1', idempotencyKey: 'pay-g-1' });
    expect(retried.payment.id).toBe(paid.payment.id);

    // A payment made over REST shows on the gRPC stream.
    const rest = await call<{ id: string }>(governor.url, 'POST', `/v1/sessions/${sessionId}/payments`, { key, body: { paymentRequired: offer, url: 'http://127.0.0.1/data/2' } });
    expect(rest.status).toBe(202);
    await expect.poll(() => seen.at(-1)?.reserved, { timeout: 5_000, interval: 50 }).toBe('0.02');
    expect(seen[0]).toMatchObject({ id: sessionId, reserved: '0.00' });
    expect(seen.at(-1)).toMatchObject({ remaining: '0.00', payments: 2 });

    const refused = await refusal(client.unary('requestPayment', { sessionId, paymentRequired: offer, url: 'http://127.0.0.1/data/3' }));
    expect(refused.code).toBe(status.PERMISSION_DENIED);
    expect(refused.paybound).toBe('session_limit_exceeded');
    expect(refused.problem).toMatchObject({ status: 403, code: 'session_limit_exceeded', level: 'session', limit: '0.02', requested: '0.01', remaining: '0.00' });

    // Reporting the seller's refusal of a payment never signed releases the hold.
    const reported = await client.unary<{ payment: GrpcPayment }>('reportResult', { paymentId: paid.payment.id, httpStatus: 500 });
    expect(reported.payment.status).toBe('PAYMENT_STATUS_REFUNDED');
    await expect.poll(() => seen.at(-1)?.reserved, { timeout: 5_000, interval: 50 }).toBe('0.01');

    stream.cancel();
    expect((await streamEnded)?.code).toBe(status.CANCELLED);
    await expect.poll(() => governor.app.get(AgentGrpcServer).activeWatchers, { timeout: 2_000 }).toBe(0);
  });

  it('answers the REST problems with gRPC status codes and the code in trailing metadata', async () => {
    const anonymous = await refusal(client.unary('getSession', { sessionId: 'ses_x' }, null));
    expect([anonymous.code, anonymous.paybound]).toEqual([status.UNAUTHENTICATED, 'unauthenticated']);
    const badKey = await refusal(client.unary('getSession', { sessionId: 'ses_x' }, 'pb_agent_not-a-key'));
    expect([badKey.code, badKey.paybound]).toEqual([status.UNAUTHENTICATED, 'invalid_api_key']);
    const missing = await refusal(client.unary('getSession', { sessionId: 'ses_does_not_exist' }));
    expect([missing.code, missing.paybound]).toEqual([status.NOT_FOUND, 'session_not_found']);
    const invalid = await refusal(client.unary('openSession', { limit: 'two dollars' }));
    expect([invalid.code, invalid.paybound, invalid.problem.field]).toEqual([status.INVALID_ARGUMENT, 'invalid_request', 'limit']);
    const { session } = await client.unary<{ session: GrpcSession }>('openSession', { limit: '1.00' });
    const hostile = await refusal(client.unary('requestPayment', { sessionId: session.id, paymentRequired: 'not base64 json', url: 'http://127.0.0.1/x' }));
    expect([hostile.code, hostile.paybound]).toEqual([status.UNAVAILABLE, 'bad_payment_offer']);
    const reused = await client.unary<{ payment: GrpcPayment }>('requestPayment', { sessionId: session.id, paymentRequired: offer, url: 'http://127.0.0.1/a', idempotencyKey: 'k-1' });
    expect(reused.payment.status).toBe('PAYMENT_STATUS_RESERVED');
    const conflict = await refusal(client.unary('requestPayment', { sessionId: session.id, paymentRequired: offer, url: 'http://127.0.0.1/b', idempotencyKey: 'k-1' }));
    expect([conflict.code, conflict.paybound]).toEqual([status.FAILED_PRECONDITION, 'idempotency_key_reused']);
    const watchTooLong = client.watchSession<unknown>({ sessionId: session.id, maxDurationSeconds: 100_000 });
    const watchError = await new Promise<ServiceError>((resolve) => watchTooLong.on('error', resolve));
    expect(watchError.code).toBe(status.INVALID_ARGUMENT);
  });

  // a6f3337: the key was hashed with the REST route and body, so the same payment sent as an
  // object over REST and as JSON text over gRPC was two requests: 422 idempotency_key_reused.
  it('takes one Idempotency-Key for one payment over REST and gRPC, whatever encoding carried the offer', async () => {
    const { session } = await client.unary<{ session: GrpcSession }>('openSession', { limit: '1.00' });
    const v2 = JSON.parse(Buffer.from(offer, 'base64').toString('utf8')) as Record<string, unknown>;
    const overRest = await call<{ id: string; status: string }>(governor.url, 'POST', `/v1/sessions/${session.id}/payments`, {
      key,
      body: { paymentRequired: v2, url: 'http://127.0.0.1/same' },
      headers: { 'Idempotency-Key': 'same-payment' },
    });
    expect(overRest.status).toBe(202);
    const overGrpc = await client.unary<{ payment: GrpcPayment }>('requestPayment', { sessionId: session.id, paymentRequired: JSON.stringify(v2), url: 'http://127.0.0.1/same', idempotencyKey: 'same-payment' });
    expect(overGrpc.payment.id).toBe(overRest.body.id);
    const asHeader = await client.unary<{ payment: GrpcPayment }>('requestPayment', { sessionId: session.id, paymentRequired: offer, url: 'http://127.0.0.1/same', idempotencyKey: 'same-payment' });
    expect(asHeader.payment.id).toBe(overRest.body.id);
    const reserved = await db.pool.query(`SELECT 1 FROM events WHERE type = 'Reserved' AND data->>'sessionId' = $1`, [session.id]);
    expect(reserved.rowCount).toBe(1);
  });

  // a6f3337: no CloseSession (UNIMPLEMENTED).
  it('closes a session with CloseSession: payments are refused with session_closed, and closing again answers the same', async () => {
    const { session } = await client.unary<{ session: GrpcSession }>('openSession', { limit: '1.00' });
    const closed = await client.unary<{ session: GrpcSession }>('closeSession', { sessionId: session.id });
    expect(closed.session).toMatchObject({ id: session.id, status: 'SESSION_STATUS_CLOSED' });
    const refused = await refusal(client.unary('requestPayment', { sessionId: session.id, paymentRequired: offer, url: 'http://127.0.0.1/closed' }));
    expect([refused.code, refused.paybound]).toEqual([status.PERMISSION_DENIED, 'session_closed']);
    expect((await client.unary<{ session: GrpcSession }>('closeSession', { sessionId: session.id })).session.status).toBe('SESSION_STATUS_CLOSED');
    const missing = await refusal(client.unary('closeSession', { sessionId: 'ses_nope' }));
    expect([missing.code, missing.paybound]).toEqual([status.NOT_FOUND, 'session_not_found']);
  });

  // Before: no PaidFetch (UNIMPLEMENTED); pay-and-fetch was REST only.
  it('pays and fetches with PaidFetch: the seller\'s answer without its Paybound-* headers, and one payment for a retried key over gRPC and REST', async () => {
    const { session } = await client.unary<{ session: GrpcSession }>('openSession', { limit: '1.00' });
    type Answer = { status: number; headers: { name: string; value: string }[]; body: Buffer; payment?: { id: string; amount: string }; replayed: boolean };
    const free = await client.unary<Answer>('paidFetch', { sessionId: session.id, url: `${sellerUrl}/free`, headers: { 'x-agent': 'a' } });
    expect(free.status).toBe(200);
    expect(free.body.toString('utf8')).toBe('free data');
    expect(free.headers).toEqual(expect.arrayContaining([{ name: 'x-seller', value: 'yes' }]));
    expect(free.headers.filter((h) => h.name.toLowerCase().startsWith('paybound-'))).toEqual([]);
    expect([free.payment, free.replayed]).toEqual([undefined, false]);

    // No worker signs here: the first answer is Paybound's payment_not_signed, an error over gRPC.
    const url = `${sellerUrl}/paid?run=grpc`;
    const first = await refusal(client.unary('paidFetch', { sessionId: session.id, url, idempotencyKey: 'fetch-g-1' }));
    expect([first.code, first.paybound]).toEqual([status.UNAVAILABLE, 'payment_not_signed']);
    const paymentId = first.problem.paymentId as string;
    expect(paymentId).toMatch(/^pay_/);
    const retried = await client.unary('paidFetch', { sessionId: session.id, url, idempotencyKey: 'fetch-g-1' }).then(
      () => expect.unreachable('the retry should fail as the first call did'),
      (e: unknown) => e as ServiceError,
    );
    expect(retried.code).toBe(status.UNAVAILABLE);
    expect(retried.metadata.get('paybound-idempotent-replay')).toEqual(['true']);
    expect(JSON.parse(String(retried.metadata.get('paybound-problem')[0]))).toEqual(first.problem);
    // The same key over REST is the same request: the first answer again.
    const overRest = await call<Record<string, unknown>>(governor.url, 'POST', `/v1/sessions/${session.id}/fetch`, { key, body: { url }, headers: { 'Idempotency-Key': 'fetch-g-1' } });
    expect(overRest.status).toBe(503);
    expect(overRest.headers.get('paybound-idempotent-replay')).toBe('true');
    expect(overRest.headers.get('paybound-payment-id')).toBe(paymentId);
    expect(sellerCalls.get('/paid?run=grpc')).toBe(1);
    const reserved = await db.pool.query(`SELECT data->>'intentId' AS id FROM events WHERE type = 'Reserved' AND data->>'sessionId' = $1`, [session.id]);
    expect(reserved.rows).toEqual([{ id: paymentId }]);
  });

  it('ends a watch when its duration is over', async () => {
    const { session } = await client.unary<{ session: GrpcSession }>('openSession', { limit: '1.00' });
    const stream = client.watchSession<{ session: GrpcSession }>({ sessionId: session.id, maxDurationSeconds: 1 });
    const messages: unknown[] = [];
    stream.on('data', (m) => messages.push(m));
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      stream.on('end', () => resolve());
      stream.on('error', reject);
    });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(messages).toHaveLength(1);
  });
});
