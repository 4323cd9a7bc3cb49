import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../test/support/database.js';
import { DataKeys } from '../platform/data-keys.js';
import { openWebhookSecret, sealStoredWebhookSecrets } from '../webhooks/signature.js';
import { openPaymentHeader, postgresPaymentHeaders, sealStoredHeaders } from './payment-headers.js';

const keyLine = (id: string, byte: number) => `${id}=${Buffer.alloc(32, byte).toString('base64')}`;

describe('secrets at rest: sealed when stored, and stored ones sealed anew after an upgrade or a key rotation', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await freshDatabase('secrets_at_rest');
  });
  afterAll(async () => {
    await db.drop();
  });

  it('payment headers', async () => {
    const first = DataKeys.parse(keyLine('k1', 1), 'test');
    // One stored before sealing began, one sealed by the worker.
    await db.pool.query("INSERT INTO payment_signatures (intent_id, header_name, header_value) VALUES ('legacy', 'PAYMENT-SIGNATURE', 'eyJsZWdhY3kiOnRydWV9')");
    await postgresPaymentHeaders(db.pool, first).store([{ intentId: 'new', header: { name: 'PAYMENT-SIGNATURE', value: 'eyJuZXciOnRydWV9' } }]);
    const rows = async () =>
      (await db.pool.query<{ intent_id: string; header_name: string; header_value: string; header_key_id: string | null }>('SELECT intent_id, header_name, header_value, header_key_id FROM payment_signatures ORDER BY intent_id')).rows;
    expect((await rows()).map((r) => [r.intent_id, r.header_key_id, r.header_value.startsWith('eyJ')])).toEqual([
      ['legacy', null, true],
      ['new', 'k1', false],
    ]);
    expect(await sealStoredHeaders(db.pool, first)).toBe(1);
    // Rotated: k2 first, k1 still listed for what it sealed, which is sealed anew under k2.
    const rotated = DataKeys.parse(`${keyLine('k2', 2)}\n${keyLine('k1', 1)}`, 'test');
    expect(await sealStoredHeaders(db.pool, rotated)).toBe(2);
    expect(await sealStoredHeaders(db.pool, rotated)).toBe(0);
    const after = await rows();
    expect(after.map((r) => r.header_key_id)).toEqual(['k2', 'k2']);
    expect(after.map((r) => openPaymentHeader(DataKeys.parse(keyLine('k2', 2), 'test'), r).value)).toEqual(['eyJsZWdhY3kiOnRydWV9', 'eyJuZXciOnRydWV9']);
    // A ciphertext moved to another row does not open there.
    const [legacy, fresh] = after;
    expect(() => openPaymentHeader(rotated, { ...legacy!, header_value: fresh!.header_value })).toThrow(/moved from another row/);
  });

  it('webhook secrets, current and previous', async () => {
    await db.pool.query(
      `INSERT INTO webhook_endpoints (endpoint_id, url, event_types, secret, previous_secret, previous_secret_expires_at, created_at, created_by, updated_at)
       VALUES ('we_1', 'https://example.com/h', '{Reserved}', 'whsec_current', 'whsec_previous', now() + interval '1 hour', now(), 'admin:test', now())`,
    );
    const keys = DataKeys.parse(keyLine('w1', 3), 'test');
    expect(await sealStoredWebhookSecrets(db.pool, keys)).toBe(1);
    expect(await sealStoredWebhookSecrets(db.pool, keys)).toBe(0);
    const row = (await db.pool.query<{ secret: string; secret_key_id: string; previous_secret: string; previous_secret_key_id: string }>('SELECT * FROM webhook_endpoints')).rows[0]!;
    expect([row.secret_key_id, row.previous_secret_key_id]).toEqual(['w1', 'w1']);
    expect(row.secret + row.previous_secret).not.toContain('whsec_');
    expect(openWebhookSecret(keys, { value: row.secret, keyId: row.secret_key_id }, 'we_1')).toBe('whsec_current');
    expect(openWebhookSecret(keys, { value: row.previous_secret, keyId: row.previous_secret_key_id }, 'we_1')).toBe('whsec_previous');
  });
});
