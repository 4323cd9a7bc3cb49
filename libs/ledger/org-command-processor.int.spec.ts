import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetCommand, Reserve } from '../domain/budget/commands.js';
import type { OrgState } from '../domain/budget/state.js';
import { DomainError } from '../domain/budget/errors.js';
import { EventStore, type RecordedEvent } from '../eventstore/event-store.js';
import { checkBudgetInvariants } from '../../test/support/invariants.js';
import { freshDatabase, readWholeLog, type TestDatabase } from '../../test/support/database.js';
import { UnstorableEventError } from '../eventstore/storable.js';
import { OrgCommandProcessor, OverloadedError, orgStreamId } from './org-command-processor.js';

const at = '2026-11-25T10:00:00.000Z';
const amountMicros = 1_000n;

function setupCommands(orgId: string, orgLimitMicros: bigint | null, sessionCount: number, sessionLimitMicros: bigint): BudgetCommand[] {
  const base = { orgId, actor: 'admin:test', at };
  const commands: BudgetCommand[] = [{ ...base, type: 'CreateOrg', name: orgId, limitMicros: orgLimitMicros }];
  for (let i = 0; i < sessionCount; i += 1) {
    commands.push({ ...base, type: 'RegisterAgent', agentId: `${orgId}-a${i}`, teamId: null, name: `agent ${i}`, limitMicros: null });
    commands.push({
      ...base,
      type: 'OpenSession',
      sessionId: `${orgId}-s${i}`,
      agentId: `${orgId}-a${i}`,
      limitMicros: sessionLimitMicros,
      expiresAt: '2026-11-25T11:00:00.000Z',
      maxPayments: null,
      metadata: {},
      idempotency: null,
    });
  }
  return commands;
}

function reserve(orgId: string, sessionIndex: number, intentId: string, amount = amountMicros): Reserve {
  return {
    type: 'Reserve',
    orgId,
    actor: `agent:${orgId}-a${sessionIndex}`,
    at,
    intentId,
    sessionId: `${orgId}-s${sessionIndex}`,
    agentId: `${orgId}-a${sessionIndex}`,
    amountMicros: amount,
    amountAtomic: amount,
    asset: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    network: 'eip155:31337',
    payTo: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    resource: 'http://127.0.0.1/data',
    validBefore: '2026-11-25T10:05:00.000Z',
    method: 'GET',
    idempotency: null,
  };
}

async function setUp(processor: OrgCommandProcessor, commands: readonly BudgetCommand[]): Promise<void> {
  await Promise.all(commands.map((command) => processor.submit(command, () => undefined)));
}

describe('OrgCommandProcessor', () => {
  let db: TestDatabase;
  let otherPool: pg.Pool;
  let otherStore: EventStore;

  beforeAll(async () => {
    db = await freshDatabase('processor', 10);
    otherPool = new pg.Pool({ connectionString: db.url, max: 10 });
    otherPool.on('error', () => undefined);
    otherStore = new EventStore(otherPool);
    // Lets a test make the insert of one chosen event fail, or hang until its connection is
    // killed, inside the transaction that commits it.
    await db.pool.query(`
      CREATE FUNCTION test_event_hook() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.metadata->>'correlationId' LIKE 'test-hook-fail-%' THEN RAISE EXCEPTION 'test hook refused %', NEW.metadata->>'correlationId'; END IF;
        IF NEW.metadata->>'correlationId' LIKE 'test-hook-hang-%' THEN PERFORM pg_sleep(10); END IF;
        IF NEW.metadata->>'correlationId' LIKE 'test-hook-data-%' THEN
          RAISE EXCEPTION 'test hook refused the data of %', NEW.metadata->>'correlationId' USING ERRCODE = '22023';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER test_event_hook BEFORE INSERT ON events FOR EACH ROW
        WHEN (NEW.metadata->>'correlationId' LIKE 'test-hook-%') EXECUTE FUNCTION test_event_hook();`);
  });
  afterAll(async () => {
    await otherPool.end();
    await db.drop();
  });

  it('two processors on two pools hammering one hot org and many spread orgs keep every budget and stream intact', async () => {
    // Small groups and pipelining on one side, so that both the group path and the single-org
    // path run, and batches go out behind others that the other process makes stale.
    const first = new OrgCommandProcessor(db.store, { maxBatchSize: 50, maxOrgsPerCommit: 8, maxConcurrentCommits: 2, maxInFlightPerOrg: 2 });
    const second = new OrgCommandProcessor(otherStore, { maxBatchSize: 500 });
    const hotOrg = 'hot';
    const hotSessions = 20;
    const hotIntents = 1_200;
    const hotAcceptable = 900; // the org limit lets exactly this many through
    const spreadOrgs = Array.from({ length: 120 }, (_, i) => `spread-${i}`);
    const spreadIntentsPerOrg = 10;
    const spreadAcceptablePerOrg = 7; // the one session's limit

    await setUp(first, setupCommands(hotOrg, BigInt(hotAcceptable) * amountMicros, hotSessions, 1_000n * amountMicros));
    await Promise.all(spreadOrgs.map((orgId) => setUp(second, setupCommands(orgId, null, 1, BigInt(spreadAcceptablePerOrg) * amountMicros))));

    const submissions: Promise<{ events: RecordedEvent[] }>[] = [];
    let issued = 0;
    const maxRounds = Math.max(hotIntents, spreadIntentsPerOrg * spreadOrgs.length);
    for (let i = 0; i < maxRounds; i += 1) {
      const processor = i % 2 === 0 ? first : second;
      if (i < hotIntents) {
        submissions.push(processor.submit(reserve(hotOrg, i % hotSessions, `hot-${i}`), () => undefined));
        issued += 1;
      }
      if (i < spreadIntentsPerOrg * spreadOrgs.length) {
        const orgId = spreadOrgs[i % spreadOrgs.length] ?? '';
        // The other processor from the hot org's, so both write to both kinds of org.
        submissions.push((processor === first ? second : first).submit(reserve(orgId, 0, `${orgId}-${i}`), () => undefined));
        issued += 1;
      }
      // Let some batches commit between waves so the processors' caches go stale in turn.
      if (i % 200 === 199) await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const settled = await Promise.allSettled(submissions);
    const failures = settled.filter((s) => s.status === 'rejected');
    expect(failures.map((f) => String(f.reason)).slice(0, 3)).toEqual([]);

    let accepted = 0;
    let refused = 0;
    for (const outcome of settled) {
      if (outcome.status !== 'fulfilled') continue;
      const type = outcome.value.events[0]?.type;
      if (type === 'Reserved') accepted += 1;
      else if (type === 'LimitExceeded') refused += 1;
    }
    expect(accepted + refused).toBe(issued);
    expect(accepted).toBe(hotAcceptable + spreadAcceptablePerOrg * spreadOrgs.length);

    const events = await readWholeLog(db);
    const report = checkBudgetInvariants(events);
    expect(report.violations).toEqual([]);
    expect(report.unaccounted).toBe(0);
    expect([report.reserved, report.refused]).toEqual([accepted, refused]);

    // Every stream's versions run 1..n without a gap, n is the recorded stream version, and
    // each answer carried the positions the log holds.
    const versionsByStream = new Map<string, number[]>();
    for (const event of events) versionsByStream.set(event.streamId, [...(versionsByStream.get(event.streamId) ?? []), event.streamVersion]);
    const recordedVersions = await db.store.streamVersions(db.pool, [...versionsByStream.keys()]);
    for (const [streamId, versions] of versionsByStream) {
      versions.sort((a, b) => a - b);
      expect(versions, streamId).toEqual(versions.map((_, index) => index + 1));
      expect(recordedVersions.get(streamId), streamId).toBe(versions.length);
    }
    const byEventId = new Map(events.map((e) => [e.eventId, e]));
    for (const outcome of settled) {
      if (outcome.status !== 'fulfilled') continue;
      for (const answered of outcome.value.events) {
        const stored = byEventId.get(answered.eventId);
        expect(stored).toBeDefined();
        expect([answered.streamId, answered.streamVersion, answered.globalPosition, answered.transactionId]).toEqual([
          stored?.streamId,
          stored?.streamVersion,
          stored?.globalPosition,
          stored?.transactionId,
        ]);
        expect(answered.data).toEqual(stored?.data);
      }
    }
    // The spread orgs' batches were group-committed: fewer transactions than orgs written to.
    const spreadTransactions = new Set(events.filter((e) => e.streamId.startsWith('org-spread-') && e.type === 'Reserved').map((e) => e.transactionId));
    expect(spreadTransactions.size).toBeLessThan(spreadIntentsPerOrg * spreadOrgs.length);
  });

  it('catches up with what another process wrote before deciding', async () => {
    const first = new OrgCommandProcessor(db.store, { maxBatchSize: 10 });
    const second = new OrgCommandProcessor(otherStore, { maxBatchSize: 10 });
    await setUp(first, setupCommands('catch', 1_000n, 1, 1_000n));
    expect((await first.submit(reserve('catch', 0, 'c-1', 600n), () => undefined)).events[0]?.type).toBe('Reserved');
    expect((await second.submit(reserve('catch', 0, 'c-2', 300n), () => undefined)).events[0]?.type).toBe('Reserved');
    // 600 + 300 + 200 > 1000: only a processor that read the other's reservation refuses.
    const outcome = await first.submit(reserve('catch', 0, 'c-3', 200n), (state) => state.budget.reservedMicros);
    expect(outcome.events[0]?.type).toBe('LimitExceeded');
    expect(outcome.view).toBe(900n);
  });

  it('rejects only the command a domain error refuses, and answers views in order', async () => {
    const processor = new OrgCommandProcessor(db.store);
    await setUp(processor, setupCommands('dom', null, 1, 10_000n));
    const [ok1, bad, ok2] = await Promise.allSettled([
      processor.submit(reserve('dom', 0, 'd-1'), (state) => state.budget.reservedMicros),
      processor.submit({ ...reserve('dom', 0, 'd-2'), sessionId: 'no-such-session' }, () => undefined),
      processor.submit(reserve('dom', 0, 'd-3'), (state) => state.budget.reservedMicros),
    ]);
    expect(ok1.status === 'fulfilled' && ok1.value.view).toBe(1_000n);
    expect(bad.status === 'rejected' && bad.reason instanceof DomainError).toBe(true);
    expect(ok2.status === 'fulfilled' && ok2.value.view).toBe(2_000n);
  });

  it('after a failed commit rejects the whole group and rebuilds each org from the log', async () => {
    const processor = new OrgCommandProcessor(db.store);
    await setUp(processor, [...setupCommands('fail-a', 1_000n, 1, 1_000n), ...setupCommands('fail-b', 1_000n, 1, 1_000n)]);
    const versionA = await db.store.streamVersion(db.pool, orgStreamId('fail-a'));
    // A row squatting on fail-a's next version makes the next insert fail inside the commit.
    await db.pool.query(
      `INSERT INTO events (event_id, stream_id, stream_version, type, data, metadata, occurred_at)
       VALUES (gen_random_uuid(), $1, $2, 'Squatter', '{}', '{}', now())`,
      [orgStreamId('fail-a'), versionA + 1],
    );
    // Submitted in the same tick, so both orgs' batches share the failing transaction.
    const results = await Promise.allSettled([
      processor.submit(reserve('fail-a', 0, 'f-a1', 600n), () => undefined),
      processor.submit(reserve('fail-b', 0, 'f-b1', 600n), () => undefined),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await db.pool.query("DELETE FROM events WHERE type = 'Squatter'");

    // Had the failed batch stayed in the cache, 600 more would be over the 1,000 limit, and
    // the retried intent would look already decided.
    const again = await processor.submit(reserve('fail-a', 0, 'f-a2', 600n), (state) => state.budget.reservedMicros);
    expect(again.events[0]?.type).toBe('Reserved');
    expect(again.view).toBe(600n);
    const retried = await processor.submit(reserve('fail-b', 0, 'f-b1', 600n), () => undefined);
    expect(retried.events.map((e) => e.type)).toEqual(['Reserved']);
    expect(await db.store.streamVersion(db.pool, orgStreamId('fail-a'))).toBe(versionA + 1);
  });

  it('refuses with a 503 `overloaded` error beyond its pending limits, and decides the rest', async () => {
    const processor = new OrgCommandProcessor(db.store, { maxBatchSize: 500, maxPendingPerOrg: 5, maxPendingTotal: 8 });
    await setUp(processor, [...setupCommands('busy-a', null, 1, 100_000n), ...setupCommands('busy-b', null, 1, 100_000n)]);
    const results = await Promise.allSettled([
      ...Array.from({ length: 7 }, (_, i) => processor.submit(reserve('busy-a', 0, `b-a${i}`), () => undefined)),
      ...Array.from({ length: 5 }, (_, i) => processor.submit(reserve('busy-b', 0, `b-b${i}`), () => undefined)),
    ]);
    const refusals = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(results.map((r) => r.status)).toEqual([...Array<string>(5).fill('fulfilled'), 'rejected', 'rejected', ...Array<string>(3).fill('fulfilled'), 'rejected', 'rejected']);
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(OverloadedError);
      expect(refusal).toMatchObject({ status: 503, code: 'overloaded' });
    }
    expect(refusals.map((r) => (r as OverloadedError).scope)).toEqual(['org', 'org', 'total', 'total']);
    // Once answered, the room is back.
    expect((await processor.submit(reserve('busy-a', 0, 'b-a-later'), () => undefined)).events[0]?.type).toBe('Reserved');
  });

  it('pipelines one org: batches decided behind ones still committing commit after them, in order', async () => {
    const processor = new OrgCommandProcessor(db.store, { maxBatchSize: 1, maxInFlightPerOrg: 3, maxConcurrentCommits: 3 });
    await setUp(processor, setupCommands('pipe', null, 1, 1_000_000n));
    const fastCommitsBefore = processor.counters.fastCommits;
    const outcomes = await Promise.all(Array.from({ length: 9 }, (_, i) => processor.submit(reserve('pipe', 0, `pipe-${i}`), (state) => state.budget.reservedMicros)));
    expect(outcomes.map((o) => o.view)).toEqual(outcomes.map((_, i) => BigInt(i + 1) * amountMicros));
    const versions = outcomes.map((o) => o.events[0]?.streamVersion ?? 0);
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(new Set(outcomes.map((o) => o.events[0]?.transactionId)).size).toBe(9);
    expect(processor.counters.fastCommits - fastCommitsBefore).toBe(9);
    expect(checkBudgetInvariants(await readWholeLog(db)).violations).toEqual([]);
  });

  it('sends a pipelined batch right when answers cross: behind one that committed, fenced by version alone', async () => {
    // Once armed, the next commit's answer reaches the processor late, after the one behind it.
    let armed = false;
    const lateStore = new EventStore(db.pool);
    const commitFenced = lateStore.commitFenced.bind(lateStore);
    lateStore.commitFenced = async (...args) => {
      const late = armed;
      armed = false;
      const recorded = await commitFenced(...args);
      if (late) await new Promise((resolve) => setTimeout(resolve, 200));
      return recorded;
    };
    const processor = new OrgCommandProcessor(lateStore, { maxBatchSize: 1, maxInFlightPerOrg: 2 });
    await setUp(processor, setupCommands('cross', null, 1, 100n * amountMicros));
    const counters = { ...processor.counters };
    armed = true;
    const view = (state: OrgState): bigint => state.budget.reservedMicros;
    // Two batches go out at once; the third waits for room and goes when the second answers,
    // while the first is still unanswered.
    const outcomes = await Promise.all([1, 2, 3].map((i) => processor.submit(reserve('cross', 0, `cross-${i}`), view)));
    expect(outcomes.map((o) => o.view)).toEqual([1n, 2n, 3n].map((n) => n * amountMicros));
    // A batch may overtake the one before it to the lock and be sent again, but none may be
    // taken for another process's write: no state dropped, nothing decided again.
    expect([processor.counters.droppedStates - counters.droppedStates, processor.counters.redecidedCommands - counters.redecidedCommands]).toEqual([0, 0]);
    expect(processor.counters.fastCommits - counters.fastCommits).toBe(3);
  });

  it('a stale processor with batches pipelined behind a stale one decides them all again, on what the other wrote', async () => {
    const first = new OrgCommandProcessor(db.store, { maxBatchSize: 2, maxInFlightPerOrg: 3, maxConcurrentCommits: 3 });
    const second = new OrgCommandProcessor(otherStore, { maxBatchSize: 2, maxInFlightPerOrg: 3, maxConcurrentCommits: 3 });
    await setUp(first, setupCommands('stale', 5n * amountMicros, 1, 100n * amountMicros));
    // The other process reserves twice in one batch; the first one's cache does not know. Its
    // batches are two events long too, so a version alone would let the second one commit
    // right where the other process's batch ended, on a state holding the failed first one.
    const other = await Promise.all([0, 1].map((i) => second.submit(reserve('stale', 0, `stale-other-${i}`), () => undefined)));
    expect(other.map((o) => o.events[0]?.type)).toEqual(['Reserved', 'Reserved']);
    expect(other[0]?.events[0]?.transactionId).toBe(other[1]?.events[0]?.transactionId);
    const counters = { ...first.counters };
    const outcomes = await Promise.all(Array.from({ length: 6 }, (_, i) => first.submit(reserve('stale', 0, `stale-${i}`), (state) => state.budget.reservedMicros)));
    // Three batches went out on the stale state: all failed their fences and were decided again.
    expect(first.counters.staleFences - counters.staleFences).toBe(3);
    expect(first.counters.redecidedCommands - counters.redecidedCommands).toBe(6);
    expect(first.counters.droppedStates - counters.droppedStates).toBe(1);
    expect(outcomes.map((o) => o.events[0]?.type)).toEqual(['Reserved', 'Reserved', 'Reserved', 'LimitExceeded', 'LimitExceeded', 'LimitExceeded']);
    expect(outcomes.map((o) => o.view)).toEqual([3n, 4n, 5n, 5n, 5n, 5n].map((n) => n * amountMicros));

    // Then both at once, in rounds, on orgs with room for exactly five payments.
    for (let round = 0; round < 10; round += 1) {
      const orgId = `stale-round-${round}`;
      await setUp(round % 2 === 0 ? first : second, setupCommands(orgId, 5n * amountMicros, 2, 100n * amountMicros));
      const submissions = Array.from({ length: 8 }, (_, i) => (i % 3 === round % 3 ? second : first).submit(reserve(orgId, i % 2, `${orgId}-${i}`), () => undefined));
      const types = (await Promise.all(submissions)).map((o) => o.events[0]?.type);
      expect(types.filter((t) => t === 'Reserved'), orgId).toHaveLength(5);
      expect(types.filter((t) => t === 'LimitExceeded'), orgId).toHaveLength(3);
    }
    const report = checkBudgetInvariants(await readWholeLog(db));
    expect(report.violations).toEqual([]);
    expect(report.unaccounted).toBe(0);
  });

  it('decides a batch again when the batch it was pipelined behind failed, without that one\'s effects', async () => {
    const processor = new OrgCommandProcessor(db.store, { maxBatchSize: 1, maxInFlightPerOrg: 3, maxConcurrentCommits: 3 });
    await setUp(processor, setupCommands('pred', 3n * amountMicros, 1, 100n * amountMicros));
    const counters = { ...processor.counters };
    const view = (state: OrgState): bigint => state.budget.reservedMicros;
    const results = await Promise.allSettled([
      processor.submit(reserve('pred', 0, 'test-hook-fail-1'), view),
      processor.submit(reserve('pred', 0, 'pred-2'), view),
      processor.submit(reserve('pred', 0, 'pred-3'), view),
      processor.submit(reserve('pred', 0, 'pred-4'), view),
    ]);
    expect(results[0]?.status === 'rejected' && String(results[0].reason)).toContain('test hook refused');
    // Had the failed reservation stayed in the state, the last one would be over the limit.
    expect(results.slice(1).map((r) => (r.status === 'fulfilled' ? [r.value.events[0]?.type, r.value.view] : String(r.reason)))).toEqual([
      ['Reserved', 1n * amountMicros],
      ['Reserved', 2n * amountMicros],
      ['Reserved', 3n * amountMicros],
    ]);
    // The two sent behind it, and the fourth, decided ahead while all three were in flight.
    expect(processor.counters.redecidedCommands - counters.redecidedCommands).toBe(3);
    const events = await readWholeLog(db);
    expect(events.filter((e) => e.streamId === orgStreamId('pred') && e.type === 'Reserved').map((e) => (e.data as { intentId: string }).intentId)).toEqual(['pred-2', 'pred-3', 'pred-4']);
    expect(checkBudgetInvariants(events).violations).toEqual([]);
  });

  it('survives the connection of a pipelined batch being killed mid-transaction', async () => {
    const processor = new OrgCommandProcessor(db.store, { maxBatchSize: 1, maxInFlightPerOrg: 3, maxConcurrentCommits: 3 });
    await setUp(processor, setupCommands('kill', 3n * amountMicros, 1, 100n * amountMicros));
    const view = (state: OrgState): bigint => state.budget.reservedMicros;
    const submitted = [
      processor.submit(reserve('kill', 0, 'test-hook-hang-1'), view),
      processor.submit(reserve('kill', 0, 'kill-2'), view),
      processor.submit(reserve('kill', 0, 'kill-3'), view),
    ];
    const settled = Promise.allSettled(submitted);
    // The first batch hangs in its insert, holding the org's lock; the next two queue on it
    // (or one may have reached the lock first, failed its fence, and wait in the process).
    let hanging: number | undefined;
    let queuedCount = 0;
    for (let attempt = 0; attempt < 500 && (hanging === undefined || queuedCount < 2); attempt += 1) {
      if (hanging !== undefined && queuedCount === 1 && attempt >= 50) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
      const found = await db.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event = 'PgSleep'");
      hanging = found.rows[0]?.pid;
      const queued = await db.pool.query<{ count: string }>("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
      queuedCount = Number(queued.rows[0]?.count);
    }
    expect(hanging).toBeDefined();
    expect(queuedCount).toBeGreaterThanOrEqual(1);
    await db.pool.query('SELECT pg_terminate_backend($1)', [hanging]);
    const results = await settled;
    expect(results[0]?.status).toBe('rejected');
    expect(results.slice(1).map((r) => (r.status === 'fulfilled' ? [r.value.events[0]?.type, r.value.view] : String(r.reason)))).toEqual([
      ['Reserved', 1n * amountMicros],
      ['Reserved', 2n * amountMicros],
    ]);
    // The pool and the org carry on: one more fits, the next is refused.
    expect((await processor.submit(reserve('kill', 0, 'kill-4'), view)).view).toBe(3n * amountMicros);
    expect((await processor.submit(reserve('kill', 0, 'kill-5'), view)).events[0]?.type).toBe('LimitExceeded');
    const events = await readWholeLog(db);
    expect(events.some((e) => e.metadata.correlationId === 'test-hook-hang-1')).toBe(false);
    const report = checkBudgetInvariants(events);
    expect(report.violations).toEqual([]);
    expect(report.unaccounted).toBe(0);
  });

  describe('one command the store cannot hold fails alone', () => {
    const view = (state: OrgState): bigint => state.budget.reservedMicros;
    let poisonedOrgCount = 0;
    const openSession = (orgId: string, sessionId: string, agentId: string, metadata: Record<string, string>): BudgetCommand => ({
      type: 'OpenSession',
      orgId,
      actor: `agent:${agentId}`,
      at,
      sessionId,
      agentId,
      limitMicros: 10_000n,
      expiresAt: '2026-11-25T11:00:00.000Z',
      maxPayments: null,
      metadata,
      idempotency: null,
    });

    it.each([
      ['a NUL character', { k: 'a\u0000' }, 'nul_character', 'data.metadata.k'],
      ['a NUL character in a key', { 'k\u0000': 'a' }, 'nul_character', 'data.metadata[key]'],
      ['a lone high surrogate', { k: '\ud800' }, 'unpaired_surrogate', 'data.metadata.k'],
      ['a lone low surrogate', { k: 'x\udc00y' }, 'unpaired_surrogate', 'data.metadata.k'],
    ])('%s in a session\'s metadata, amid another agent\'s payments in the same batch', async (_case, metadata, reason, field) => {
      poisonedOrgCount += 1;
      const orgId = `poison-${poisonedOrgCount}`;
      const processor = new OrgCommandProcessor(db.store);
      // Two agents of one org: agent 0 pays, agent 1 sends the poisoned session.
      await setUp(processor, setupCommands(orgId, null, 2, 1_000_000n));
      const counters = { ...processor.counters };
      const submitted = [
        ...Array.from({ length: 10 }, (_, i) => processor.submit(reserve(orgId, 0, `${orgId}-before-${i}`), view)),
        processor.submit(openSession(orgId, `${orgId}-poisoned`, `${orgId}-a1`, metadata), view),
        ...Array.from({ length: 10 }, (_, i) => processor.submit(reserve(orgId, 0, `${orgId}-after-${i}`), view)),
      ];
      const results = await Promise.allSettled(submitted);
      const poisoned = results[10];
      expect(poisoned?.status).toBe('rejected');
      const refusal = poisoned?.status === 'rejected' ? (poisoned.reason as unknown) : undefined;
      expect(refusal).toBeInstanceOf(UnstorableEventError);
      expect(refusal).toMatchObject({ code: 'invalid_command', reason, field });
      const innocents = results.filter((_, index) => index !== 10);
      expect(innocents.map((r) => (r.status === 'fulfilled' ? r.value.events[0]?.type : String(r.reason)))).toEqual(Array<string>(20).fill('Reserved'));
      // In order, on one state that never held the poisoned session.
      expect(innocents.map((r) => (r.status === 'fulfilled' ? r.value.view : 0n))).toEqual(innocents.map((_, i) => BigInt(i + 1) * amountMicros));
      // Nothing was dropped, rebuilt or decided again: the batch never carried the bad command.
      expect(processor.counters.droppedStates - counters.droppedStates).toBe(0);
      expect(processor.counters.rebuiltStates - counters.rebuiltStates).toBe(0);
      expect(processor.counters.redecidedCommands - counters.redecidedCommands).toBe(0);
      expect(processor.counters.unstorableCommands - counters.unstorableCommands).toBe(1);
      // The other agent's work goes on, and the poisoning agent can still open a good session.
      const good = await processor.submit(openSession(orgId, `${orgId}-good`, `${orgId}-a1`, { k: 'fine ✓ 😀' }), () => undefined);
      expect(good.events.map((e) => e.type)).toEqual(['SessionOpened']);
    });

    it('an org id the store cannot hold is refused at once, before it joins a batch', async () => {
      const processor = new OrgCommandProcessor(db.store);
      await expect(processor.submit({ type: 'CreateOrg', orgId: 'bad\u0000org', actor: 'admin:test', at, name: 'x', limitMicros: null }, () => undefined)).rejects.toMatchObject({
        code: 'invalid_command',
        reason: 'nul_character',
        field: 'orgId',
      });
    });

    it('a commit the database refuses for its data is split until the one command at fault fails alone; the others are answered, the orgs restored from their snapshots, never re-read from their first event', async () => {
      const processor = new OrgCommandProcessor(db.store, { maxBatchSize: 500 });
      const orgs = ['split-a', 'split-b', 'split-c'];
      for (const orgId of orgs) await setUp(processor, setupCommands(orgId, 100n * amountMicros, 2, 1_000n * amountMicros));
      // A few more commits, so that each org has a snapshot and events after it.
      for (const orgId of orgs) await processor.submit(reserve(orgId, 1, `${orgId}-warm`), view);
      const counters = { ...processor.counters };
      expect(counters.snapshots).toBeGreaterThanOrEqual(orgs.length);
      // The trigger refuses one Reserved with SQLSTATE 22023, which the checks before the
      // batch cannot foresee: the whole group's transaction fails on it.
      const submitted = orgs.flatMap((orgId) =>
        Array.from({ length: 12 }, (_, i) => processor.submit(reserve(orgId, 0, orgId === 'split-b' && i === 7 ? 'test-hook-data-split' : `${orgId}-${i}`), view)),
      );
      const results = await Promise.allSettled(submitted);
      const culpritIndex = 12 + 7;
      const culprit = results[culpritIndex];
      expect(culprit?.status === 'rejected' && culprit.reason).toBeInstanceOf(UnstorableEventError);
      expect(culprit?.status === 'rejected' && (culprit.reason as UnstorableEventError).reason).toBe('refused_by_store');
      expect(culprit?.status === 'rejected' && String(culprit.reason)).toContain('22023');
      const innocents = results.filter((_, index) => index !== culpritIndex);
      expect(innocents.map((r) => (r.status === 'fulfilled' ? r.value.events[0]?.type : String(r.reason)))).toEqual(Array<string>(35).fill('Reserved'));
      // Each org's answers are its reservations in order, without the refused one's amount.
      for (const [orgIndex] of orgs.entries()) {
        const views = results.slice(orgIndex * 12, orgIndex * 12 + 12).flatMap((r) => (r.status === 'fulfilled' ? [r.value.view] : []));
        expect(views).toEqual(views.map((_, i) => BigInt(i + 2) * amountMicros));
      }
      expect(processor.counters.unstorableCommands - counters.unstorableCommands).toBe(1);
      expect(processor.counters.rebuiltStates - counters.rebuiltStates).toBe(0);
      expect(processor.counters.restoredStates - counters.restoredStates).toBeGreaterThanOrEqual(orgs.length);
      const events = await readWholeLog(db);
      expect(events.some((e) => e.metadata.correlationId === 'test-hook-data-split')).toBe(false);
      const report = checkBudgetInvariants(events);
      expect(report.violations).toEqual([]);
      expect(report.unaccounted).toBe(0);
      // The orgs carry on, on the fast path, with what was committed.
      const next = await processor.submit(reserve('split-b', 0, 'split-b-next'), view);
      expect(next.view).toBe(13n * amountMicros);
    });
  });
});
