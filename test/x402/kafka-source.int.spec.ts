import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import type { Hex } from 'viem';
import { orgStreamId } from '../../libs/ledger/org-command-processor.js';
import { deriveNonce } from '../../libs/x402/eip3009.js';
import { call, paymentHeaderNonce, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { startOtlpReceiver, type OtlpReceiver } from '../support/otlp-receiver.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';

const ADMIN = 'test-admin-token-kafka-source';
const SETTLE_WAIT_MS = 30_000;

describe('the settlement worker fed by Kafka instead of the Postgres log', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let receiver: OtlpReceiver;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    kit = await startX402Kit();
    db = await freshDatabase('kafkasource');
    const topic = `paybound.events.v1.worker-${Date.now()}`;
    const kafka = { KAFKA_BROKERS: inject('kafkaBrokers'), KAFKA_TOPIC: topic, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100' };
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      ...kafka,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '20000',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
    });
    worker = await spawnWorker({
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      ...kafka,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
      // Anvil's public development key, derived by the kit at run time: never a real key.
      PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
    });
  });

  afterAll(async () => {
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
    await receiver?.stop();
  });

  it('signs from the Reserved events it consumes, and the payment settles on chain', async () => {
    expect(worker.output()).toContain('"source":"kafka"');
    const key = await seedAgent(governor.url, ADMIN, { orgId: 'org-kafka-worker', agentId: 'agent-kafka-worker' }, { org: '10.00' });
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: '1.00' } });
    const payerBefore = await kit.balanceOf(kit.payer.address);

    const paid = await fetch(`${governor.url}/v1/sessions/${session.body.id}/fetch`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url: kit.seller.dataUrl }),
    });
    expect(paid.status).toBe(200);
    const paymentId = paid.headers.get('Paybound-Payment-Id')!;

    let payment = { status: '', transaction: null as string | null };
    for (const deadline = Date.now() + SETTLE_WAIT_MS; payment.status !== 'settled' && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 200));
      payment = (await call<typeof payment>(governor.url, 'GET', `/v1/payments/${paymentId}`, { key })).body;
    }
    expect(payment.status).toBe('settled');
    const receipt = await kit.publicClient.getTransactionReceipt({ hash: payment.transaction as Hex });
    expect(receipt.status).toBe('success');
    expect(payerBefore - (await kit.balanceOf(kit.payer.address))).toBe(10_000n);

    // It never read Reserved events from the Postgres log: it has no checkpoint there.
    const checkpoints = await db.pool.query("SELECT 1 FROM subscription_checkpoints WHERE name = 'settlement-worker'");
    expect(checkpoints.rowCount).toBe(0);

    // The trace crossed Kafka: the worker's signature span is a child of the governor's
    // Reserve decision, through the traceparent header of the message it consumed.
    let spans = receiver.spans();
    for (const deadline = Date.now() + SETTLE_WAIT_MS; !spans.some((s) => s.name === 'paybound.signature') && Date.now() < deadline; spans = receiver.spans()) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const reserve = spans.find((s) => s.name === 'paybound.decision' && s.attributes['paybound.command'] === 'Reserve' && s.attributes['paybound.intent.id'] === paymentId);
    const signature = spans.find((s) => s.name === 'paybound.signature' && s.attributes['paybound.intent.id'] === paymentId);
    expect(reserve?.service).toBe('paybound-governor');
    expect(signature).toMatchObject({ service: 'paybound-settlement-worker', traceId: reserve?.traceId, parentSpanId: reserve?.spanId, attributes: { 'paybound.outcome': 'signed' } });
  });

  it('signs 30 concurrent sign-only payments from the Reserved events of one partition, each once with its own nonce', async () => {
    const orgId = 'org-kafka-many';
    const key = await seedAgent(governor.url, ADMIN, { orgId, agentId: 'agent-kafka-many' }, { org: '10.00' });
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: '1.00' } });
    const paymentRequired = paymentRequiredHeader({ amount: '1000', asset: kit.token, payTo: kit.seller.payTo, network: kit.network, url: kit.seller.dataUrl });
    const answers = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        call<{ id: string; status: string; header: { name: string; value: string } | null }>(governor.url, 'POST', `/v1/sessions/${session.body.id}/payments`, {
          key,
          body: { paymentRequired, url: `${kit.seller.dataUrl}?n=${index}` },
        }),
      ),
    );
    for (const answer of answers) expect(answer.body).toMatchObject({ status: 'signed', header: { name: 'PAYMENT-SIGNATURE' } });
    const ids = answers.map((a) => a.body.id);
    const nonces = answers.map((a) => paymentHeaderNonce(a.body.header!));
    expect(new Set(nonces).size).toBe(30);
    ids.forEach((id, index) => expect(nonces[index]).toBe(deriveNonce(kit.payer.address, id)));
    const signed = (await db.store.readStream(db.pool, orgStreamId(orgId), 0, 10_000)).filter((e) => e.type === 'PaymentSigned');
    expect(signed.map((e) => (e.data as { intentId: string }).intentId).sort()).toEqual([...ids].sort());
    // One org's events share a partition; several of its signatures were recorded together.
    expect(new Set(signed.map((e) => e.transactionId)).size).toBeLessThan(signed.length);
  });
});
