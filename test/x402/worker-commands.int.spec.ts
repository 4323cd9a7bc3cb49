import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordSignature } from '../../libs/domain/budget/commands.js';
import { DomainError } from '../../libs/domain/budget/errors.js';
import { GovernorDecisions, WORKER_COMMANDS_PATH, type WorkerCommand } from '../../libs/settlement/worker-decisions.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, TEST_WORKER_TOKEN, type GovernorProcess } from '../support/governor-process.js';

// The settlement worker's budget commands, decided by the governor over its internal route:
// who may send them, what a refusal looks like on the worker's side, and that nothing a
// refused or malformed command carries reaches the ledger.

const ADMIN = 'test-admin-token-worker-commands';
const ORG_ID = 'org-worker-commands';
const USDC_BASE = '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913';
const PAY_TO = '0x2222222222222222222222222222222222222222';
const PAYER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const NONCE = `0x${'ab'.repeat(32)}`;
const TRANSACTION = `0x${'cd'.repeat(32)}`;

describe('worker commands over the governor: the org keeps one writer', () => {
  let db: TestDatabase;
  let governor: GovernorProcess;
  let withoutWorkerToken: GovernorProcess;
  let decisions: GovernorDecisions;
  let agentKey: string;

  const reserve = async (): Promise<string> => {
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '1.00' } });
    expect(session.status).toBe(201);
    const paymentRequired = paymentRequiredHeader({ amount: '10000', asset: USDC_BASE, payTo: PAY_TO, network: 'eip155:8453' });
    const payment = await call<{ id: string; status: string }>(governor.url, 'POST', `/v1/sessions/${session.body.id}/payments`, { key: agentKey, body: { paymentRequired, url: 'https://seller.example.test/data' } });
    expect({ status: payment.status, paymentStatus: payment.body.status }).toEqual({ status: 202, paymentStatus: 'reserved' });
    return payment.body.id;
  };
  const signature = (intentId: string): RecordSignature => ({
    type: 'RecordSignature',
    orgId: ORG_ID,
    actor: 'worker:settlement',
    at: new Date().toISOString(),
    intentId,
    scheme: 'exact',
    payer: PAYER,
    nonce: NONCE,
    validAfter: new Date(0).toISOString(),
    // Within the reservation's own validBefore, as the worker's plan always is.
    validBefore: new Date(Date.now() + 5_000).toISOString(),
  });
  const refusalCode = (promise: Promise<unknown>) =>
    promise.then(
      () => 'decided',
      (error: unknown) => (error instanceof DomainError ? error.code : `not a domain refusal: ${String(error)}`),
    );
  const eventsOf = async (intentId: string) =>
    (await db.pool.query<{ type: string; actor: string }>(`SELECT type, metadata->>'actor' AS actor FROM events WHERE data->>'intentId' = $1 ORDER BY global_position`, [intentId])).rows;

  beforeAll(async () => {
    db = await freshDatabase('worker_commands');
    // Base's USDC is payable here as if an RPC endpoint were configured; no worker runs.
    governor = await spawnGovernor({ DATABASE_URL: db.url, PAYBOUND_ADMIN_TOKEN: ADMIN, PAYBOUND_SIGN_WAIT_MS: '0', PAYBOUND_PAYABLE_NETWORKS: 'eip155:8453' });
    withoutWorkerToken = await spawnGovernor({ DATABASE_URL: db.url, PAYBOUND_ADMIN_TOKEN: ADMIN, PAYBOUND_WORKER_TOKEN: '' });
    decisions = new GovernorDecisions({ governorUrl: governor.url, token: TEST_WORKER_TOKEN, timeoutMs: 10_000 });
    agentKey = await seedAgent(governor.url, ADMIN, { orgId: ORG_ID, agentId: 'agent-worker-commands' }, { org: '10.00' });
  });
  afterAll(async () => {
    await Promise.all([governor?.stop(), withoutWorkerToken?.stop()]);
    await db?.drop();
  });

  it('records a signature once, refuses another one or releasing the signed payment as never signed, and settles it', async () => {
    const intentId = await reserve();
    const signed = signature(intentId);
    expect(await decisions.submit(signed)).toEqual({ events: [expect.objectContaining({ type: 'PaymentSigned' })] });
    // A worker that restarted sends the same command again: decided already, nothing appended.
    expect(await decisions.submit(signed)).toEqual({ events: [] });
    expect(await refusalCode(decisions.submit({ ...signed, nonce: `0x${'ef'.repeat(32)}` }))).toBe('payment_already_signed');
    const release: WorkerCommand = { type: 'Release', orgId: ORG_ID, actor: 'worker:settlement', at: new Date().toISOString(), intentId, reason: 'no_wallet_for_network', proof: { kind: 'never_signed' } };
    expect(await refusalCode(decisions.submit(release))).toBe('release_not_proven');
    const settle = (amountAtomic: bigint): WorkerCommand => ({ type: 'Settle', orgId: ORG_ID, actor: 'worker:settlement', at: new Date().toISOString(), intentId, amountAtomic, network: 'eip155:8453', transaction: TRANSACTION, payer: PAYER });
    expect(await refusalCode(decisions.submit(settle(10_001n)))).toBe('settle_exceeds_reserved');
    expect(await decisions.submit(settle(10_000n))).toEqual({ events: [expect.objectContaining({ type: 'Settled' })] });
    // The actor on the events is who authenticated, whatever the command said.
    expect(await eventsOf(intentId)).toEqual([
      { type: 'Reserved', actor: 'agent:agent-worker-commands' },
      { type: 'PaymentSigned', actor: 'worker:settlement' },
      { type: 'Settled', actor: 'worker:settlement' },
    ]);
  });

  it('takes worker commands only with the worker token, and only where one is configured', async () => {
    const intentId = await reserve();
    const post = (url: string, token: string | undefined, body: unknown) =>
      fetch(new URL(WORKER_COMMANDS_PATH, url), { method: 'POST', headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) }, body: JSON.stringify(body) }).then(async (r) => ({ status: r.status, code: ((await r.json()) as { code?: string }).code }));
    const { actor: _actor, ...body } = signature(intentId);
    expect(await post(governor.url, undefined, body)).toEqual({ status: 401, code: 'unauthenticated' });
    expect(await post(governor.url, agentKey, body)).toEqual({ status: 403, code: 'forbidden' });
    expect(await post(withoutWorkerToken.url, TEST_WORKER_TOKEN, body)).toEqual({ status: 403, code: 'forbidden' });
    // Agents' commands are not worker commands, and a malformed one is refused before deciding.
    expect(await post(governor.url, TEST_WORKER_TOKEN, { ...body, type: 'Reserve' })).toEqual({ status: 400, code: 'invalid_request' });
    expect(await post(governor.url, TEST_WORKER_TOKEN, { ...body, nonce: 'not-a-nonce' })).toEqual({ status: 400, code: 'invalid_request' });
    // A worker with the wrong token learns it failed, not that the ledger refused: it tries again later.
    const wrongToken = new GovernorDecisions({ governorUrl: governor.url, token: 'not-the-worker-token', timeoutMs: 10_000 });
    await expect(wrongToken.submit(signature(intentId))).rejects.toThrow(/403 forbidden/);
    expect((await eventsOf(intentId)).map((e) => e.type)).toEqual(['Reserved']);
  });

  it('fails as not decided, not as refused, when the governor cannot be reached', async () => {
    const unreachable = new GovernorDecisions({ governorUrl: 'http://127.0.0.1:9', token: TEST_WORKER_TOKEN, timeoutMs: 2_000 });
    const outcome = await unreachable.submit(signature('pay_unreachable')).then(
      () => 'decided',
      (error: unknown) => (error instanceof DomainError ? 'refused' : 'failed'),
    );
    expect(outcome).toBe('failed');
  });
});
