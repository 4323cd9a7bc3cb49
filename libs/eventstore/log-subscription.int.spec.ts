import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { LOG_START, type NewEvent } from './event-store.js';
import { committedLog, LogSubscription, LogTail, namedCheckpoint, streamLog } from './log-subscription.js';

const event = (n: number): NewEvent => ({ type: n % 2 === 0 ? 'Even' : 'Odd', data: { n }, metadata: { actor: 't', orgId: 'o', correlationId: `c-${n}` }, occurredAt: '2026-11-25T10:00:00.000Z' });

describe('LogSubscription', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('subscription');
  });
  afterAll(async () => {
    await db.drop();
  });

  const append = async (streamId: string, from: number, count: number) => {
    const version = await db.store.streamVersion(db.pool, streamId);
    await db.store.transaction((client) => db.store.append(client, streamId, version, Array.from({ length: count }, (_, i) => event(from + i))));
  };

  it('stores the checkpoint with the effect: a failed handler leaves both untouched, and the page comes again', async () => {
    await append('s-1', 1, 5);
    await db.pool.query('CREATE TABLE seen (n int PRIMARY KEY)');
    const subscription = new LogSubscription(db.store, { reader: committedLog(db.store, ['Odd']), checkpoint: namedCheckpoint(db.store, 'test-odd'), pageSize: 2 });
    const record = (fail: boolean) =>
      subscription.handlePageInTransaction(async (client, page) => {
        for (const e of page) await client.query('INSERT INTO seen VALUES ($1)', [(e.data as { n: number }).n]);
        if (fail) throw new Error('handler failed');
      });
    await expect(record(true)).rejects.toThrow('handler failed');
    expect((await db.pool.query('SELECT n FROM seen')).rows).toEqual([]);
    expect(await db.store.loadCheckpoint(db.pool, 'test-odd')).toEqual(LOG_START);
    expect(await record(false)).toEqual({ readCount: 2, locked: true });
    expect(await record(false)).toEqual({ readCount: 1, locked: true });
    expect(await record(false)).toEqual({ readCount: 0, locked: true });
    expect((await db.pool.query<{ n: number }>('SELECT n FROM seen ORDER BY n')).rows.map((r) => r.n)).toEqual([1, 3, 5]);
  });

  it('reads only below the oldest open transaction, so an event committed later at a lower position is not skipped', async () => {
    const subscription = new LogSubscription(db.store, { reader: committedLog(db.store), checkpoint: namedCheckpoint(db.store, 'test-order'), pageSize: 100 });
    const seen: number[] = [];
    const drain = async () => {
      const collect = (page: readonly { data: unknown }[]) => {
        seen.push(...page.map((e) => (e.data as { n: number }).n));
        return Promise.resolve();
      };
      while ((await subscription.handlePage(collect)) > 0);
    };
    await drain();
    seen.length = 0;
    // An open transaction takes a position, then another commits after it.
    const early = await db.pool.connect();
    try {
      await early.query('BEGIN');
      await db.store.append(early, 's-early', 0, [event(100)]);
      await append('s-late', 200, 1);
      await drain();
      expect(seen).toEqual([]);
      await early.query('COMMIT');
    } finally {
      early.release();
    }
    await drain();
    expect(seen).toEqual([100, 200]);
  });

  it('reads nothing when another process holds the page', async () => {
    const locked = new LogSubscription(db.store, { reader: committedLog(db.store), checkpoint: namedCheckpoint(db.store, 'test-locked'), pageSize: 10, tryLock: () => Promise.resolve(false) });
    let called = false;
    expect(
      await locked.handlePageInTransaction(() => {
        called = true;
        return Promise.resolve();
      }),
    ).toEqual({ readCount: 0, locked: false });
    expect(called).toBe(false);
  });

  it('tails one stream from a version, keeping its place in memory', async () => {
    await append('s-tail', 1, 7);
    const tail = new LogTail(streamLog(db.store, 's-tail'), 2);
    expect((await tail.next(db.pool, 3)).map((e) => e.streamVersion)).toEqual([3, 4, 5]);
    expect((await tail.next(db.pool, 3)).map((e) => e.streamVersion)).toEqual([6, 7]);
    expect(await tail.next(db.pool, 3)).toEqual([]);
    expect(tail.position).toBe(7);
  });
});
