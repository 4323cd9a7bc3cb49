import { readdirSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BudgetEvent, BudgetEventType } from '../../libs/domain/budget/events.js';
import { EMPTY_POLICY } from '../../libs/domain/budget/policy.js';
import type { AdminKeyChanged } from '../../libs/domain/admin/admin-keys.js';
import type { McpServerEvent } from '../../libs/domain/mcp-servers/mcp-servers.js';
import type { WalletEvent } from '../../libs/domain/wallet/wallet.js';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { cloudEventType, toCloudEvent } from '../../libs/outbox/cloud-event.js';
import { call, paymentRequiredHeader, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { readTopic } from '../support/kafka-reader.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCHEMA_DIR = resolve(repoRoot, 'schemas/events');
const ADMIN = 'test-admin-token';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const ENVELOPE_ID = 'urn:paybound:schema:paybound.envelope.v1';
const SHARED_FILES = new Set(['paybound.common.v1.json', 'paybound.envelope.v1.json']);

// ajv-formats is CommonJS with a default export; under NodeNext it arrives as the module object.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv2020) => Ajv2020;

/** Every schema in schemas/events, compiled once, by `$id`. */
function loadSchemas(): { ajv: Ajv2020; files: string[] } {
  const ajv = new Ajv2020({ strict: true, allErrors: true, strictTuples: false, keywords: ['x-paybound-event'] });
  addFormats(ajv);
  const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.json'));
  for (const file of files) ajv.addSchema(JSON.parse(readFileSync(resolve(SCHEMA_DIR, file), 'utf8')) as object);
  return { ajv, files };
}

/** The event names declared in the domain's source, so that a new event cannot ship without a schema. */
function declaredEventTypes(): string[] {
  return ['libs/domain/budget/events.ts', 'libs/domain/wallet/wallet.ts', 'libs/domain/admin/admin-keys.ts', 'libs/domain/mcp-servers/mcp-servers.ts'].flatMap((file) => {
    const source = readFileSync(resolve(repoRoot, file), 'utf8');
    return [...source.matchAll(/^\s+type: '([A-Z][A-Za-z]+)';$/gm)].map((m) => m[1]!);
  });
}

function explain(validate: ValidateFunction): string {
  return JSON.stringify(validate.errors?.map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
}

// One sample of each event's data, typed against the domain: adding an event type to
// BudgetEvent fails type-checking here until a sample (and so a schema check) exists.
const INTENT = { intentId: 'pay_1', sessionId: 'ses_1', agentId: 'agent-1', orgId: 'org-1' };
const RESERVED_DATA = {
  ...INTENT,
  teamId: null,
  amountMicros: 10_000n,
  amountAtomic: 10_000n,
  asset: TOKEN,
  network: 'eip155:31337',
  payTo: PAY_TO,
  resource: 'http://127.0.0.1/data',
  method: 'GET',
  reservedAt: '2026-01-01T00:00:00.000Z',
  validBefore: '2026-01-01T00:01:00.000Z',
  policyVersion: 0,
  idempotencyKey: null,
  requestHash: null,
};
const WALLET_ALERT = {
  network: 'eip155:31337',
  address: PAY_TO.toLowerCase(),
  asset: TOKEN.toLowerCase(),
  kind: 'asset' as const,
  balanceAtomic: 40_000n,
  floorAtomic: 50_000n,
  blockNumber: 12n,
  observedAt: '2026-01-01T00:00:06.000Z',
};
const MCP_SERVER = { url: 'https://tools.example/mcp', orgIds: ['org-1'], tools: null, description: null, enabled: true };
const SAMPLES: {
  [K in BudgetEventType | WalletEvent['type'] | AdminKeyChanged['type'] | McpServerEvent['type']]: Extract<BudgetEvent | WalletEvent | AdminKeyChanged | McpServerEvent, { type: K }>['data'];
} = {
  AdminKeyChanged: { name: 'finance-bot', scope: 'finance', orgId: 'org-1', change: 'issued' },
  McpServerRegistered: { name: 'quotes', ...MCP_SERVER },
  McpServerChanged: { name: 'quotes', before: MCP_SERVER, after: { ...MCP_SERVER, orgIds: ['org-1', 'org-2'], tools: ['premium_quote'] } },
  McpServerRemoved: { name: 'quotes', before: MCP_SERVER },
  WalletLowBalance: WALLET_ALERT,
  WalletBalanceRestored: { ...WALLET_ALERT, kind: 'native', balanceAtomic: 10n ** 18n, floorAtomic: 10n ** 15n },
  OrgCreated: { orgId: 'org-1', name: 'Org', limitMicros: null },
  TeamCreated: { orgId: 'org-1', teamId: 'team-1', name: 'Team', limitMicros: 5_000_000n },
  AgentRegistered: { orgId: 'org-1', agentId: 'agent-1', teamId: 'team-1', name: 'Agent', limitMicros: null },
  BudgetChanged: { orgId: 'org-1', level: 'agent', levelId: 'agent-1', before: { limitMicros: null, period: 'none' }, after: { limitMicros: 1_000_000n, period: 'day' } },
  PolicyChanged: { orgId: 'org-1', level: 'org', levelId: 'org-1', version: 2, before: EMPTY_POLICY, after: { ...EMPTY_POLICY, maxPerPaymentMicros: 50_000n, loopGuard: { maxPayments: 3, windowSeconds: 60 } } },
  AgentKeyChanged: { orgId: 'org-1', agentId: 'agent-1', change: 'rotated' },
  SessionOpened: { sessionId: 'ses_1', agentId: 'agent-1', teamId: null, orgId: 'org-1', limitMicros: 2_000_000n, expiresAt: '2026-01-01T01:00:00.000Z', maxPayments: null, metadata: { run: '1' }, idempotencyKey: 'k', requestHash: 'a'.repeat(64) },
  SessionClosed: { sessionId: 'ses_1', agentId: 'agent-1', orgId: 'org-1', closedAt: '2026-01-01T00:30:00.000Z' },
  Reserved: { ...RESERVED_DATA, loopKey: `MCP https://tools.example/mcp#premium_quote ${'ab'.repeat(32)}` },
  ApprovalRequested: { ...RESERVED_DATA, approvalExpiresAt: '2026-01-01T00:10:00.000Z', policySource: 'org', thresholdMicros: 5_000n },
  ApprovalGranted: INTENT,
  ApprovalDenied: { ...INTENT, code: 'approval_required', reason: 'timeout' },
  LimitExceeded: { ...INTENT, level: 'session', code: 'session_limit_exceeded', limitMicros: 20_000n, requestedMicros: 10_000n, remainingMicros: 0n, limitCount: null, policySource: null, resource: 'http://127.0.0.1/data', idempotencyKey: null, requestHash: null },
  BudgetThresholdReached: { orgId: 'org-1', level: 'team', levelId: 'team-1', thresholdPercent: 80, limitMicros: 5_000_000n, usedMicros: 4_010_000n, periodKey: '2026-01-01', intentId: 'pay_1', sessionId: 'ses_1', agentId: 'agent-1' },
  PaymentSigned: { ...INTENT, scheme: 'exact', network: 'eip155:31337', payer: PAY_TO, nonce: `0x${'ab'.repeat(32)}`, validAfter: '2026-01-01T00:00:00.000Z', validBefore: '2026-01-01T00:01:00.000Z' },
  SettlementReported: { ...INTENT, outcome: 'unknown', transaction: null, detail: 'the seller answered 502' },
  Settled: { ...INTENT, amountMicros: 10_000n, amountAtomic: 10_000n, network: 'eip155:31337', transaction: `0x${'cd'.repeat(32)}`, payer: PAY_TO, settledAt: '2026-01-01T00:00:05.000Z' },
  Refunded: { ...INTENT, amountMicros: 10_000n, amountAtomic: 10_000n, reason: 'seller_answered_500' },
  Frozen: { orgId: 'org-1', level: 'agent', levelId: 'agent-1', reason: 'runaway loop' },
  Unfrozen: { orgId: 'org-1', level: 'team', levelId: 'team-1', reason: 'fixed' },
  ShadowRefusal: { ...INTENT, level: 'org', levelId: 'org-1', code: 'price_above_max', policyVersion: 1, limitMicros: 5_000n, requestedMicros: 10_000n, resource: 'http://127.0.0.1/data' },
};

describe('the Kafka contract: JSON Schemas for every event on paybound.events.v1', () => {
  const { ajv, files } = loadSchemas();
  const envelope = ajv.getSchema(ENVELOPE_ID)!;

  /** Validates one message: the envelope, then `data` against the schema its `dataschema` names. */
  function validateMessage(message: Record<string, unknown>): void {
    expect(envelope(message), `${String(message.type)} envelope: ${explain(envelope)}`).toBe(true);
    expect(message.dataschema).toBe(`urn:paybound:schema:${String(message.type)}`);
    const dataSchema = ajv.getSchema(String(message.dataschema));
    expect(dataSchema, `no schema for ${String(message.type)}`).toBeDefined();
    expect(dataSchema!(message.data), `${String(message.type)} data: ${explain(dataSchema!)}`).toBe(true);
  }

  it('has a schema for every event type the domain declares, and none for types it does not', () => {
    const declared = declaredEventTypes();
    expect(declared.length).toBeGreaterThanOrEqual(Object.keys(SAMPLES).length);
    expect(new Set(declared)).toEqual(new Set(Object.keys(SAMPLES)));
    const expected = declared.map((t) => `${cloudEventType(t)}.json`).sort();
    expect(files.filter((f) => !SHARED_FILES.has(f)).sort()).toEqual(expected);
  });

  it('accepts a typed sample of every event, encoded by the outbox, and refuses a broken one', () => {
    let position = 0n;
    for (const [type, data] of Object.entries(SAMPLES)) {
      position += 1n;
      const event = {
        eventId: '6f1c1b7e-2d57-4d55-9c44-0d6f2d1f5e01',
        type,
        streamId: 'org-org-1',
        streamVersion: Number(position),
        globalPosition: position,
        occurredAt: '2026-01-01T00:00:00.000Z',
        schemaVersion: 1,
        data,
        metadata: { orgId: 'org-1', actor: 'agent:agent-1', correlationId: 'pay_1' },
      } as unknown as RecordedEvent;
      validateMessage(toCloudEvent(event) as unknown as Record<string, unknown>);
    }
    const reserved = ajv.getSchema('urn:paybound:schema:paybound.reserved.v1')!;
    expect(reserved({ ...JSON.parse(JSON.stringify(RESERVED_DATA, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))), amountMicros: 0.01 })).toBe(false);
  });

  describe('against what a governor actually publishes', () => {
    let db: TestDatabase;
    let governor: GovernorProcess;
    const topic = `paybound.events.v1.schemas-${Date.now()}`;

    beforeAll(async () => {
      db = await freshDatabase('schemas');
      governor = await spawnGovernor({
        DATABASE_URL: db.url,
        KAFKA_BROKERS: inject('kafkaBrokers'),
        KAFKA_TOPIC: topic,
        PAYBOUND_ADMIN_TOKEN: ADMIN,
        PAYBOUND_SIGN_WAIT_MS: '0',
        PAYBOUND_ASSETS: JSON.stringify([{ network: 'eip155:31337', address: TOKEN, decimals: 6, symbol: 'TUSD' }]),
      });
    });

    afterAll(async () => {
      await governor?.stop();
      await db?.drop();
    });

    it('validates every message of a realistic flow against its published schema', async () => {
      const base = governor.url;
      const admin = { key: ADMIN };
      const key = await seedAgent(base, ADMIN, { orgId: 'org-s', teamId: 'team-s', agentId: 'agent-s' }, { org: '10.00', team: '8.00', agent: '6.00' });
      const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key, body: { limit: '0.02', maxPayments: 10, metadata: { run: 'schemas' } }, headers: { 'Idempotency-Key': 'open-s' } });
      expect(session.status).toBe(201);
      const offer = paymentRequiredHeader({ amount: '10000', asset: TOKEN, payTo: PAY_TO, url: 'http://api.example.com/data' });
      const pay = (url: string, idempotencyKey?: string) =>
        call<{ id: string; code?: string }>(base, 'POST', `/v1/sessions/${session.body.id}/payments`, {
          key,
          body: { paymentRequired: offer, url },
          headers: idempotencyKey === undefined ? {} : { 'Idempotency-Key': idempotencyKey },
        });
      const first = await pay('http://api.example.com/data/1', 'pay-s-1');
      const second = await pay('http://api.example.com/data/2');
      expect([first.status, second.status]).toEqual([202, 202]);
      expect((await pay('http://api.example.com/data/3')).body.code).toBe('session_limit_exceeded');
      expect((await call<{ status: string }>(base, 'POST', `/v1/payments/${first.body.id}/result`, { key, body: { status: 500 } })).body.status).toBe('refunded');

      const policy = await call(base, 'PUT', '/admin/v1/orgs/org-s/policy', {
        ...admin,
        body: { deniedDomains: ['evil.example.com'], maxPerPayment: '1.00', loopGuard: { maxPayments: 5, windowSeconds: 60 } },
        headers: { 'If-Match': '*' },
      });
      expect(policy.status).toBe(200);
      expect((await pay('http://evil.example.com/data')).body.code).toBe('domain_not_allowed');
      expect((await call(base, 'PUT', '/admin/v1/orgs/org-s/agents/agent-s/budget', { ...admin, body: { limit: '5.00', period: 'day' } })).status).toBe(200);
      expect((await call(base, 'POST', '/admin/v1/orgs/org-s/agents/agent-s/keys', admin)).status).toBe(201);
      expect((await call(base, 'DELETE', '/admin/v1/orgs/org-s/agents/agent-s/keys', admin)).status).toBe(200);
      const closer = await call<{ apiKey: string }>(base, 'POST', '/admin/v1/orgs/org-s/agents', { ...admin, body: { id: 'agent-s2', name: 'agent-s2', teamId: 'team-s' } });
      const closing = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: closer.body.apiKey, body: { limit: '0.01' } });
      expect((await call(base, 'POST', `/v1/sessions/${closing.body.id}/close`, { key: closer.body.apiKey })).status).toBe(200);
      expect((await call(base, 'POST', '/admin/v1/admin-keys', { ...admin, body: { name: 'books-s', scope: 'finance', orgId: 'org-s' } })).status).toBe(201);
      expect((await call(base, 'DELETE', '/admin/v1/admin-keys/books-s', admin)).status).toBe(200);

      const stored = await db.pool.query<{ event_id: string; type: string }>('SELECT event_id, type FROM events');
      const storedIds = new Set(stored.rows.map((r) => r.event_id));
      const messages = await readTopic(inject('kafkaBrokers'), topic, (m) => new Set(m.map((x) => String(x.value.id))).size >= storedIds.size, 60_000);
      expect(new Set(messages.map((m) => String(m.value.id)))).toEqual(storedIds);

      const seenTypes = new Set(messages.map((m) => String(m.value.type)));
      console.log(`[schemas] ${messages.length} messages of ${seenTypes.size} types validated: ${[...seenTypes].sort().join(', ')}`);
      for (const message of messages) validateMessage(message.value);
      for (const type of ['OrgCreated', 'TeamCreated', 'AgentRegistered', 'AgentKeyChanged', 'AdminKeyChanged', 'SessionOpened', 'SessionClosed', 'Reserved', 'LimitExceeded', 'Refunded', 'PolicyChanged', 'BudgetChanged']) {
        expect(seenTypes, type).toContain(cloudEventType(type));
      }
    });
  });
});
