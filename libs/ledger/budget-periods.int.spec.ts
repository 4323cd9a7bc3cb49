import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetCommand, Reserve } from '../domain/budget/commands.js';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { BalanceProjection } from './balance-projection.js';
import { spentInCurrentPeriodMicros, type BudgetBalanceRow } from './budget-balance.js';
import { OrgCommandProcessor } from './org-command-processor.js';

// Day and month budgets start afresh each period in the domain; the read model the
// dashboard and the agents' balances come from must count the same way.

const DAY_1 = '2026-12-06T22:00:00.000Z';
const DAY_2 = '2026-12-07T09:00:00.000Z';

function at(time: string) {
  return { orgId: 'org-period', actor: 'system', at: time };
}

function reserve(intentId: string, amountMicros: bigint, time: string): Reserve {
  return {
    ...at(time),
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
    validBefore: '2026-12-08T00:00:00.000Z',
    method: 'GET',
    idempotency: null,
  };
}

function signAndSettle(intentId: string, amountAtomic: bigint, time: string): BudgetCommand[] {
  return [
    { ...at(time), type: 'RecordSignature', intentId, scheme: 'exact', payer: '0x1', nonce: `0x${intentId}`, validAfter: '1970-01-01T00:00:00.000Z', validBefore: '2026-12-08T00:00:00.000Z' },
    { ...at(time), type: 'Settle', intentId, amountAtomic, network: 'eip155:31337', transaction: `0xtx${intentId}`, payer: '0x1' },
  ];
}

async function budgetRow(db: TestDatabase, level: string): Promise<BudgetBalanceRow & { reserved_micros: string }> {
  const result = await db.pool.query<BudgetBalanceRow>('SELECT limit_micros, reserved_micros, spent_micros, period, period_key FROM budget_balances WHERE org_id = $1 AND level = $2', ['org-period', level]);
  return result.rows[0]!;
}

describe('budget balances per period', () => {
  let db: TestDatabase;
  let processor: OrgCommandProcessor;
  let projection: BalanceProjection;
  beforeAll(async () => {
    db = await freshDatabase('periods');
    processor = new OrgCommandProcessor(db.store);
    projection = new BalanceProjection(db.store);
    const commands: BudgetCommand[] = [
      { ...at(DAY_1), type: 'CreateOrg', name: 'Periods', limitMicros: null },
      { ...at(DAY_1), type: 'CreateTeam', teamId: 't-1', name: 'T', limitMicros: 50_000_000n },
      { ...at(DAY_1), type: 'RegisterAgent', agentId: 'a-1', teamId: 't-1', name: 'A', limitMicros: null },
      { ...at(DAY_1), type: 'ChangeBudget', level: 'agent', levelId: 'a-1', limitMicros: 1_000_000n, period: 'day' },
      { ...at(DAY_1), type: 'OpenSession', sessionId: 's-1', agentId: 'a-1', limitMicros: 10_000_000n, expiresAt: '2026-12-08T00:00:00.000Z', maxPayments: null, metadata: {}, idempotency: null },
      reserve('i-1', 400_000n, DAY_1),
      ...signAndSettle('i-1', 400_000n, DAY_1),
      reserve('i-2', 300_000n, DAY_2),
      ...signAndSettle('i-2', 300_000n, DAY_2),
      reserve('i-3', 100_000n, DAY_2),
    ];
    for (const command of commands) {
      const outcome = await processor.submit(command, () => undefined);
      expect(outcome).toBeDefined();
    }
    await projection.catchUpAll();
  });
  afterAll(async () => {
    await db.drop();
  });

  it("counts a day budget's spend in the day it settled in, as the domain decides", async () => {
    const agent = await budgetRow(db, 'agent');
    expect(agent).toMatchObject({ period: 'day', period_key: '2026-12-07', spent_micros: '300000', reserved_micros: '100000' });
    // The day before, nothing was spent yet on day 2; the day after, nothing is spent.
    expect(spentInCurrentPeriodMicros(agent, new Date(DAY_2))).toBe(300_000n);
    expect(spentInCurrentPeriodMicros(agent, new Date('2026-12-08T00:00:01.000Z'))).toBe(0n);
    // The domain agrees: with 1.00 a day, 0.30 spent and 0.10 held, 0.70 fits and 0.60 is what remains.
    const refused = await processor.submit(reserve('i-4', 700_000n, DAY_2), () => undefined);
    const accepted = await processor.submit(reserve('i-5', 600_000n, DAY_2), () => undefined);
    expect(JSON.stringify(refused, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toContain('LimitExceeded');
    expect(JSON.stringify(accepted, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))).toContain('Reserved');
  });

  it('keeps counting a budget without a period for ever', async () => {
    const team = await budgetRow(db, 'team');
    expect(team).toMatchObject({ period: 'none', period_key: '', spent_micros: '700000' });
  });

  it('starts a level afresh when its kind of period changes, and a rebuild from the log agrees', async () => {
    await processor.submit({ ...at(DAY_2), type: 'ChangeBudget', level: 'team', levelId: 't-1', limitMicros: 50_000_000n, period: 'month' }, () => undefined);
    await projection.catchUpAll();
    expect(await budgetRow(db, 'team')).toMatchObject({ period: 'month', period_key: '', spent_micros: '0' });
    const live = await db.pool.query('SELECT * FROM budget_balances ORDER BY level, level_id');
    await projection.rebuild();
    const rebuilt = await db.pool.query('SELECT * FROM budget_balances ORDER BY level, level_id');
    expect(rebuilt.rows).toEqual(live.rows);
  });
});
