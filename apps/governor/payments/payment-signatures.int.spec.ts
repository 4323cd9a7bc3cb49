import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { SignatureWaiters, type SignatureWait } from './payment-signatures.js';

const logger = pino({ level: 'silent' });
/** Long enough that a test finishing well before it was not helped by the fallback sweep. */
const FALLBACK_NEVER_MS = 60_000;
const WAIT_MS = 20_000;

describe('SignatureWaiters: waiting for the worker header by LISTEN/NOTIFY', () => {
  let db: TestDatabase;
  const running: SignatureWaiters[] = [];

  const start = (options: Partial<ConstructorParameters<typeof SignatureWaiters>[0]> = {}): SignatureWaiters => {
    const waiters = new SignatureWaiters({ pool: db.pool, logger, connectionString: db.url, fallbackCheckIntervalMs: FALLBACK_NEVER_MS, ...options });
    waiters.start();
    running.push(waiters);
    return waiters;
  };
  const listening = async (waiters: SignatureWaiters, count = 1): Promise<void> => {
    for (const deadline = Date.now() + 10_000; (waiters.notificationListener?.listeningCount ?? 0) < count; ) {
      if (Date.now() > deadline) throw new Error(`the listener did not listen ${count} time(s)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const storeHeader = (intentId: string) =>
    db.pool.query("INSERT INTO payment_signatures (intent_id, header_name, header_value) VALUES ($1, 'PAYMENT-SIGNATURE', $2)", [intentId, `header-of-${intentId}`]);
  const insertPayment = (intentId: string, status: string) =>
    db.pool.query(
      `INSERT INTO payments_view (intent_id, org_id, session_id, agent_id, status, amount_micros, reason, created_at, updated_at)
       VALUES ($1, 'org', 'session', 'agent', $2, 1000, $3, now(), now())`,
      [intentId, status, status === 'rejected' ? 'session_limit_exceeded' : null],
    );
  /** Resolves with the answer and how long it took; the wait is registered before this returns. */
  const timed = (waiters: SignatureWaiters, intentId: string, timeoutMs = WAIT_MS) => {
    const startedMs = Date.now();
    return waiters.waitFor(intentId, timeoutMs).then((answer: SignatureWait) => ({ answer, elapsedMs: Date.now() - startedMs }));
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

  beforeAll(async () => {
    db = await freshDatabase('sigwait');
  });

  afterAll(async () => {
    await Promise.all(running.map((w) => w.stop()));
    await db?.drop();
  });

  it('answers a waiter when the header is stored, by notification and not by the fallback sweep', async () => {
    const waiters = start();
    await listening(waiters);
    const intentId = `pay_${randomUUID()}`;
    const waited = timed(waiters, intentId);
    await pause(200);
    expect(waiters.waitingCount).toBe(1);
    await storeHeader(intentId);
    const { answer, elapsedMs } = await waited;
    expect(answer).toEqual({ kind: 'signed', header: { name: 'PAYMENT-SIGNATURE', value: `header-of-${intentId}` } });
    expect(elapsedMs).toBeLessThan(FALLBACK_NEVER_MS / 2);
    expect(waiters.waitingCount).toBe(0);
  });

  it('finds a header stored before the wait began, and answers several waiters of one intent', async () => {
    const waiters = start();
    const intentId = `pay_${randomUUID()}`;
    await storeHeader(intentId);
    const answers = await Promise.all([waiters.waitFor(intentId, WAIT_MS), waiters.waitFor(intentId, WAIT_MS)]);
    expect(answers.map((a) => a.kind)).toEqual(['signed', 'signed']);
  });

  it('answers not_signed when the payment is released or rejected without a header', async () => {
    const waiters = start();
    await listening(waiters);
    const released = `pay_${randomUUID()}`;
    const rejected = `pay_${randomUUID()}`;
    await insertPayment(released, 'reserved');
    const waitedReleased = timed(waiters, released);
    const waitedRejected = timed(waiters, rejected);
    await pause(100);
    await db.pool.query("UPDATE payments_view SET status = 'refunded', reason = 'offer_mismatch' WHERE intent_id = $1", [released]);
    await insertPayment(rejected, 'rejected');
    expect((await waitedReleased).answer).toEqual({ kind: 'not_signed', status: 'refunded', reason: 'offer_mismatch' });
    expect((await waitedRejected).answer).toEqual({ kind: 'not_signed', status: 'rejected', reason: 'session_limit_exceeded' });
  });

  it('times out, and forgets the waiter', async () => {
    const waiters = start();
    const { answer, elapsedMs } = await timed(waiters, `pay_${randomUUID()}`, 150);
    expect(answer).toEqual({ kind: 'timeout' });
    expect(elapsedMs).toBeGreaterThanOrEqual(140);
    expect(waiters.waitingCount).toBe(0);
  });

  it('is bounded: beyond waitersMax a request checks once and does not wait', async () => {
    const waiters = start({ waitersMax: 2 });
    const first = timed(waiters, `pay_${randomUUID()}`, 5_000);
    const second = timed(waiters, `pay_${randomUUID()}`, 5_000);
    const signedAlready = `pay_${randomUUID()}`;
    await storeHeader(signedAlready);
    const third = await timed(waiters, `pay_${randomUUID()}`, 5_000);
    expect(third.answer).toEqual({ kind: 'timeout' });
    expect(third.elapsedMs).toBeLessThan(1_000);
    expect((await waiters.waitFor(signedAlready, 5_000)).kind).toBe('signed');
    expect(waiters.waitingCount).toBe(2);
    await waiters.stop();
    expect((await first).answer).toEqual({ kind: 'timeout' });
    expect((await second).answer).toEqual({ kind: 'timeout' });
  });

  it('without notifications (no listener), the fallback sweep still answers', async () => {
    const waiters = start({ connectionString: undefined, fallbackCheckIntervalMs: 200 });
    expect(waiters.notificationListener).toBeUndefined();
    const intentId = `pay_${randomUUID()}`;
    const waited = timed(waiters, intentId);
    await pause(100);
    await storeHeader(intentId);
    const { answer, elapsedMs } = await waited;
    expect(answer.kind).toBe('signed');
    expect(elapsedMs).toBeLessThan(5_000);
  });

  it('reconnects after losing its connection, re-checks every waiter then (notifications sent meanwhile are lost), and hears notifications again', async () => {
    const waiters = start({ listenerReconnectDelayMsMin: 1_000 });
    await listening(waiters);
    const duringOutage = `pay_${randomUUID()}`;
    const waited = timed(waiters, duringOutage);
    const terminated = await db.pool.query<{ done: boolean }>(
      "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE application_name = 'paybound-governor-signature-waiters' AND datname = current_database()",
    );
    expect(terminated.rows.filter((r) => r.done)).not.toHaveLength(0);
    for (const deadline = Date.now() + 5_000; waiters.notificationListener?.listening === true; ) {
      if (Date.now() > deadline) throw new Error('the listener did not notice it lost its connection');
      await pause(10);
    }
    // Stored while nobody listens: its notification is lost; the re-check on reconnection finds it.
    await storeHeader(duringOutage);
    const { answer, elapsedMs } = await waited;
    expect(answer.kind).toBe('signed');
    expect(elapsedMs).toBeLessThan(FALLBACK_NEVER_MS / 2);
    expect(waiters.notificationListener?.listeningCount).toBeGreaterThanOrEqual(2);

    const afterReconnect = `pay_${randomUUID()}`;
    const waitedAgain = timed(waiters, afterReconnect);
    await pause(100);
    await storeHeader(afterReconnect);
    const again = await waitedAgain;
    expect(again.answer.kind).toBe('signed');
    expect(again.elapsedMs).toBeLessThan(FALLBACK_NEVER_MS / 2);
  });
});
