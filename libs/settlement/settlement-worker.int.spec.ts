import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import type { Hex } from 'viem';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { BudgetCommand, Reserve } from '../domain/budget/commands.js';
import { EventStore } from '../eventstore/event-store.js';
import { ObservedDecisions } from '../ledger/decision-telemetry.js';
import { OrgCommandProcessor, orgStreamId } from '../ledger/org-command-processor.js';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { deriveNonce } from '../x402/eip3009.js';
import type { EvmChainReader } from './chain.js';
import { SettlementWorker, WORKER_CHECKPOINT } from './settlement-worker.js';
import { localDecisions } from './worker-decisions.js';
import { localSigner, type PaymentSigner } from './signer.js';

const logger = pino({ level: 'silent' });
const NETWORK = 'eip155:31337';
const ASSET = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const AMOUNT_ATOMIC = 1_000n;
const WAIT_MS = 20_000;
/** Long enough that anything done well before it was done without the fallback read. */
const FALLBACK_NEVER_MS = 60_000;

/** No chain calls happen in these tests (reconciliation never ticks); signing only needs the network known. */
const noChain: EvmChainReader = {
  observe: () => Promise.reject(new Error('no chain in this test')),
  balances: () => Promise.reject(new Error('no chain in this test')),
};

/**
 * A real signer whose signing can be held, or made to fail, for chosen payments (by nonce,
 * which is derived from the intent), and that counts signatures made and in flight.
 */
function controllableSigner(inner: PaymentSigner) {
  const gates = new Map<string, Promise<void>>();
  const opens = new Map<string, () => void>();
  const failing = new Set<string>();
  let inFlight = 0;
  let inFlightMax = 0;
  let signedCount = 0;
  const signer: PaymentSigner = {
    address: inner.address,
    signPermit2Transfer: (typedData) => inner.signPermit2Transfer(typedData),
    signTransferAuthorization: async (typedData) => {
      inFlight += 1;
      inFlightMax = Math.max(inFlightMax, inFlight);
      try {
        await gates.get(typedData.message.nonce);
        if (failing.has(typedData.message.nonce)) throw new Error('signing unavailable (test)');
        const signature = await inner.signTransferAuthorization(typedData);
        signedCount += 1;
        return signature;
      } finally {
        inFlight -= 1;
      }
    },
  };
  return {
    signer,
    hold: (nonce: Hex) => gates.set(nonce, new Promise<void>((resolve) => opens.set(nonce, resolve))),
    release: (nonce: Hex) => opens.get(nonce)?.(),
    fail: (nonce: Hex) => failing.add(nonce),
    inFlightMax: () => inFlightMax,
    signedCount: () => signedCount,
  };
}

describe('SettlementWorker on the Postgres log: concurrent signing, a checkpoint that never passes an unfinished reservation, wake-ups', () => {
  let db: TestDatabase;
  let store: EventStore;
  let governor: OrgCommandProcessor;
  const workers: SettlementWorker[] = [];
  let orgId: string;
  const wallet = localSigner(generatePrivateKey());

  const startWorker = (signer: PaymentSigner, options: { pollFallbackMs?: number; idleWaitMs?: number; signConcurrencyMax?: number } = {}): SettlementWorker => {
    const worker = new SettlementWorker({
      pool: db.pool,
      store,
      decisions: localDecisions(new ObservedDecisions(new OrgCommandProcessor(store, { maxBatchSize: 200 }), undefined)),
      signer,
      chains: new Map([[NETWORK, noChain]]),
      logger,
      idleWaitMs: options.idleWaitMs ?? 25,
      reconcileIntervalMs: 3_600_000,
      signConcurrencyMax: options.signConcurrencyMax ?? 16,
      wakeups: { connectionString: db.url, pollFallbackMs: options.pollFallbackMs ?? FALLBACK_NEVER_MS },
    });
    worker.start();
    workers.push(worker);
    return worker;
  };
  const stopAll = async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop()));
  };
  /** Reserves `count` payments at once (one group commit, like a busy governor) and stores their offers first. */
  const reserve = async (count: number, options: { withoutOfferFor?: Set<number> } = {}): Promise<string[]> => {
    const nowMs = Date.now();
    const intentIds = Array.from({ length: count }, () => `pay_${randomUUID()}`);
    for (const [index, intentId] of intentIds.entries()) {
      if (options.withoutOfferFor?.has(index)) continue;
      await storeOffer(intentId);
    }
    await Promise.all(
      intentIds.map((intentId) => {
        const command: Reserve = {
          type: 'Reserve',
          orgId,
          actor: 'agent:a1',
          at: new Date(nowMs).toISOString(),
          intentId,
          sessionId: `${orgId}-s1`,
          agentId: 'a1',
          amountMicros: 1_000n,
          amountAtomic: AMOUNT_ATOMIC,
          asset: ASSET,
          network: NETWORK,
          payTo: PAY_TO,
          resource: 'http://127.0.0.1/data',
          method: 'GET',
          validBefore: new Date(nowMs + 300_000).toISOString(),
          idempotency: null,
        };
        return governor.submit(command, () => undefined);
      }),
    );
    return intentIds;
  };
  const storeOffer = (intentId: string) =>
    db.pool.query('INSERT INTO payment_offers (intent_id, x402_version, requirement_raw, resource_raw) VALUES ($1, 2, $2, $3)', [
      intentId,
      JSON.stringify({ scheme: 'exact', network: NETWORK, amount: AMOUNT_ATOMIC.toString(), asset: ASSET, payTo: PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' } }),
      JSON.stringify({ url: 'http://127.0.0.1/data' }),
    ]);
  const headerCount = async (intentIds: readonly string[]) =>
    Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM payment_signatures WHERE intent_id = ANY($1::text[])', [intentIds])).rows[0]?.n ?? 0);
  const waitForHeaders = async (intentIds: readonly string[], count = intentIds.length, timeoutMs = WAIT_MS) => {
    for (const deadline = Date.now() + timeoutMs; (await headerCount(intentIds)) < count; ) {
      if (Date.now() > deadline) throw new Error(`only ${await headerCount(intentIds)} of ${count} headers within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const signedEvents = async () =>
    (await store.readStream(db.pool, orgStreamId(orgId), 0, 10_000)).filter((e) => e.type === 'PaymentSigned').map((e) => e.data as { intentId: string; nonce: string; payer: string });
  /** Whether the worker's checkpoint is before the Reserved event of this intent (or there is none yet). */
  const checkpointIsBefore = async (intentId: string): Promise<boolean> => {
    const result = await db.pool.query<{ before: boolean | null }>(
      `SELECT (c.transaction_id, c.global_position) < (e.transaction_id, e.global_position) AS before
       FROM events e LEFT JOIN subscription_checkpoints c ON c.name = $2
       WHERE e.type = 'Reserved' AND e.data->>'intentId' = $1`,
      [intentId, WORKER_CHECKPOINT],
    );
    const before = result.rows[0]?.before;
    if (before === undefined) throw new Error(`no Reserved event for ${intentId}`);
    return before ?? true;
  };
  const expectSignedOnce = async (intentIds: readonly string[]) => {
    const signed = (await signedEvents()).filter((e) => intentIds.includes(e.intentId));
    expect(signed.map((e) => e.intentId).sort()).toEqual([...intentIds].sort());
    expect(new Set(signed.map((e) => e.nonce)).size).toBe(intentIds.length);
    for (const event of signed) expect(event.nonce).toBe(deriveNonce(wallet.address, event.intentId));
    expect(await headerCount(intentIds)).toBe(intentIds.length);
  };

  beforeAll(async () => {
    db = await freshDatabase('worker');
    store = new EventStore(db.pool);
    governor = new OrgCommandProcessor(store, { maxBatchSize: 500 });
  });

  beforeEach(async () => {
    await stopAll();
    // A fresh org per test; each worker continues from the checkpoint the one before left.
    orgId = `org-${randomUUID().slice(0, 8)}`;
    const at = new Date().toISOString();
    const base = { orgId, actor: 'admin:test', at };
    const setup: BudgetCommand[] = [
      { ...base, type: 'CreateOrg', name: orgId, limitMicros: null },
      { ...base, type: 'RegisterAgent', agentId: 'a1', teamId: null, name: 'agent', limitMicros: null },
      { ...base, type: 'OpenSession', sessionId: `${orgId}-s1`, agentId: 'a1', limitMicros: 1_000_000_000n, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), maxPayments: null, metadata: {}, idempotency: null },
    ];
    for (const command of setup) await governor.submit(command, () => undefined);
  });

  afterAll(async () => {
    await stopAll();
    await db?.drop();
  });

  it('signs many reservations concurrently, each once with its own nonce, and holds the checkpoint before one still being signed', async () => {
    const gated = controllableSigner(wallet);
    const intentIds = await reserve(40);
    const held = intentIds[2] as string;
    gated.hold(deriveNonce(wallet.address, held));
    startWorker(gated.signer);

    // Everything else is signed while the third reservation is held: no reservation waits for another.
    const others = intentIds.filter((id) => id !== held);
    try {
      await waitForHeaders(others);
      expect(await headerCount([held])).toBe(0);
      expect(gated.inFlightMax()).toBeGreaterThan(1);
      expect(await checkpointIsBefore(held)).toBe(true);
    } finally {
      // Also when the checks fail, so that stopping the worker does not wait for it forever.
      gated.release(deriveNonce(wallet.address, held));
    }
    await waitForHeaders([held]);
    for (const deadline = Date.now() + WAIT_MS; await checkpointIsBefore(intentIds.at(-1) as string); ) {
      if (Date.now() > deadline) throw new Error('the checkpoint did not reach the last reservation');
      await new Promise((r) => setTimeout(r, 20));
    }
    await expectSignedOnce(intentIds);
  });

  it('a worker stopped with a reservation unfinished leaves the checkpoint before it; the next one signs the rest, none twice', async () => {
    const flaky = controllableSigner(wallet);
    const intentIds = await reserve(30);
    const failing = intentIds[5] as string;
    flaky.fail(deriveNonce(wallet.address, failing));
    const first = startWorker(flaky.signer);
    await waitForHeaders(intentIds.filter((id) => id !== failing));
    expect(await headerCount([failing])).toBe(0);
    expect(await checkpointIsBefore(failing)).toBe(true);
    expect(await checkpointIsBefore(intentIds[4] as string)).toBe(false);
    // Stopped while the failed one waits for its retry: nothing moves the checkpoint past it.
    await first.stop();
    workers.splice(workers.indexOf(first), 1);
    expect(await checkpointIsBefore(failing)).toBe(true);

    const next = controllableSigner(wallet);
    const more = await reserve(10);
    startWorker(next.signer);
    await waitForHeaders([...intentIds, ...more]);
    // It started before the failed reservation, so it signed that one, again the 24 after it
    // that were already signed (the same authorization each), and the 10 new ones.
    expect(next.signedCount()).toBeGreaterThanOrEqual(1 + 24 + 10);
    await expectSignedOnce([...intentIds, ...more]);
  });

  it('a reservation whose offer row is late holds the checkpoint, the ones after it are signed meanwhile, and it is signed once the row appears', async () => {
    const intentIds = await reserve(12, { withoutOfferFor: new Set([3]) });
    const late = intentIds[3] as string;
    startWorker(wallet);
    await waitForHeaders(intentIds.filter((id) => id !== late));
    await new Promise((r) => setTimeout(r, 300));
    expect(await headerCount([late])).toBe(0);
    expect(await checkpointIsBefore(late)).toBe(true);
    await storeOffer(late);
    await waitForHeaders([late]);
    await expectSignedOnce(intentIds);
  });

  it('sleeps without polling and is woken by the notification of new reservations', async () => {
    const reads = { count: 0 };
    const readAll = store.readAll.bind(store);
    store.readAll = (...args: Parameters<EventStore['readAll']>) => {
      reads.count += 1;
      return readAll(...args);
    };
    try {
      const worker = startWorker(wallet, { idleWaitMs: 25 });
      for (const deadline = Date.now() + 10_000; worker.notificationListener?.listening !== true; ) {
        if (Date.now() > deadline) throw new Error('the worker did not listen');
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 300));
      const readsBefore = reads.count;
      await new Promise((r) => setTimeout(r, 1_000));
      // Polling every idleWaitMs would have read about 40 times in that second.
      expect(reads.count - readsBefore).toBeLessThan(10);

      const startedMs = Date.now();
      const intentIds = await reserve(3);
      await waitForHeaders(intentIds);
      expect(Date.now() - startedMs).toBeLessThan(FALLBACK_NEVER_MS / 4);
      await expectSignedOnce(intentIds);
    } finally {
      store.readAll = readAll;
    }
  });

  it('without notifications (the trigger gone), the fallback read still finds new reservations', async () => {
    await db.pool.query('DROP TRIGGER events_appended_notify ON events');
    try {
      startWorker(wallet, { pollFallbackMs: 300 });
      await new Promise((r) => setTimeout(r, 300));
      const intentIds = await reserve(3);
      await waitForHeaders(intentIds, intentIds.length, 10_000);
      await expectSignedOnce(intentIds);
    } finally {
      await db.pool.query('CREATE TRIGGER events_appended_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION paybound_notify_events_appended()');
    }
  });

  it('after losing its listening connection it listens again and reads what was appended meanwhile', async () => {
    const worker = startWorker(wallet);
    for (const deadline = Date.now() + 10_000; worker.notificationListener?.listening !== true; ) {
      if (Date.now() > deadline) throw new Error('the worker did not listen');
      await new Promise((r) => setTimeout(r, 20));
    }
    await db.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'paybound-settlement-worker-wakeups' AND datname = current_database()");
    const intentIds = await reserve(3);
    await waitForHeaders(intentIds, intentIds.length, 10_000);
    expect(worker.notificationListener?.listeningCount).toBeGreaterThanOrEqual(2);
    const more = await reserve(2);
    await waitForHeaders(more, more.length, 10_000);
    await expectSignedOnce([...intentIds, ...more]);
  });
});
