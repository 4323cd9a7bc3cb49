import type { ServiceError } from '@grpc/grpc-js';
import type { Hex } from 'viem';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../libs/platform/processes.js';
import { parsePaymentResponse } from '../../libs/x402/headers.js';
import { seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { connectAgentClient, type GrpcAgentClient, type GrpcPayment, type GrpcSession } from '../support/grpc-agent-client.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';

const ADMIN = 'test-admin-token-grpc-paid';
const PRICE_ATOMIC = 10_000n;
const SETTLE_WAIT_MS = 20_000;



describe('a paid request over gRPC against the official x402 seller on anvil', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let client: GrpcAgentClient;
  let key: string;

  beforeAll(async () => {
    kit = await startX402Kit();
    db = await freshDatabase('grpc_paid');
    const grpcPort = await freePort();
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      GRPC_PORT: String(grpcPort),
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      // RequestPayment waits this long for the worker's signature, so the header comes back in the answer.
      PAYBOUND_SIGN_WAIT_MS: '10000',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
    });
    // The development key variable with the kit's funded anvil payer; the governor holds no key.
    worker = await spawnWorker({
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
    });
    key = await seedAgent(governor.url, ADMIN, { orgId: 'org-grpc-paid', agentId: 'agent-grpc-paid' }, { org: '10.00' });
    client = connectAgentClient(grpcPort, () => key);
  });

  afterAll(async () => {
    client?.close();
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
  });

  it('opens a session, pays the seller through a sign-only payment, and watches spent go from 0.00 to 0.01', async () => {
    const { session } = await client.unary<{ session: GrpcSession }>('openSession', { limit: '1.00', metadata: { run: 'grpc-paid' }, idempotencyKey: 'open-grpc-paid' });
    expect(session).toMatchObject({ limit: '1.00', reserved: '0.00', spent: '0.00', remaining: '1.00' });

    const seen: GrpcSession[] = [];
    const stream = client.watchSession<{ session: GrpcSession }>({ sessionId: session.id, maxDurationSeconds: 120 });
    const streamEnded = new Promise<ServiceError | null>((resolve) => {
      stream.on('error', (e: ServiceError) => resolve(e));
      stream.on('end', () => resolve(null));
    });
    stream.on('data', (m: { session: GrpcSession }) => seen.push(m.session));
    await expect.poll(() => seen.length, { timeout: 5_000, interval: 50 }).toBeGreaterThan(0);

    const payerBefore = await kit.balanceOf(kit.payer.address);
    const sellerBefore = await kit.balanceOf(kit.seller.payTo);
    const unpaid = await fetch(kit.seller.dataUrl);
    expect(unpaid.status).toBe(402);
    await unpaid.arrayBuffer();
    const paymentRequired = unpaid.headers.get('PAYMENT-REQUIRED');
    expect(paymentRequired).toBeTruthy();

    const requested = await client.unary<{ payment: GrpcPayment; header?: { name: string; value: string } }>('requestPayment', {
      sessionId: session.id,
      paymentRequired,
      url: kit.seller.dataUrl,
      idempotencyKey: 'pay-grpc-paid-1',
    });
    expect(requested.payment).toMatchObject({ status: 'PAYMENT_STATUS_SIGNED', amount: '0.01', amountAtomic: '10000', resource: kit.seller.dataUrl });
    expect(requested.header?.name).toBe('PAYMENT-SIGNATURE');
    // The price is held while the payment is open. The watch polls every 250 ms, and the
    // seller may settle sooner than that, so the hold is watched for before the seller is paid.
    await expect.poll(() => seen.at(-1), { timeout: 5_000, interval: 50 }).toMatchObject({ reserved: '0.01', spent: '0.00' });

    // The runtime pays the seller itself, with plain fetch and the header Paybound signed.
    const paid = await fetch(kit.seller.dataUrl, { headers: { [requested.header!.name]: requested.header!.value } });
    expect(paid.status).toBe(200);
    expect(await paid.json()).toMatchObject({ data: 'paid content' });
    const paymentResponse = paid.headers.get('PAYMENT-RESPONSE')!;
    const transaction = parsePaymentResponse(paymentResponse).transaction;

    const reported = await client.unary<{ payment: GrpcPayment }>('reportResult', { paymentId: requested.payment.id, httpStatus: 200, paymentResponse });
    expect(['PAYMENT_STATUS_SIGNED', 'PAYMENT_STATUS_SETTLED']).toContain(reported.payment.status);

    await expect.poll(() => seen.at(-1)?.spent, { timeout: SETTLE_WAIT_MS, interval: 100 }).toBe('0.01');
    stream.cancel();
    await streamEnded;

    // The stream began at the balance as it was, held the price while the payment was open,
    // and ended with it spent; spent never went backwards.
    expect(seen[0]).toMatchObject({ id: session.id, spent: '0.00', reserved: '0.00', remaining: '1.00', payments: 0 });
    expect(seen.some((s) => s.reserved === '0.01' && s.spent === '0.00')).toBe(true);
    expect(seen.at(-1)).toMatchObject({ spent: '0.01', reserved: '0.00', remaining: '0.99', payments: 1 });
    const spentSeries = seen.map((s) => s.spent);
    expect(spentSeries.filter((s, i) => i > 0 && s !== spentSeries[i - 1])).toEqual(['0.01']);
    console.log(`[grpc paid] WatchSession sent ${seen.length} balances: ${seen.map((s) => `reserved ${s.reserved}/spent ${s.spent}`).join(' → ')}`);

    // The money moved once on chain, in the transaction the seller reported.
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect(await kit.balanceOf(kit.seller.payTo)).toBe(sellerBefore + PRICE_ATOMIC);
    expect((await kit.publicClient.getTransactionReceipt({ hash: transaction as Hex })).status).toBe('success');
    const settled = await db.pool.query<{ data: { transaction: string; amountMicros: string } }>(`SELECT data FROM events WHERE type = 'Settled' AND data->>'intentId' = $1`, [requested.payment.id]);
    expect(settled.rows.map((r) => r.data)).toEqual([expect.objectContaining({ transaction, amountMicros: '10000' })]);
    const { session: after } = await client.unary<{ session: GrpcSession }>('getSession', { sessionId: session.id });
    expect(after).toMatchObject({ spent: '0.01', reserved: '0.00', remaining: '0.99' });
  });
});
