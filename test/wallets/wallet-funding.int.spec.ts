import { createWalletClient, http } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { verifyWebhookSignature } from '../../libs/webhooks/signature.js';
import { call, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';
import { anvilDevKey, KIT_ACCOUNT_INDEX, kitChain } from '../../libs/devnet/deploy.js';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';

const ADMIN = 'test-admin-token-wallets';
const PRICE_ATOMIC = 10_000n;
/** 3.5 payments' worth: the wallet runs dry on the fourth. */
const START_FUNDS_ATOMIC = 35_000n;
const FLOOR_ATOMIC = 25_000n;
const WAIT_MS = 30_000;

interface WalletEntry {
  address: string;
  balance: string;
  balanceAtomic: string;
  held: string;
  available: string;
  floor: string | null;
  belowFloor: boolean;
  nativeBalanceWei: string;
  typicalPrice: string | null;
  coverablePayments: string | null;
}

describe('wallet funding on anvil: floors, alerts and wallet_insufficient_funds', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let agentKey: string;
  let sessionId: string;
  let receiver: WebhookReceiver;
  /** Wallet alerts belong to no org: they go to endpoints without an org scope only. */
  let unscopedHook: { id: string; secret: string };
  let orgHook: { id: string };

  /** Polls until `read` returns something, within a bound. */
  async function eventually<T>(what: string, read: () => Promise<T | undefined>): Promise<T> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const value = await read();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms\n${worker.output().slice(-3_000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const wallet = async () => (await call<{ data: WalletEntry[] }>(governor.url, 'GET', `/admin/v1/wallets?sessionId=${sessionId}`, { key: ADMIN })).body.data[0];
  const walletEvents = async (): Promise<RecordedEvent[]> => (await db.pool.query<RecordedEvent>(`SELECT type, data, metadata FROM events WHERE stream_id LIKE 'wallet-%' ORDER BY global_position`)).rows;
  const paidFetch = () => call<{ data?: string; code?: string; remaining?: string; level?: string; paymentId?: string }>(governor.url, 'POST', `/v1/sessions/${sessionId}/fetch`, { key: agentKey, body: { url: kit.seller.dataUrl } });
  /** Pays, waits for the settlement, then for a balance reading taken after it. */
  async function payAndSettle(expectedBalanceAtomic: bigint): Promise<void> {
    const paid = await paidFetch();
    expect({ status: paid.status, body: paid.body }).toMatchObject({ status: 200, body: { data: 'paid content' } });
    const paymentId = paid.headers.get('paybound-payment-id')!;
    await eventually(`payment ${paymentId} settled`, async () => ((await call<{ status: string }>(governor.url, 'GET', `/v1/payments/${paymentId}`, { key: agentKey })).body.status === 'settled' ? true : undefined));
    await eventually(`balance ${expectedBalanceAtomic}`, async () => {
      const entry = await wallet();
      return entry?.balanceAtomic === expectedBalanceAtomic.toString() && entry.held === '0.00' ? entry : undefined;
    });
  }

  beforeAll(async () => {
    kit = await startX402Kit({ payerFundsAtomic: START_FUNDS_ATOMIC });
    db = await freshDatabase('wallets');
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '10000',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
    });
    worker = await spawnWorker({
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      // The well-known anvil development key of the kit's payer, derived at run time.
      PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
      PAYBOUND_WALLET_CHECK_INTERVAL_MS: '200',
      PAYBOUND_WALLET_FLOORS: JSON.stringify([{ network: kit.network, asset: kit.token, floorAtomic: FLOOR_ATOMIC.toString() }]),
    });
    agentKey = await seedAgent(governor.url, ADMIN, { orgId: 'org-wallet', agentId: 'agent-wallet' }, { org: '100.00' });
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '1.00' } });
    sessionId = session.body.id;
    receiver = await WebhookReceiver.start();
    // The default event types are the alerts, WalletLowBalance and WalletBalanceRestored among them.
    unscopedHook = (await call<{ id: string; secret: string }>(governor.url, 'POST', '/admin/v1/webhooks', { key: ADMIN, body: { url: `${receiver.url}/wallets` } })).body;
    orgHook = (await call<{ id: string }>(governor.url, 'POST', '/admin/v1/webhooks', { key: ADMIN, body: { url: `${receiver.url}/org`, orgId: 'org-wallet' } })).body;
  });

  afterAll(async () => {
    await receiver?.down();
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
  });

  it('alerts under the floor, refuses what the wallet cannot cover before signing, and recovers when funded', async () => {
    const first = await eventually('a first wallet reading', wallet);
    expect(first).toMatchObject({ address: kit.payer.address.toLowerCase(), balance: '0.035', floor: '0.025', belowFloor: false, held: '0.00', available: '0.035', typicalPrice: null, coverablePayments: null });
    expect(BigInt(first.nativeBalanceWei)).toBeGreaterThan(0n);

    // 35 000 → 25 000: at the floor, not under it.
    await payAndSettle(25_000n);
    expect(await walletEvents()).toEqual([]);
    // 25 000 → 15 000: under the floor, once.
    await payAndSettle(15_000n);
    const low = await eventually('WalletLowBalance', async () => ((await walletEvents()).length > 0 ? walletEvents() : undefined));
    expect(low).toEqual([
      expect.objectContaining({
        type: 'WalletLowBalance',
        data: expect.objectContaining({ kind: 'asset', address: kit.payer.address.toLowerCase(), balanceAtomic: '15000', floorAtomic: '25000', network: kit.network }) as unknown,
        metadata: expect.objectContaining({ orgId: '' }) as unknown,
      }),
    ]);
    expect(await wallet()).toMatchObject({ balance: '0.015', available: '0.015', belowFloor: true, typicalPrice: '0.01', coverablePayments: '1' });

    // 15 000 covers one more payment, and then 5 000 is left.
    await payAndSettle(5_000n);
    const paidBefore = kit.seller.paidRequestCount();
    const refused = await paidFetch();
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'wallet_insufficient_funds', level: 'wallet', remaining: '0.005' });
    const refusal = await db.pool.query<{ data: { code: string; intentId: string } }>(`SELECT data FROM events WHERE type = 'LimitExceeded'`);
    expect(refusal.rows.map((r) => r.data.code)).toEqual(['wallet_insufficient_funds']);
    const refusedId = refusal.rows[0]!.data.intentId;
    // Refused before signing: no reservation, no signature, and the seller saw no payment.
    expect((await db.pool.query(`SELECT 1 FROM events WHERE type IN ('Reserved', 'PaymentSigned') AND data->>'intentId' = $1`, [refusedId])).rowCount).toBe(0);
    expect(kit.seller.paidRequestCount()).toBe(paidBefore);
    expect(await walletEvents()).toHaveLength(1);

    // Funding the wallet again clears the alert and the refusals.
    const deployer = createWalletClient({ account: privateKeyToAccount(anvilDevKey(KIT_ACCOUNT_INDEX.deployer)), chain: kitChain(kit.rpcUrl), transport: http(kit.rpcUrl) });
    const mint = await deployer.writeContract({ address: kit.token, abi: kit.artifacts.TestUSD.abi, functionName: 'mint', args: [kit.payer.address, 100_000n] });
    expect((await kit.publicClient.waitForTransactionReceipt({ hash: mint })).status).toBe('success');
    const restored = await eventually('WalletBalanceRestored', async () => {
      const events = await walletEvents();
      return events.length === 2 ? events[1] : undefined;
    });
    expect(restored).toMatchObject({ type: 'WalletBalanceRestored', data: { kind: 'asset', floorAtomic: '25000' } });
    expect(BigInt((restored.data as { balanceAtomic: string }).balanceAtomic)).toBeGreaterThanOrEqual(105_000n - PRICE_ATOMIC);
    const again = await paidFetch();
    expect({ status: again.status, body: again.body }).toMatchObject({ status: 200, body: { data: 'paid content' } });
    expect(await wallet()).toMatchObject({ belowFloor: false });

    // Both alerts went out as webhooks to the unscoped endpoint, once each and signed; the org's endpoint got neither.
    const alertIds = (await db.pool.query<{ event_id: string }>(`SELECT event_id FROM events WHERE stream_id LIKE 'wallet-%' ORDER BY global_position`)).rows.map((r) => r.event_id);
    const hooks = await eventually('the wallet alerts as webhooks', () => Promise.resolve(receiver.accepted('/wallets').length >= 2 ? receiver.accepted('/wallets') : undefined));
    expect(receiver.onPath('/wallets').map((r) => [r.envelope.id, r.envelope.type, r.envelope.orgid])).toEqual([
      [alertIds[0], 'paybound.wallet_low_balance.v1', ''],
      [alertIds[1], 'paybound.wallet_balance_restored.v1', ''],
    ]);
    for (const hook of hooks) {
      expect(verifyWebhookSignature({ header: hook.headers['paybound-signature'] as string, rawBody: hook.rawBody, secret: unscopedHook.secret, nowMs: Date.now() })).toBe('ok');
      expect(hook.envelope.data).toMatchObject({ kind: 'asset', address: kit.payer.address.toLowerCase(), floorAtomic: '25000' });
    }
    const recorded = await call<{ items: { eventId: string; status: string; attempts: number }[] }>(governor.url, 'GET', `/admin/v1/webhooks/${unscopedHook.id}/deliveries`, { key: ADMIN });
    expect(recorded.body.items.map((d) => [d.eventId, d.status, d.attempts]).reverse()).toEqual(alertIds.map((id) => [id, 'delivered', 1]));
    // Each alert was matched against both endpoints in the same page, so the org's would have it by now.
    const orgDeliveries = await call<{ items: unknown[] }>(governor.url, 'GET', `/admin/v1/webhooks/${orgHook.id}/deliveries`, { key: ADMIN });
    expect({ status: orgDeliveries.status, items: orgDeliveries.body.items }).toEqual({ status: 200, items: [] });
    expect(receiver.onPath('/org')).toEqual([]);
  });
});
