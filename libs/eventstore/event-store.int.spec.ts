import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { comparePositions, LOG_START, positionOf, prepareAppend, StaleStreamsError, WrongExpectedVersionError, type NewEvent } from './event-store.js';

const event = (type: string, data: unknown = {}): NewEvent => ({
  type,
  data,
  occurredAt: '2026-11-25T10:00:00.000Z',
  metadata: { actor: 'system', correlationId: 'c', orgId: 'o' },
});

describe('event store on Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('evstore');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('appends with the expected version and refuses a stale one', async () => {
    const recorded = await db.store.transaction((c) => db.store.append(c, 's-1', 0, [event('A', { amountMicros: 5n }), event('B')]));
    expect(recorded.map((e) => [e.type, e.streamVersion])).toEqual([
      ['A', 1],
      ['B', 2],
    ]);
    await expect(db.store.transaction((c) => db.store.append(c, 's-1', 1, [event('C')]))).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await expect(db.store.transaction((c) => db.store.append(c, 's-1', 0, [event('C')]))).rejects.toBeInstanceOf(WrongExpectedVersionError);
    await db.store.transaction((c) => db.store.append(c, 's-1', 2, [event('C')]));
    const read = await db.store.readStream(db.pool, 's-1');
    expect(read.map((e) => e.type)).toEqual(['A', 'B', 'C']);
    expect(read[0]?.data).toEqual({ amountMicros: 5n });
  });

  it('lets exactly one of two concurrent writers at the same version win', async () => {
    const results = await Promise.allSettled([
      db.store.transaction((c) => db.store.append(c, 'race', 0, [event('X')])),
      db.store.transaction((c) => db.store.append(c, 'race', 0, [event('Y')])),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof WrongExpectedVersionError)).toHaveLength(1);
  });

  it('never lets a reader of the whole log skip an event committed out of position order', async () => {
    const start = await db.store.readAll(db.pool, LOG_START, 10_000);
    const after = start.at(-1) === undefined ? LOG_START : positionOf(start.at(-1)!);

    // The slow transaction takes the lower position first and commits last.
    const slow = await db.pool.connect();
    await slow.query('BEGIN');
    await db.store.append(slow, 'slow', 0, [event('Slow')]);
    await db.store.transaction((c) => db.store.append(c, 'fast', 0, [event('Fast')]));

    // While the slow one is open, the fast one is committed but must not be handed out yet.
    const whileOpen = await db.store.readAll(db.pool, after);
    expect(whileOpen.map((e) => e.type)).toEqual([]);
    // ...and a reader that found nothing can tell that something committed is held back.
    expect(await db.store.hasEventsAfter(db.pool, after)).toBe(true);
    expect(await db.store.hasEventsAfter(db.pool, after, ['Fast'])).toBe(true);
    expect(await db.store.hasEventsAfter(db.pool, after, ['Other'])).toBe(false);

    await slow.query('COMMIT');
    slow.release();
    const afterCommit = await db.store.readAll(db.pool, after);
    expect(afterCommit.map((e) => e.type)).toEqual(['Slow', 'Fast']);
    expect(await db.store.hasEventsAfter(db.pool, positionOf(afterCommit.at(-1)!))).toBe(false);
  });

  it('commits a fenced batch in one statement, and writes nothing when a stream is not at its version or head', async () => {
    const lockKeys = [1, 2];
    const first = await db.store.commitFenced(7, lockKeys, [prepareAppend('fenced-1', 0, null, [event('A'), event('B', { amountMicros: 3n })]), prepareAppend('fenced-2', 0, null, [event('C')])]);
    expect(first.map((events) => events.map((e) => [e.type, e.streamVersion]))).toEqual([[['A', 1], ['B', 2]], [['C', 1]]]);
    const stored = await db.store.readStream(db.pool, 'fenced-1');
    expect(stored.map((e) => [e.eventId, e.globalPosition, e.transactionId, e.data])).toEqual(first[0]?.map((e) => [e.eventId, e.globalPosition, e.transactionId, e.data]));
    const headOf1 = first[0]?.at(-1)?.eventId ?? null;

    // fenced-2 is stale; fenced-1 was right, yet nothing of either may be written.
    const stale = db.store.commitFenced(7, lockKeys, [prepareAppend('fenced-1', 2, headOf1, [event('D')]), prepareAppend('fenced-2', 0, null, [event('E')])]);
    await expect(stale).rejects.toBeInstanceOf(StaleStreamsError);
    await expect(stale).rejects.toMatchObject({ staleStreams: [{ streamId: 'fenced-2', expectedVersion: 0, version: 1 }] });
    // Right version, wrong head: another writer's batch of the same length.
    const otherHead = db.store.commitFenced(7, lockKeys, [prepareAppend('fenced-1', 2, first[0]?.[0]?.eventId ?? null, [event('D')])]);
    await expect(otherHead).rejects.toMatchObject({ staleStreams: [{ streamId: 'fenced-1', expectedVersion: 2, version: 2 }] });
    // A stream with nothing to write is only checked.
    await expect(db.store.commitFenced(7, lockKeys, [prepareAppend('fenced-2', 5, null, [])])).rejects.toBeInstanceOf(StaleStreamsError);
    expect(await db.store.commitFenced(7, lockKeys, [prepareAppend('fenced-2', 1, null, []), prepareAppend('fenced-1', 2, headOf1, [event('D')])])).toMatchObject([[], [{ type: 'D', streamVersion: 3 }]]);
    expect((await db.store.readStream(db.pool, 'fenced-1')).map((e) => e.type)).toEqual(['A', 'B', 'D']);
    expect((await db.store.readStream(db.pool, 'fenced-2')).map((e) => e.type)).toEqual(['C']);
    expect([...(await db.store.streamVersions(db.pool, ['fenced-1', 'fenced-2'])).values()]).toEqual([3, 1]);
  });

  it('refuses a malformed fenced batch outright', async () => {
    const batch = (streams: unknown[], events: unknown[]): string => JSON.stringify({ streams, events });
    const e = (v: number): unknown => ({ i: randomUUID(), s: 'malformed', v, t: 'X', sv: 1, d: {}, m: {}, o: '2026-11-25T10:00:00.000Z' });
    for (const malformed of [
      batch([], []),
      batch([{ id: 'malformed', v: 0, n: 2, h: null }], [e(1)]),
      batch([{ id: 'malformed', v: 0, n: 1, h: null }], [e(2)]),
      batch([{ id: 'malformed', v: 0, n: 1, h: null }, { id: 'malformed', v: 0, n: 0, h: null }], [e(1)]),
      batch([{ id: 'malformed', v: 0, n: 1, h: randomUUID() }], [e(1)]),
    ]) {
      await expect(db.pool.query('SELECT * FROM paybound_append_fenced(7, $1, $2)', [[1], malformed])).rejects.toMatchObject({ code: 'PB400' });
    }
    expect(await db.store.streamVersion(db.pool, 'malformed')).toBe(0);
  });

  it('appends and commits an open transaction in one round trip', async () => {
    const client = await db.pool.connect();
    try {
      await client.query('BEGIN');
      const recorded = await db.store.commitFencedInTransaction(client, 7, [3], [prepareAppend('in-tx', 0, null, [event('A', { text: "it's \\ quoted" })])]);
      expect(client.getTransactionStatus()).toBe('I');
      expect((await db.store.readStream(db.pool, 'in-tx')).map((e) => [e.eventId, e.data])).toEqual(recorded[0]?.map((e) => [e.eventId, e.data]));
      await client.query('BEGIN');
      await expect(db.store.commitFencedInTransaction(client, 7, [3], [prepareAppend('in-tx', 0, null, [event('B')])])).rejects.toBeInstanceOf(StaleStreamsError);
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await db.store.streamVersion(db.pool, 'in-tx')).toBe(1);
  });

  it('stores and reloads a checkpoint', async () => {
    const all = await db.store.readAll(db.pool, LOG_START);
    const last = all.at(-1);
    expect(last).toBeDefined();
    await db.store.saveCheckpoint(db.pool, 'test', positionOf(last!));
    expect(await db.store.loadCheckpoint(db.pool, 'test')).toEqual(positionOf(last!));
    expect(await db.store.readAll(db.pool, await db.store.loadCheckpoint(db.pool, 'test'))).toEqual([]);
  });

  it('names the head of the log as a reader sees it, held back by an open transaction like readAll', async () => {
    const whole = await db.store.readAll(db.pool, LOG_START, 10_000);
    const head = await db.store.headPosition(db.pool);
    expect(head).toEqual(positionOf(whole.at(-1)!));
    const open = await db.pool.connect();
    await open.query('BEGIN');
    await db.store.append(open, 'head-slow', 0, [event('Slow')]);
    await db.store.transaction((c) => db.store.append(c, 'head-fast', 0, [event('Fast')]));
    expect(await db.store.headPosition(db.pool)).toEqual(head);
    await open.query('COMMIT');
    open.release();
    const moved = await db.store.headPosition(db.pool);
    expect(comparePositions(moved!, head!)).toBe(1);
    expect(comparePositions(head!, moved!)).toBe(-1);
    expect(comparePositions(head!, head!)).toBe(0);
    // Past the head there is nothing to read; the events up to it can be fetched by id.
    expect(await db.store.readAll(db.pool, moved!)).toEqual([]);
    const fast = (await db.store.readStream(db.pool, 'head-fast'))[0]!;
    const slow = (await db.store.readStream(db.pool, 'head-slow'))[0]!;
    expect((await db.store.readByIds(db.pool, [fast.eventId, slow.eventId, '00000000-0000-4000-8000-000000000000'])).map((e) => e.type)).toEqual(['Slow', 'Fast']);
  });

  it('orders positions by transaction first, then by position', () => {
    expect(comparePositions({ transactionId: '10', globalPosition: 5n }, { transactionId: '9', globalPosition: 7n })).toBe(1);
    expect(comparePositions({ transactionId: '9', globalPosition: 5n }, { transactionId: '9', globalPosition: 7n })).toBe(-1);
    expect(comparePositions({ transactionId: '100', globalPosition: 1n }, { transactionId: '99', globalPosition: 1n })).toBe(1);
  });
});
