import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetCommand, Reserve } from '../domain/budget/commands.js';
import { ObservedDecisions } from '../ledger/decision-telemetry.js';
import { BalanceProjection } from '../ledger/balance-projection.js';
import { OrgCommandProcessor, orgStreamId } from '../ledger/org-command-processor.js';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import type { EvmChainReader } from './chain.js';
import { Reconciler } from './reconciler.js';
import { localDecisions } from './worker-decisions.js';

const logger = pino({ level: 'silent' });
const NETWORK = 'eip155:31337';
const PAYER = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const TRANSACTION = `0x${'ab'.repeat(32)}`;

/** A chain on which every authorization asked about was used, by a transfer of `amountAtomic`. */
function chainThatPaid(amountAtomic: bigint): EvmChainReader & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    observe: (query) => {
      asked.push(query.nonce);
      return Promise.resolve({ blockNumber: 10n, blockTimeSec: Math.floor(Date.now() / 1000), authorizationUsed: true, transfer: { transaction: TRANSACTION, amountAtomic } });
    },
    balances: () => Promise.reject(new Error('not used here')),
  };
}

describe('the reconciler depends on nothing but the payments it reconciles', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('reconciler');
  });
  afterAll(async () => {
    await db.drop();
  });

  const at = new Date().toISOString();
  const setUp = (orgId: string): BudgetCommand[] => {
    const base = { orgId, actor: 'admin:test', at };
    return [
      { ...base, type: 'CreateOrg', name: orgId, limitMicros: null },
      { ...base, type: 'RegisterAgent', agentId: 'a1', teamId: null, name: 'agent', limitMicros: null },
      { ...base, type: 'OpenSession', sessionId: `${orgId}-s1`, agentId: 'a1', limitMicros: 1_000_000n, expiresAt: new Date(Date.now() + 3_600_000).toISOString(), maxPayments: null, metadata: {}, idempotency: null },
    ];
  };
  const reserve = (orgId: string, intentId: string): Reserve => ({
    type: 'Reserve',
    orgId,
    actor: 'agent:a1',
    at,
    intentId,
    sessionId: `${orgId}-s1`,
    agentId: 'a1',
    amountMicros: 1_000n,
    amountAtomic: 1_000n,
    asset: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
    network: NETWORK,
    payTo: '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
    resource: 'http://127.0.0.1/data',
    method: 'GET',
    validBefore: new Date(Date.now() + 300_000).toISOString(),
    idempotency: null,
  });
  const sign = (orgId: string, intentId: string): BudgetCommand => ({
    type: 'RecordSignature',
    orgId,
    actor: 'worker:settlement',
    at,
    intentId,
    scheme: 'exact',
    payer: PAYER,
    nonce: `0x${intentId.padStart(64, '0')}`,
    validAfter: new Date(0).toISOString(),
    validBefore: new Date(Date.now() + 300_000).toISOString(),
  });

  it("settles a signed payment while another org's projection is stopped and the balance read model is gone altogether", async () => {
    const processor = new OrgCommandProcessor(db.store);
    for (const command of [...setUp('payer'), reserve('payer', '1'), sign('payer', '1'), reserve('payer', '2'), ...setUp('poisoned')]) await processor.submit(command, () => undefined);
    // Another org holds an event the balance projection cannot apply (10^30 micro-dollars in
    // a numeric(30,0) column), as written before amounts were bounded.
    const version = await db.store.streamVersion(db.pool, orgStreamId('poisoned'));
    await db.store.transaction((client) =>
      db.store.append(client, orgStreamId('poisoned'), version, [
        {
          type: 'LimitExceeded',
          occurredAt: at,
          metadata: { actor: 'agent:a1', orgId: 'poisoned', correlationId: 'huge' },
          data: { intentId: 'huge', sessionId: 'poisoned-s1', agentId: 'a1', orgId: 'poisoned', level: 'session', code: 'session_limit_exceeded', limitMicros: 1_000_000n, requestedMicros: 10n ** 30n, remainingMicros: 1_000_000n, limitCount: null, policySource: null, resource: 'http://127.0.0.1/data', idempotencyKey: null, requestHash: null },
        },
      ]),
    );
    await new BalanceProjection(db.store).catchUpAll();
    expect((await db.pool.query('SELECT stream_id FROM projection_failures')).rows).toEqual([{ stream_id: orgStreamId('poisoned') }]);
    // And the read model the reconciler used to read is gone: it must not need it.
    await db.pool.query('ALTER TABLE payments_view RENAME TO payments_view_away');
    try {
      const chain = chainThatPaid(1_000n);
      const reconciler = new Reconciler({
        pool: db.pool,
        store: db.store,
        decisions: localDecisions(new ObservedDecisions(new OrgCommandProcessor(db.store), undefined)),
        chains: new Map([[NETWORK, chain]]),
        logger,
        intervalMs: 50,
      });
      // Only the signed payment is looked at on chain, and it is settled.
      expect(await reconciler.reconcileOnce()).toBe(1);
      expect(chain.asked).toEqual([`0x${'1'.padStart(64, '0')}`]);
      const settled = (await db.store.readStream(db.pool, orgStreamId('payer'))).filter((e) => e.type === 'Settled');
      expect(settled.map((e) => (e.data as { intentId: string; transaction: string }).intentId)).toEqual(['1']);
      // The next tick reads the Settled event into its table: nothing is left to check but the unsigned one, which is not checked.
      for (let attempt = 0; attempt < 50 && (await reconciler.catchUpOpenPayments()) === 0; attempt++) await new Promise((r) => setTimeout(r, 20));
      expect((await db.pool.query('SELECT intent_id, payer FROM settlement_open_payments ORDER BY intent_id')).rows).toEqual([{ intent_id: '2', payer: null }]);
      expect(await reconciler.reconcileOnce()).toBe(0);
    } finally {
      await db.pool.query('ALTER TABLE payments_view_away RENAME TO payments_view');
    }
  });
});
