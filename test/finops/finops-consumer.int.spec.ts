import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BudgetCommand } from '../../libs/domain/budget/commands.js';
import { OrgCommandProcessor } from '../../libs/ledger/org-command-processor.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { createTestDatabase } from '../support/postgres.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADMIN = 'test-admin-token-finops';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const WAIT_MS = 60_000;
// The last millisecond of one UTC day and the first of the next: the day boundary is exact.
const DAY_A = '2026-03-01T23:59:59.999Z';
const DAY_B = '2026-03-02T00:00:00.000Z';

interface ConsumerProcess {
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts the built consumer (dist/apps/finops-consumer/main.js) and waits until it has joined its group. */
async function startConsumer(env: Record<string, string>): Promise<ConsumerProcess> {
  const child: ChildProcess = spawn(process.execPath, [resolve(repoRoot, 'dist/apps/finops-consumer/main.js')], {
    env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  const deadline = Date.now() + WAIT_MS;
  while (!output.includes('finops consumer ready')) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`finops consumer exited before it was ready:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`finops consumer not ready within ${WAIT_MS} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { output: () => output, exited, kill: (signal) => child.kill(signal) };
}

const skippedCount = (output: string): number => output.split('event already processed; skipped').length - 1;

interface PlannedPayment {
  agent: 'a1' | 'a2' | 'b1';
  url: string;
  priceAtomic: bigint;
  /** What the worker would settle; null when the seller refused and the hold was released. */
  settleAtomic: bigint | null;
  settleAt: string;
}

// Nine payments by three agents in two orgs, to three endpoints over two UTC days; one
// settles for less than it reserved, one is refunded. The test dollar has 6 decimals, so
// atomic units are micro-dollars.
const PHASE_ONE: PlannedPayment[] = [
  { agent: 'a1', url: 'https://api.example.com/search?q=1', priceAtomic: 10_000n, settleAtomic: 10_000n, settleAt: DAY_A },
  { agent: 'a1', url: 'https://api.example.com/search?q=2', priceAtomic: 10_000n, settleAtomic: 10_000n, settleAt: DAY_B },
  { agent: 'a2', url: 'https://api.example.com/search?q=3', priceAtomic: 25_000n, settleAtomic: 25_000n, settleAt: DAY_A },
  { agent: 'a2', url: 'https://data.example.org/v1/quote', priceAtomic: 40_000n, settleAtomic: 30_000n, settleAt: DAY_A },
  { agent: 'b1', url: 'https://data.example.org/v1/quote', priceAtomic: 5_000n, settleAtomic: 5_000n, settleAt: DAY_B },
  { agent: 'b1', url: 'https://api.example.com/search', priceAtomic: 10_000n, settleAtomic: null, settleAt: DAY_A },
];
const PHASE_TWO: PlannedPayment[] = [
  { agent: 'a1', url: 'https://data.example.org/v1/quote', priceAtomic: 20_000n, settleAtomic: 20_000n, settleAt: DAY_B },
  { agent: 'b1', url: 'https://api.example.com/search?q=9', priceAtomic: 15_000n, settleAtomic: 15_000n, settleAt: DAY_A },
  { agent: 'a2', url: 'https://api.example.com/search', priceAtomic: 10_000n, settleAtomic: 10_000n, settleAt: DAY_B },
];

describe('the example FinOps consumer: daily spend per agent and endpoint from paybound.events.v1', () => {
  let db: TestDatabase;
  let governor: GovernorProcess;
  let finops: { url: string; drop(): Promise<void> };
  let finopsPool: pg.Pool;
  let processor: OrgCommandProcessor;
  const consumers: ConsumerProcess[] = [];
  const topic = `paybound.events.v1.finops-${Date.now()}`;
  const consumerEnv = () => ({
    KAFKA_BROKERS: inject('kafkaBrokers'),
    KAFKA_TOPIC: topic,
    FINOPS_DATABASE_URL: finops.url,
    FINOPS_GROUP_ID: `finops-${topic}`,
    // Nothing is committed to Kafka before the SIGKILL, so the restart rereads every event.
    FINOPS_COMMIT_INTERVAL_MS: '600000',
    FINOPS_SESSION_TIMEOUT_MS: '6000',
  });

  beforeAll(async () => {
    db = await freshDatabase('finops_gov');
    finops = await createTestDatabase(inject('pgAdminUrl'), 'finops_out');
    finopsPool = new pg.Pool({ connectionString: finops.url, max: 2 });
    finopsPool.on('error', () => undefined);
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      KAFKA_BROKERS: inject('kafkaBrokers'),
      KAFKA_TOPIC: topic,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '0',
      PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
    });
    // The settlement worker's part, played here against the same database, as the policies test does.
    processor = new OrgCommandProcessor(db.store);
  });

  afterAll(async () => {
    for (const consumer of consumers) consumer.kill('SIGKILL');
    await governor?.stop();
    await finopsPool?.end();
    await db?.drop();
    await finops?.drop();
  });

  const processedCount = async (): Promise<number> =>
    Number((await finopsPool.query<{ count: string }>('SELECT count(*) FROM finops.processed_events').catch(() => ({ rows: [{ count: '0' }] }))).rows[0]?.count ?? 0);

  async function waitUntil(what: string, check: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('keeps exact daily totals through a SIGKILL mid-stream and a restart that rereads everything', async () => {
    const base = governor.url;
    const keyA1 = await seedAgent(base, ADMIN, { orgId: 'org-f1', teamId: 'team-f1', agentId: 'a1' }, { org: '10.00' });
    const a2 = await call<{ apiKey: string }>(base, 'POST', '/admin/v1/orgs/org-f1/agents', { key: ADMIN, body: { id: 'a2', name: 'a2', teamId: 'team-f1' } });
    expect(a2.status).toBe(201);
    const keyB1 = await seedAgent(base, ADMIN, { orgId: 'org-f2', agentId: 'b1' }, { org: '10.00' });
    const agents = { a1: { orgId: 'org-f1', key: keyA1 }, a2: { orgId: 'org-f1', key: a2.body.apiKey }, b1: { orgId: 'org-f2', key: keyB1 } };
    const sessions = new Map<string, string>();
    for (const [name, agent] of Object.entries(agents)) {
      const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: agent.key, body: { limit: '1.00', expiresInMinutes: 60 } });
      expect(session.status).toBe(201);
      sessions.set(name, session.body.id);
    }

    let sequence = 0;
    const pay = async (planned: PlannedPayment): Promise<void> => {
      sequence += 1;
      const agent = agents[planned.agent];
      const offer = paymentRequiredHeader({ amount: planned.priceAtomic.toString(), asset: TOKEN, payTo: PAY_TO, url: planned.url });
      const reserved = await call<{ id: string }>(base, 'POST', `/v1/sessions/${sessions.get(planned.agent)}/payments`, { key: agent.key, body: { paymentRequired: offer, url: planned.url } });
      expect(reserved.status, JSON.stringify(reserved.body)).toBe(202);
      const intentId = reserved.body.id;
      if (planned.settleAtomic === null) {
        const refunded = await call<{ status: string }>(base, 'POST', `/v1/payments/${intentId}/result`, { key: agent.key, body: { status: 500 } });
        expect(refunded.body.status).toBe('refunded');
        return;
      }
      const now = new Date().toISOString();
      const steps: BudgetCommand[] = [
        { type: 'RecordSignature', orgId: agent.orgId, actor: 'worker:test', at: now, intentId, scheme: 'exact', payer: PAY_TO, nonce: `0x${sequence}`, validAfter: now, validBefore: now },
        { type: 'Settle', orgId: agent.orgId, actor: 'worker:test', at: planned.settleAt, intentId, amountAtomic: planned.settleAtomic, network: 'eip155:31337', transaction: `0xtx${sequence}`, payer: PAY_TO },
      ];
      for (const step of steps) await processor.submit(step, () => undefined);
    };

    for (const planned of PHASE_ONE) await pay(planned);

    // First run: killed without warning once it has applied part of the stream.
    const first = await startConsumer(consumerEnv());
    consumers.push(first);
    await waitUntil('the first run to apply 6 events', async () => (await processedCount()) >= 6);
    first.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    // A COMMIT already on the wire when the process died still lands; let it, then count.
    await new Promise((r) => setTimeout(r, 300));
    const processedAtKill = await processedCount();
    console.log(`[finops] first run SIGKILLed after ${processedAtKill} applied events`);

    // More payments while the consumer is down, then a restart with the same group.
    for (const planned of PHASE_TWO) await pay(planned);
    const relevant = await db.pool.query<{ event_id: string; type: string; data: { intentId: string; orgId: string; agentId: string; amountMicros?: string; settledAt?: string; resource?: string } }>(
      `SELECT event_id, type, data FROM events WHERE type IN ('Reserved', 'Settled') ORDER BY global_position`,
    );
    expect(relevant.rows.filter((r) => r.type === 'Reserved')).toHaveLength(9);
    expect(relevant.rows.filter((r) => r.type === 'Settled')).toHaveLength(8);
    const second = await startConsumer(consumerEnv());
    consumers.push(second);
    await waitUntil('the second run to apply every event', async () => (await processedCount()) >= relevant.rows.length);
    // Let redeliveries still in flight land; none may change a figure.
    await new Promise((r) => setTimeout(r, 1_500));

    // The expected figures, computed from the governor's own log: Settled amounts on their
    // UTC day, labelled with the endpoint (origin and path) of the payment's Reserved event.
    const endpointOf = new Map<string, string>();
    for (const row of relevant.rows) {
      if (row.type === 'Reserved') {
        const url = new URL(row.data.resource!);
        endpointOf.set(row.data.intentId, `${url.origin}${url.pathname}`);
      }
    }
    const expectedByAgent = new Map<string, bigint>();
    const expectedByEndpoint = new Map<string, bigint>();
    for (const row of relevant.rows.filter((r) => r.type === 'Settled')) {
      const day = new Date(row.data.settledAt!).toISOString().slice(0, 10);
      const amount = BigInt(row.data.amountMicros!);
      const agentKey = `${day} ${row.data.orgId} ${row.data.agentId}`;
      const endpointKey = `${day} ${row.data.orgId} ${endpointOf.get(row.data.intentId)}`;
      expectedByAgent.set(agentKey, (expectedByAgent.get(agentKey) ?? 0n) + amount);
      expectedByEndpoint.set(endpointKey, (expectedByEndpoint.get(endpointKey) ?? 0n) + amount);
    }

    const byAgent = await finopsPool.query<{ k: string; spent_micros: string }>(`SELECT to_char(day, 'YYYY-MM-DD') || ' ' || org_id || ' ' || agent_id AS k, spent_micros FROM finops.daily_agent_spend`);
    const byEndpoint = await finopsPool.query<{ k: string; spent_micros: string }>(`SELECT to_char(day, 'YYYY-MM-DD') || ' ' || org_id || ' ' || endpoint AS k, spent_micros FROM finops.daily_endpoint_spend`);
    const asMap = (rows: { k: string; spent_micros: string }[]) => new Map(rows.map((r) => [r.k, BigInt(r.spent_micros)]));
    expect(asMap(byAgent.rows)).toEqual(expectedByAgent);
    expect(asMap(byEndpoint.rows)).toEqual(expectedByEndpoint);
    // The same figures written out from the plan, so the log-derived oracle is checked too.
    expect(Object.fromEntries(asMap(byAgent.rows))).toEqual({
      '2026-03-01 org-f1 a1': 10_000n,
      '2026-03-01 org-f1 a2': 55_000n,
      '2026-03-01 org-f2 b1': 15_000n,
      '2026-03-02 org-f1 a1': 30_000n,
      '2026-03-02 org-f1 a2': 10_000n,
      '2026-03-02 org-f2 b1': 5_000n,
    });
    expect(Object.fromEntries(asMap(byEndpoint.rows))).toEqual({
      '2026-03-01 org-f1 https://api.example.com/search': 35_000n,
      '2026-03-01 org-f1 https://data.example.org/v1/quote': 30_000n,
      '2026-03-01 org-f2 https://api.example.com/search': 15_000n,
      '2026-03-02 org-f1 https://api.example.com/search': 20_000n,
      '2026-03-02 org-f1 https://data.example.org/v1/quote': 20_000n,
      '2026-03-02 org-f2 https://data.example.org/v1/quote': 5_000n,
    });
    const total = [...asMap(byAgent.rows).values()].reduce((a, b) => a + b, 0n);
    expect(total).toBe(125_000n);

    // Exactly one processed row per distinct event applied, and the restart skipped every
    // event the killed run had applied: nothing had been committed to Kafka before the kill.
    const processed = await finopsPool.query<{ event_id: string }>('SELECT event_id FROM finops.processed_events');
    expect(new Set(processed.rows.map((r) => r.event_id))).toEqual(new Set(relevant.rows.map((r) => r.event_id)));
    expect(processed.rowCount).toBe(17);
    expect(skippedCount(second.output())).toBe(processedAtKill);
    console.log(
      `[finops] ${processed.rowCount} distinct events applied once each (9 Reserved, 8 Settled); the restart skipped ${skippedCount(second.output())} redelivered events; ` +
        `total ${total} micros over ${byAgent.rowCount} agent-days and ${byEndpoint.rowCount} endpoint-days`,
    );

    // A graceful stop commits the offsets; a third run then has nothing to reread.
    second.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
    expect(second.output()).toContain('finops consumer stopped');
    const third = await startConsumer(consumerEnv());
    consumers.push(third);
    await new Promise((r) => setTimeout(r, 2_000));
    expect(skippedCount(third.output())).toBe(0);
    expect(await processedCount()).toBe(17);
    const after = await finopsPool.query<{ sum: string }>('SELECT sum(spent_micros)::text AS sum FROM finops.daily_agent_spend');
    expect(after.rows[0]?.sum).toBe('125000');
    third.kill('SIGTERM');
    expect((await third.exited).code).toBe(0);
  });
});
