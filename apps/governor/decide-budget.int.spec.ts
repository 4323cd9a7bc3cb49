import { CommandBus } from '@nestjs/cqrs';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BudgetCommand } from '../../libs/domain/budget/commands.js';
import { createLogger } from '../../libs/platform/logger.js';
import { WORKER_ACTOR, WORKER_COMMANDS_PATH } from '../../libs/settlement/worker-decisions.js';
import { call, paymentRequiredHeader, seedAgent } from '../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { loadGovernorConfig } from './config.js';
import { createGovernor, type RunningGovernor } from './create-governor.js';
import { DecideBudget } from './decide-budget.handler.js';
import { ManualClock } from './http/clock.js';

// One door for decisions: whoever asks (an admin, an agent, the settlement worker, the
// approval-timeout loop), every event in an org's stream was decided by a DecideBudget that
// went through the command bus, where the handler traces and counts it. A decision made
// around the bus (straight on the processor) would leave events no command on the bus explains.

const ADMIN = 'one-door-admin';
const WORKER_TOKEN = 'one-door-worker-token';
const ORG = 'one-door-org';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const PAYER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

describe('every budget decision goes through the DecideBudget command', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let subscription: Subscription;
  const clock = new ManualClock(new Date('2026-11-25T10:00:00.000Z'));
  const seen: BudgetCommand[] = [];

  beforeAll(async () => {
    db = await freshDatabase('one_door');
    const config = loadGovernorConfig({
      DATABASE_URL: db.url,
      PORT: '0',
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_WORKER_TOKEN: WORKER_TOKEN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    governor = await createGovernor(config, createLogger('test', 'warn'), { clock });
    subscription = governor.app.get(CommandBus).subscribe((command: unknown) => {
      if (command instanceof DecideBudget) seen.push(command.command);
    });
  });

  afterAll(async () => {
    subscription?.unsubscribe();
    await governor?.close();
    await db?.drop();
  });

  it('for admins, agents, the worker and approval timeouts alike', async () => {
    const key = await seedAgent(governor.url, ADMIN, { orgId: ORG, agentId: 'door-agent' }, { org: '10.00' });
    const policy = await call(governor.url, 'PUT', `/admin/v1/orgs/${ORG}/policy`, { key: ADMIN, body: { approvalAbove: '0.05', approvalTimeoutSeconds: 60 }, headers: { 'If-Match': '"0"' } });
    expect(policy.status).toBe(200);
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: '1.00' } });
    expect(session.status).toBe(201);
    const pay = (amount: string, path: string) =>
      call<{ id: string; status: string; validBefore: string }>(governor.url, 'POST', `/v1/sessions/${session.body.id}/payments`, {
        key,
        body: { paymentRequired: paymentRequiredHeader({ amount, asset: TOKEN, payTo: PAY_TO }), url: `https://seller.example/${path}` },
      });

    // The worker signs and settles a payment over its internal route.
    const paid = await pay('10000', 'paid');
    expect(paid.body.status).toBe('reserved');
    const worker = (body: Record<string, unknown>) => call(governor.url, 'POST', WORKER_COMMANDS_PATH, { key: WORKER_TOKEN, body: { orgId: ORG, at: clock.now().toISOString(), intentId: paid.body.id, ...body } });
    const nonce = `0x${'cd'.repeat(32)}`;
    expect((await worker({ type: 'RecordSignature', scheme: 'exact', payer: PAYER, nonce, validAfter: '1970-01-01T00:00:00.000Z', validBefore: paid.body.validBefore })).status).toBe(200);
    expect((await worker({ type: 'Settle', amountAtomic: '10000', network: 'eip155:31337', transaction: `0x${'ef'.repeat(32)}`, payer: PAYER })).status).toBe(200);

    // A payment waiting for an admin times out on the governor's clock.
    const waiting = await pay('100000', 'dear');
    expect(waiting.body.status).toBe('awaiting_approval');
    clock.advance(61_000);
    await expect
      .poll(async () => (await call<{ status: string }>(governor.url, 'GET', `/v1/payments/${waiting.body.id}`, { key })).body.status, { timeout: 10_000, interval: 100 })
      .toBe('rejected');
    expect((await call(governor.url, 'POST', `/v1/sessions/${session.body.id}/close`, { key })).status).toBe(200);

    const events = await db.pool.query<{ type: string; actor: string; at: Date }>(
      `SELECT type, metadata->>'actor' AS actor, occurred_at AS at FROM events WHERE metadata->>'orgId' = $1 ORDER BY global_position`,
      [ORG],
    );
    // Every event is explained by a command on the bus: same org, same actor, same instant.
    const onBus = new Set(seen.filter((c) => c.orgId === ORG).map((c) => `${c.actor} ${new Date(c.at).toISOString()}`));
    const unexplained = events.rows.filter((e) => !onBus.has(`${e.actor} ${e.at.toISOString()}`)).map((e) => `${e.type} by ${e.actor}`);
    expect(unexplained).toEqual([]);
    // And each kind of caller was among them.
    const kinds = new Set(events.rows.map((e) => `${e.type} by ${e.actor.split(':')[0]}`));
    for (const kind of ['OrgCreated by admin', 'SessionOpened by agent', 'Reserved by agent', 'PaymentSigned by worker', 'Settled by worker', 'ApprovalDenied by system', 'SessionClosed by agent']) {
      expect(kinds, kind).toContain(kind);
    }
    expect(seen.some((c) => c.type === 'Settle' && c.actor === WORKER_ACTOR)).toBe(true);
  });
});
