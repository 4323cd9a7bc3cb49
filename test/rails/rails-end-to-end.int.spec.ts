import { Mppx, evm } from 'mppx/client';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';
import { startRailsKit, type RailsKit } from '../../libs/devnet/rails-kit.js';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { orgStreamId } from '../../libs/ledger/org-command-processor.js';
import { encodeBase64Url } from '../../libs/mpp/base64url.js';
import { canonicalJson } from '../../libs/mpp/jcs.js';
import { call, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { checkBudgetInvariants } from '../support/invariants.js';
import { until } from '../support/until.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';

// Issue #19 end to end: the governor and the settlement worker as processes, the official
// peers on anvil (an mppx EVM charge seller whose 402 also carries an x402 offer, an
// @x402/express upto and exact-Permit2 seller, the official facilitator, canonical Permit2
// and x402's proxies). Every figure is read from the chain and the event log.

const ADMIN = 'rails-end-to-end-admin-token';
const ORG_ID = 'org-rails';
const TIMEOUT_MS = 60_000;

interface Session {
  id: string;
  limit: string;
  reserved: string;
  spent: string;
}

describe('every rail through Paybound, against the official peers on anvil', () => {
  let kit: RailsKit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let agentKey: string;

  const orgEvents = (): Promise<RecordedEvent[]> => db.store.readStream(db.pool, orgStreamId(ORG_ID), 0, 100_000);
  const eventsOf = async (type: string, intentId: string) => (await orgEvents()).filter((e) => e.type === type && (e.data as { intentId: string }).intentId === intentId);
  const openSession = async (limit: string): Promise<string> => {
    const opened = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit } });
    expect(opened.status).toBe(201);
    return opened.body.id;
  };
  const session = async (id: string) => (await call<Session>(governor.url, 'GET', `/v1/sessions/${id}`, { key: agentKey })).body;
  const payment = async (id: string) => (await call<Record<string, unknown>>(governor.url, 'GET', `/v1/payments/${id}`, { key: agentKey })).body;
  const fetchVia = (sessionId: string, url: string) => call<Record<string, unknown>>(governor.url, 'POST', `/v1/sessions/${sessionId}/fetch`, { key: agentKey, body: { url } });
  const settledOrRefunded = (id: string) => until(`payment ${id} settled or refunded`, async () => (['settled', 'refunded'].includes(String((await payment(id)).status)) ? true : undefined), TIMEOUT_MS);

  beforeAll(async () => {
    kit = await startRailsKit();
    // The payer allows Permit2 a bounded amount of the plain token (the audited grant is an admin's act; the test stands in for it).
    await kit.approvePermit2(kit.plainToken, 10_000_000n);
    db = await freshDatabase('railse2e');
    const rpc = { [rpcEnvName(kit.network)]: kit.rpcUrl };
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '15000',
      // Both rails cost the same on the mppx route: the configured preference decides.
      PAYBOUND_RAIL_PREFERENCE: 'mpp/evm/charge,x402/exact/eip3009',
      PAYBOUND_ASSETS: JSON.stringify([
        { network: kit.network, address: kit.testToken, decimals: 6, symbol: 'TUSD', eip712: { name: 'Test USD', version: '1' } },
        { network: kit.network, address: kit.plainToken, decimals: 6, symbol: 'PUSD' },
      ]),
      ...rpc,
    });
    worker = await spawnWorker({
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      ...rpc,
      // Anvil's public development key, derived by the kit at run time: never a real key.
      PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
      PAYBOUND_WALLET_CHECK_INTERVAL_MS: '200',
      PAYBOUND_WALLET_FLOORS: JSON.stringify([
        { network: kit.network, asset: kit.testToken },
        { network: kit.network, asset: kit.plainToken },
      ]),
    });
    agentKey = await seedAgent(governor.url, ADMIN, { orgId: ORG_ID, agentId: 'agent-rails' }, { org: '1000.00' });
    // The wallet's address reaches the governor through the worker's first balance reading.
    await until('a wallet reading', async () => (((await db.pool.query('SELECT 1 FROM wallet_balances')).rowCount ?? 0) > 0 ? true : undefined), TIMEOUT_MS);
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
  });

  it('MPP evm/charge: pay-and-fetch sends Accept-Payment, pays the challenge, keeps the receipt; chain and budget agree', async () => {
    const sessionId = await openSession('1.00');
    const before = await kit.balanceOf(kit.testToken, kit.payer.address);
    const started = performance.now();
    const answer = await fetchVia(sessionId, kit.mppUrl);
    const viaPayboundMs = performance.now() - started;
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: 'paid with mpp or x402' });
    const id = answer.headers.get('paybound-payment-id')!;
    await settledOrRefunded(id);
    expect(await kit.balanceOf(kit.testToken, kit.payer.address)).toBe(before - kit.prices.mppAtomic);
    const view = await payment(id);
    expect(view).toMatchObject({ status: 'settled', rail: 'mpp', scheme: 'charge', maxAmount: '0.01', receipt: { header: 'Payment-Receipt', document: { status: 'success', method: 'evm' } } });
    // One 402, two rails: the MPP challenge was chosen by preference, the x402 offer recorded with its reason.
    const [reserved] = await eventsOf('Reserved', id);
    expect(reserved?.data).toMatchObject({ rail: 'mpp', options: { chosen: { id: 'mpp:0' }, rejected: [{ id: 'x402:0', stage: 'ranked', reason: 'rail_preference' }] } });
    expect((await session(sessionId)).spent).toBe('0.01');

    // The official mppx client pays the same route directly, for the latency comparison.
    const mppx = Mppx.create({ methods: [evm.charge({ account: privateKeyToAccount(kit.payer.privateKey), authorization: { name: 'Test USD', version: '1' } })], polyfill: false });
    const direct = performance.now();
    const official = await mppx.fetch(kit.mppUrl, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    await official.arrayBuffer();
    const directMs = performance.now() - direct;
    expect(official.status).toBe(200);
    console.log(`latency, one MPP paid fetch: through Paybound ${viaPayboundMs.toFixed(0)} ms, mppx client directly ${directMs.toFixed(0)} ms`);
  });

  it('MPP sign-only from the challenge alone: the credential echoes the challenge, the runtime sends it, the chain moves exactly the price', async () => {
    const sessionId = await openSession('1.00');
    const unpaid = await fetch(kit.mppUrl, { headers: { 'Accept-Payment': 'evm/charge' } });
    await unpaid.arrayBuffer();
    const challenge = unpaid.headers.get('www-authenticate')!;
    const signed = await call<Record<string, unknown> & { id: string; headers: Record<string, string> }>(governor.url, 'POST', `/v1/sessions/${sessionId}/payments`, {
      key: agentKey,
      body: { challenges: [challenge], url: kit.mppUrl },
    });
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({ status: 'signed', rail: 'mpp', scheme: 'charge', maxAmount: '0.01' });
    const authorization = signed.body.headers['Authorization']!;
    expect(authorization).toMatch(/^Payment /);
    const credential = JSON.parse(Buffer.from(authorization.slice('Payment '.length), 'base64url').toString('utf8')) as { challenge: Record<string, string> };
    expect(challenge).toContain(`request="${credential.challenge['request']}"`);
    const before = await kit.balanceOf(kit.testToken, kit.payer.address);
    const paid = await fetch(kit.mppUrl, { headers: { Authorization: authorization } });
    await paid.arrayBuffer();
    expect(paid.status).toBe(200);
    const reported = await call(governor.url, 'POST', `/v1/payments/${signed.body.id}/result`, { key: agentKey, body: { status: 200, paymentReceipt: paid.headers.get('payment-receipt') ?? undefined } });
    expect(reported.status).toBe(200);
    await settledOrRefunded(signed.body.id);
    expect(await kit.balanceOf(kit.testToken, kit.payer.address)).toBe(before - kit.prices.mppAtomic);
    expect((await session(sessionId)).spent).toBe('0.01');
  });

  it('x402 upto: maximum 0.10 reserved, 0.03 settled on chain, the rest released in the same decision', async () => {
    const sessionId = await openSession('1.00');
    const before = await kit.balanceOf(kit.plainToken, kit.payer.address);
    const started = performance.now();
    const answer = await fetchVia(sessionId, kit.uptoUrl);
    const viaPayboundMs = performance.now() - started;
    if (answer.status !== 200) console.log(JSON.stringify(answer.body), worker.output().slice(-4000));
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: 'metered content', usedAtomic: '30000' });
    const id = answer.headers.get('paybound-payment-id')!;
    const [reserved] = await eventsOf('Reserved', id);
    expect(reserved?.data).toMatchObject({ amountAtomic: 100_000n, amountMicros: 100_000n, rail: 'x402', scheme: 'upto', transfer: 'permit2', metered: true });
    await settledOrRefunded(id);
    expect(await kit.balanceOf(kit.plainToken, kit.payer.address)).toBe(before - 30_000n);
    const [settled] = await eventsOf('Settled', id);
    const [refunded] = await eventsOf('Refunded', id);
    expect(settled?.data).toMatchObject({ amountAtomic: 30_000n, authorizedAtomic: 100_000n, payTo: kit.payTo });
    expect(refunded?.data).toMatchObject({ amountAtomic: 70_000n, reason: 'paid_less' });
    // Spent and released in one decision: one transaction of the log.
    expect(refunded?.transactionId).toBe(settled?.transactionId);
    expect(await session(sessionId)).toMatchObject({ reserved: '0.00', spent: '0.03' });
    expect(await payment(id)).toMatchObject({ status: 'settled', scheme: 'upto', maxAmount: '0.10', amount: '0.03' });
    console.log(`latency, one upto paid fetch through Paybound: ${viaPayboundMs.toFixed(0)} ms`);
  });

  it('x402 exact via Permit2 on a token without EIP-3009: paid, and refused with permit2_allowance_missing once the allowance is spent', async () => {
    const sessionId = await openSession('1.00');
    const before = await kit.balanceOf(kit.plainToken, kit.payer.address);
    const answer = await fetchVia(sessionId, kit.exactPermit2Url);
    expect(answer.status).toBe(200);
    const id = answer.headers.get('paybound-payment-id')!;
    await settledOrRefunded(id);
    expect(await kit.balanceOf(kit.plainToken, kit.payer.address)).toBe(before - kit.prices.exactPermit2Atomic);
    expect(await payment(id)).toMatchObject({ status: 'settled', rail: 'x402', scheme: 'exact', transfer: 'permit2' });

    await kit.approvePermit2(kit.plainToken, 1n);
    const refused = await fetchVia(sessionId, kit.exactPermit2Url);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'permit2_allowance_missing', level: 'wallet' });
    await kit.approvePermit2(kit.plainToken, 10_000_000n);
  });

  it('hostile MPP challenges are refused before anything is reserved: nothing signed, nothing on chain', async () => {
    const sessionId = await openSession('0.005');
    const request = (fields: Record<string, unknown>) =>
      encodeBase64Url(canonicalJson({ amount: '10000', currency: kit.testToken, methodDetails: { chainId: kit.chainId }, recipient: kit.payTo, ...fields }));
    const future = new Date(Date.now() + 300_000).toISOString();
    const challenge = (params: Record<string, string>) =>
      `Payment ${Object.entries({ id: `h-${Math.random()}`, realm: 'hostile', method: 'evm', intent: 'charge', request: request({}), expires: future, ...params })
        .map(([name, value]) => `${name}="${value}"`)
        .join(', ')}`;
    const cases: [string, string, string | undefined][] = [
      ['bad base64url', challenge({ request: 'not*base64url' }), 'mpp_request_invalid'],
      ['expired', challenge({ expires: new Date(Date.now() - 1_000).toISOString() }), 'mpp_challenge_expired'],
      ['digest mismatch', challenge({ digest: `sha-256=${Buffer.alloc(32).toString('base64')}` }), 'mpp_digest_mismatch'],
      // Beyond the auth-param bound the header itself is refused, before any challenge is read.
      ['oversized', challenge({ request: 'A'.repeat(17_000) }), undefined],
      ['unknown intent', challenge({ intent: 'subscription' }), 'mpp_intent_not_supported'],
      ['split to another payee', challenge({ request: request({ methodDetails: { chainId: kit.chainId, splits: [{ amount: '1000', recipient: '0x000000000000000000000000000000000000dEaD' }] } }) }), 'mpp_splits_not_supported'],
    ];
    const eventsBefore = (await orgEvents()).length;
    const balanceBefore = await kit.balanceOf(kit.testToken, kit.payer.address);
    for (const [name, value, reason] of cases) {
      const answer = await call<Record<string, unknown>>(governor.url, 'POST', `/v1/sessions/${sessionId}/payments`, { key: agentKey, body: { challenges: [value], url: kit.mppUrl } });
      expect(answer.status, name).toBe(502);
      expect(answer.body, name).toMatchObject({ code: 'bad_payment_offer', ...(reason === undefined ? {} : { reason }) });
    }
    expect((await orgEvents()).length).toBe(eventsBefore);
    // An amount above what the session has left: refused on the record, nothing reserved.
    const above = await call<Record<string, unknown>>(governor.url, 'POST', `/v1/sessions/${sessionId}/payments`, { key: agentKey, body: { challenges: [challenge({})], url: kit.mppUrl } });
    expect(above.status).toBe(403);
    expect(above.body).toMatchObject({ code: 'session_limit_exceeded' });
    const after = (await orgEvents()).slice(eventsBefore);
    expect(after.map((e) => e.type)).toEqual(['LimitExceeded']);
    expect(await session(sessionId)).toMatchObject({ reserved: '0.00', spent: '0.00' });
    expect(await kit.balanceOf(kit.testToken, kit.payer.address)).toBe(balanceBefore);
  });

  it('the both-rails route paid 20 times in a row and then 20 at once: exactly 20 on chain each run, never 40', async () => {
    for (const mode of ['sequential', 'concurrent'] as const) {
      const sessionId = await openSession('5.00');
      const before = await kit.balanceOf(kit.testToken, kit.payer.address);
      const paidBefore = kit.mppPaidRequestCount();
      const answers =
        mode === 'sequential'
          ? await (async () => {
              const all = [];
              for (let n = 0; n < 20; n++) all.push(await fetchVia(sessionId, kit.mppUrl));
              return all;
            })()
          : await Promise.all(Array.from({ length: 20 }, () => fetchVia(sessionId, kit.mppUrl)));
      for (const answer of answers) expect(answer.status, mode).toBe(200);
      const ids = answers.map((answer) => answer.headers.get('paybound-payment-id')!);
      expect(new Set(ids).size).toBe(20);
      for (const id of ids) await settledOrRefunded(id);
      // Exactly one credential sent per payment, and the chain moved 20 prices.
      expect(kit.mppPaidRequestCount() - paidBefore, mode).toBe(20);
      expect(await kit.balanceOf(kit.testToken, kit.payer.address), mode).toBe(before - 20n * kit.prices.mppAtomic);
      const reserved = (await orgEvents()).filter((e) => e.type === 'Reserved' && ids.includes((e.data as { intentId: string }).intentId));
      expect(reserved).toHaveLength(20);
      for (const event of reserved) expect(event.data, mode).toMatchObject({ options: { chosen: { id: 'mpp:0' }, rejected: [{ id: 'x402:0', reason: 'rail_preference' }] } });
      expect((await session(sessionId)).spent, mode).toBe('0.20');
      console.log(`both-rails route, ${mode}: 20 paid answers, ${kit.mppPaidRequestCount() - paidBefore} credentials sent, chain −${before - (await kit.balanceOf(kit.testToken, kit.payer.address))} atomic`);
    }
    expect(checkBudgetInvariants(await orgEvents()).violations).toEqual([]);
  }, 240_000);
});
