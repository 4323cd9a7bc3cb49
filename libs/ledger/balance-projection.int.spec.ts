import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetCommand, Reserve } from '../domain/budget/commands.js';
import { EMPTY_POLICY } from '../domain/budget/policy.js';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { BalanceProjection } from './balance-projection.js';
import { OrgCommandProcessor } from './org-command-processor.js';

const run = promisify(execFile);
const at = '2026-11-25T10:00:00.000Z';
const base = { orgId: 'org-p', actor: 'system', at };

function reserve(intentId: string, amountMicros: bigint): Reserve {
  return {
    ...base,
    type: 'Reserve',
    intentId,
    sessionId: 's-1',
    agentId: 'a-1',
    amountMicros,
    amountAtomic: amountMicros,
    asset: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    network: 'eip155:31337',
    payTo: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    resource: 'http://127.0.0.1/data',
    validBefore: '2026-11-25T10:05:00.000Z',
    method: 'GET',
    idempotency: null,
  };
}

/** An org with a team, an agent in it and one session of $1.00. */
const ORG_WITH_ONE_SESSION: BudgetCommand[] = [
  { ...base, type: 'CreateOrg', name: 'P', limitMicros: 10_000_000n },
  { ...base, type: 'CreateTeam', teamId: 't-1', name: 'T', limitMicros: null },
  { ...base, type: 'RegisterAgent', agentId: 'a-1', teamId: 't-1', name: 'A', limitMicros: 5_000_000n },
  { ...base, type: 'OpenSession', sessionId: 's-1', agentId: 'a-1', limitMicros: 1_000_000n, expiresAt: '2026-11-25T11:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null },
];

async function snapshot(db: TestDatabase): Promise<unknown[]> {
  const sessions = await db.pool.query('SELECT session_id, limit_micros, reserved_micros, spent_micros, payments_count FROM sessions_view ORDER BY session_id');
  const budgets = await db.pool.query('SELECT level, level_id, limit_micros, reserved_micros, spent_micros FROM budget_balances ORDER BY level, level_id');
  const payments = await db.pool.query('SELECT intent_id, status, amount_micros, transaction, reason FROM payments_view ORDER BY intent_id');
  const holds = await db.pool.query('SELECT org_id, network, asset, held_atomic FROM wallet_holds ORDER BY org_id, network, asset');
  return [sessions.rows, budgets.rows, payments.rows, holds.rows];
}

describe('balance projection', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('projection');
    const processor = new OrgCommandProcessor(db.store);
    const commands: BudgetCommand[] = [
      ...ORG_WITH_ONE_SESSION,
      reserve('i-1', 300_000n),
      reserve('i-2', 200_000n),
      reserve('i-3', 900_000n),
      { ...base, type: 'RecordSignature', intentId: 'i-1', scheme: 'exact', payer: '0x1', nonce: '0xn1', validAfter: '1970-01-01T00:00:00.000Z', validBefore: '2026-11-25T10:05:00.000Z' },
      { ...base, type: 'Settle', intentId: 'i-1', amountAtomic: 250_000n, network: 'eip155:31337', transaction: '0xabc', payer: '0x1' },
      { ...base, type: 'Release', intentId: 'i-2', reason: 'seller_answered_500', proof: { kind: 'never_signed' } },
      reserve('i-4', 100_000n),
    ];
    for (const command of commands) await processor.submit(command, () => undefined);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('shows held, spent and released money per level and per payment', async () => {
    await new BalanceProjection(db.store).catchUpAll();
    const [sessions, budgets, payments, holds] = (await snapshot(db)) as Record<string, string>[][];
    expect(sessions).toEqual([{ session_id: 's-1', limit_micros: '1000000', reserved_micros: '100000', spent_micros: '250000', payments_count: 3 }]);
    expect(budgets!.find((b) => b.level === 'org')).toMatchObject({ reserved_micros: '100000', spent_micros: '250000' });
    expect(budgets!.find((b) => b.level === 'team')).toMatchObject({ reserved_micros: '100000', spent_micros: '250000' });
    expect(payments!.map((p) => [p.intent_id, p.status, p.reason])).toEqual([
      ['i-1', 'settled', 'paid_less'],
      ['i-2', 'refunded', 'seller_answered_500'],
      ['i-3', 'rejected', 'session_limit_exceeded'],
      ['i-4', 'reserved', null],
    ]);
    // The wallet still holds only the open payment: the settled one and the released one let go of theirs, once.
    expect(holds).toEqual([{ org_id: 'org-p', network: 'eip155:31337', asset: '0x5fbdb2315678afecb367f032d93f642f64180aa3', held_atomic: '100000' }]);
  });

  it('is rebuilt identically from the events by `npm run projections:rebuild`', async () => {
    const before = await snapshot(db);
    await db.pool.query("UPDATE sessions_view SET spent_micros = 999 WHERE session_id = 's-1'");
    const { stdout } = await run(process.execPath, ['dist/apps/governor/rebuild-projections.js'], { env: { ...process.env, DATABASE_URL: db.url } });
    expect(stdout).toMatch(/rebuilt balances from 12 events/);
    expect(await snapshot(db)).toEqual(before);
  });
});

describe('balance projection of payments held for approval', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('projection_approval');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('holds an approved payment once, from its request, and lets a denied one go', async () => {
    const processor = new OrgCommandProcessor(db.store);
    const commands: BudgetCommand[] = [
      ...ORG_WITH_ONE_SESSION,
      { ...base, type: 'ChangePolicy', level: 'org', levelId: 'org-p', policy: { ...EMPTY_POLICY, approvalAboveMicros: 100_000n }, expectedVersion: null },
      reserve('i-small', 50_000n),
      reserve('i-approved', 300_000n),
      reserve('i-denied', 200_000n),
      { ...base, type: 'DecideApproval', intentId: 'i-approved', approve: true, reason: 'approved' },
      { ...base, type: 'DecideApproval', intentId: 'i-denied', approve: false, reason: 'denied' },
    ];
    for (const command of commands) await processor.submit(command, () => undefined);
    await new BalanceProjection(db.store).catchUpAll();

    const [sessions, budgets, payments, holds] = (await snapshot(db)) as Record<string, string>[][];
    // Held: the small payment and the approved one, each once (the approval moves no money).
    expect(sessions).toEqual([{ session_id: 's-1', limit_micros: '1000000', reserved_micros: '350000', spent_micros: '0', payments_count: 3 }]);
    for (const level of ['org', 'team', 'agent']) {
      expect(budgets!.find((b) => b.level === level)).toMatchObject({ reserved_micros: '350000', spent_micros: '0' });
    }
    expect(payments!.map((p) => [p.intent_id, p.status, p.reason])).toEqual([
      ['i-approved', 'reserved', null],
      ['i-denied', 'rejected', 'approval_denied'],
      ['i-small', 'reserved', null],
    ]);
    expect(holds).toEqual([{ org_id: 'org-p', network: 'eip155:31337', asset: '0x5fbdb2315678afecb367f032d93f642f64180aa3', held_atomic: '350000' }]);
  });
});

describe('balance projection of an org event it cannot apply', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('projection_stall');
  });
  afterAll(async () => {
    await db.drop();
  });

  const setUpOrg = (orgId: string): BudgetCommand[] => ORG_WITH_ONE_SESSION.map((command) => ({ ...command, orgId }));
  const reserveIn = (orgId: string, intentId: string): Reserve => ({ ...reserve(intentId, 10_000n), orgId });

  it('stops that org only, loudly, answers its reads at once, and resumes once the cause is fixed', async () => {
    const processor = new OrgCommandProcessor(db.store);
    for (const command of [...setUpOrg('good'), ...setUpOrg('bad'), reserveIn('good', 'g-1'), reserveIn('bad', 'b-1')]) await processor.submit(command, () => undefined);
    // A refusal recorded before amounts were bounded: 10^30 micro-dollars, more than
    // payments_view.amount_micros (numeric(30,0)) holds. The domain refuses it now, so it
    // is appended the way an older version wrote it.
    const badVersion = (await db.store.streamVersion(db.pool, 'org-bad')) + 1;
    await db.store.transaction((client) =>
      db.store.append(client, 'org-bad', badVersion - 1, [
        {
          type: 'LimitExceeded',
          occurredAt: at,
          metadata: { actor: 'agent:a-1', orgId: 'bad', correlationId: 'b-huge' },
          data: { intentId: 'b-huge', sessionId: 's-1', agentId: 'a-1', orgId: 'bad', level: 'session', code: 'session_limit_exceeded', limitMicros: 1_000_000n, requestedMicros: 10n ** 30n, remainingMicros: 990_000n, limitCount: null, policySource: null, resource: 'http://127.0.0.1/data', idempotencyKey: null, requestHash: null },
        },
      ]),
    );
    const after = new OrgCommandProcessor(db.store);
    for (const command of [reserveIn('good', 'g-2'), reserveIn('bad', 'b-2')]) await after.submit(command, () => undefined);

    const lines: { level: number; msg: string; eventType?: string; eventId?: string; streamVersion?: number }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const registry = new Registry();
    let nowMs = Date.now();
    const projection = new BalanceProjection(db.store, { logger, registry, now: () => nowMs });

    // The other org is projected in full; the bad one up to the event before.
    await expect(projection.catchUpAll()).resolves.toBeGreaterThan(0);
    const intents = async (orgId: string) => (await db.pool.query<{ intent_id: string }>('SELECT intent_id FROM payments_view WHERE org_id = $1 ORDER BY intent_id', [orgId])).rows.map((r) => r.intent_id);
    expect(await intents('good')).toEqual(['g-1', 'g-2']);
    expect(await intents('bad')).toEqual(['b-1']);
    expect((await db.pool.query('SELECT version FROM projection_checkpoints WHERE stream_id = $1', ['org-bad'])).rows[0]).toEqual({ version: String(badVersion - 1) });

    // Loudly: on record, logged with the event, counted.
    const failure = await db.pool.query('SELECT stream_version, event_type, sqlstate, attempts FROM projection_failures');
    expect(failure.rows).toEqual([{ stream_version: String(badVersion), event_type: 'LimitExceeded', sqlstate: '22003', attempts: 1 }]);
    const logged = lines.find((line) => line.level === 50);
    expect(logged).toMatchObject({ eventType: 'LimitExceeded', streamVersion: badVersion });
    expect(typeof logged?.eventId).toBe('string');
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/^paybound_projection_failures_total 1$/m);
    expect(metrics).toMatch(/^paybound_projection_stalled_streams 1$/m);

    // The org's reads fail at once with a clear error, without trying again before it is due.
    for (let i = 0; i < 3; i++) {
      await expect(projection.catchUpStream('org-bad')).rejects.toMatchObject({ status: 503, code: 'projection_stalled', figures: { streamVersion: badVersion, eventType: 'LimitExceeded' } });
    }
    expect((await db.pool.query('SELECT attempts FROM projection_failures')).rows).toEqual([{ attempts: 1 }]);
    // Every other org keeps projecting, and a whole-log catch-up does not fail for it.
    await after.submit(reserveIn('good', 'g-3'), () => undefined);
    await projection.catchUpAll();
    expect(await intents('good')).toEqual(['g-1', 'g-2', 'g-3']);
    await expect(projection.catchUpStream('org-good')).resolves.toBe(0);

    // Fixed (here: a column wide enough), and due: it resumes by itself, and the record goes.
    await db.pool.query('ALTER TABLE payments_view ALTER COLUMN amount_micros TYPE numeric(40, 0)');
    await db.pool.query('UPDATE projection_failures SET retry_at = now()');
    nowMs += 10 * 60_000;
    await projection.catchUpAll();
    expect(await intents('bad')).toEqual(['b-1', 'b-2', 'b-huge']);
    expect((await db.pool.query('SELECT count(*)::int AS n FROM projection_failures')).rows).toEqual([{ n: 0 }]);
    await expect(projection.catchUpStream('org-bad')).resolves.toBe(0);
    expect(await registry.metrics()).toMatch(/^paybound_projection_stalled_streams 0$/m);
  });
});
