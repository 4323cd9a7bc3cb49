import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { orgStreamId } from '../../libs/ledger/org-command-processor.js';
import { WORKER_CHECKPOINT } from '../../libs/settlement/settlement-worker.js';
import { deriveNonce } from '../../libs/x402/eip3009.js';
import { call, paymentHeaderNonce, paymentRequiredHeader, seedAgent, type ApiAnswer } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { checkBudgetInvariants } from '../support/invariants.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';

const ADMIN = 'test-admin-token-concurrent-signing';
const ORG_ID = 'org-concurrent-signing';

interface SignedPayment {
  id: string;
  status: string;
  header: { name: string; value: string } | null;
}

describe('many sign-only payments at once through the governor and worker processes', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let workerEnv: Record<string, string>;
  const workers: WorkerProcess[] = [];
  let agentKey: string;

  /** `count` sign-only requests at once, in one session; resolves when every one was answered. */
  const requestPayments = async (count: number): Promise<ApiAnswer<SignedPayment>[]> => {
    const paymentRequired = paymentRequiredHeader({ amount: '1000', asset: kit.token, payTo: kit.seller.payTo, network: kit.network, url: kit.seller.dataUrl });
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '10.00' } });
    expect(session.status).toBe(201);
    return Promise.all(
      Array.from({ length: count }, (_, index) =>
        call<SignedPayment>(governor.url, 'POST', `/v1/sessions/${session.body.id}/payments`, { key: agentKey, body: { paymentRequired, url: `${kit.seller.dataUrl}?n=${index}` } }),
      ),
    );
  };
  const orgEvents = (): Promise<RecordedEvent[]> => db.store.readStream(db.pool, orgStreamId(ORG_ID), 0, 10_000);
  const expectEachSignedOnce = async (answers: readonly ApiAnswer<SignedPayment>[]) => {
    for (const answer of answers) {
      expect(answer.status).toBe(201);
      expect(answer.body).toMatchObject({ status: 'signed', header: { name: 'PAYMENT-SIGNATURE' } });
    }
    const ids = answers.map((a) => a.body.id);
    const nonces = answers.map((a) => paymentHeaderNonce(a.body.header!));
    expect(new Set(nonces).size).toBe(ids.length);
    ids.forEach((id, index) => expect(nonces[index]).toBe(deriveNonce(kit.payer.address, id)));
    const signed = (await orgEvents()).filter((e) => e.type === 'PaymentSigned' && ids.includes((e.data as { intentId: string }).intentId));
    expect(signed).toHaveLength(ids.length);
    const rows = await db.pool.query<{ intent_id: string; header_value: string }>('SELECT intent_id, header_value FROM payment_signatures WHERE intent_id = ANY($1::text[])', [ids]);
    expect(rows.rowCount).toBe(ids.length);
    // The answer carried the very header that was stored.
    const stored = new Map(rows.rows.map((r) => [r.intent_id, r.header_value]));
    for (const answer of answers) expect(stored.get(answer.body.id)).toBe(answer.body.header!.value);
  };

  beforeAll(async () => {
    kit = await startX402Kit();
    db = await freshDatabase('concsign');
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '30000',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
    });
    workerEnv = {
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
      // Anvil's public development key, derived by the kit at run time: never a real key.
      PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
    };
    agentKey = await seedAgent(governor.url, ADMIN, { orgId: ORG_ID, agentId: 'agent-concurrent' }, { org: '1000.00' });
  });

  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
  });

  it('signs 60 concurrent sign-only payments, each exactly once with its own intent-derived nonce', async () => {
    const worker = await spawnWorker(workerEnv);
    workers.push(worker);
    const answers = await requestPayments(60);
    await expectEachSignedOnce(answers);
    // The worker handled them concurrently: several signatures were recorded in one transaction.
    const signed = (await orgEvents()).filter((e) => e.type === 'PaymentSigned');
    expect(new Set(signed.map((e) => e.transactionId)).size).toBeLessThan(signed.length);
    await worker.stop();
  });

  it('a worker SIGKILLed in the middle of its work (after its 10th recorded signature) and restarted signs the rest, none twice', async () => {
    const faulty = await spawnWorker({ ...workerEnv, PAYBOUND_WORKER_FAULT: 'exit_after_record', PAYBOUND_WORKER_FAULT_AFTER: '10', PAYBOUND_WORKER_SIGN_CONCURRENCY: '8' });
    workers.push(faulty);
    const pending = requestPayments(40);
    const ended = await faulty.exited;
    expect(ended.signal).toBe('SIGKILL');
    expect(faulty.output()).toContain('test-only fault injection: killing the worker');

    // What the killed worker left: its checkpoint passed only reservations whose header is stored.
    const passedWithoutHeader = await db.pool.query(
      `SELECT e.data->>'intentId' AS intent_id FROM events e
       JOIN subscription_checkpoints c ON c.name = $1 AND (e.transaction_id, e.global_position) <= (c.transaction_id, c.global_position)
       WHERE e.type = 'Reserved' AND NOT EXISTS (SELECT 1 FROM payment_signatures s WHERE s.intent_id = e.data->>'intentId')`,
      [WORKER_CHECKPOINT],
    );
    expect(passedWithoutHeader.rows).toEqual([]);
    const signedBeforeRestart = (await orgEvents()).filter((e) => e.type === 'PaymentSigned').length;

    const worker = await spawnWorker(workerEnv);
    workers.push(worker);
    const answers = await pending;
    await expectEachSignedOnce(answers);
    // The kill came in the middle: some of these were signed before it, the rest after.
    expect(signedBeforeRestart - 60).toBeGreaterThanOrEqual(10);
    expect(signedBeforeRestart - 60).toBeLessThan(40);
    const report = checkBudgetInvariants(await orgEvents());
    expect(report.violations).toEqual([]);
  });
});
