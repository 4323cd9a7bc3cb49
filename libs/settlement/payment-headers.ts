import type pg from 'pg';
import { openSecret, sealSecret, type DataKeys } from '../platform/data-keys.js';
import type { PaymentHeader } from '../x402/headers.js';

// A stored header is a bearer authorization to pay one payee one amount: sealed at rest with
// the data key (libs/platform/data-keys.ts) when one is configured, the key id beside it.

/** Where the worker leaves each signed payment's header for the governor to send. */
export interface PaymentHeaderStore {
  store(items: readonly { intentId: string; header: PaymentHeader }[]): Promise<void>;
}

/** What a header's ciphertext is bound to: its row. */
export function paymentHeaderContext(intentId: string): string {
  return `payment_signatures.header_value:${intentId}`;
}

/** The header of a payment_signatures row, opened if it is sealed. */
export function openPaymentHeader(keys: DataKeys | undefined, row: { intent_id: string; header_name: string; header_value: string; header_key_id: string | null }): PaymentHeader {
  return { name: row.header_name, value: openSecret(keys, { value: row.header_value, keyId: row.header_key_id }, paymentHeaderContext(row.intent_id)) };
}

/**
 * payment_signatures: one row per intent, the first header stored wins (a re-signed intent
 * yields the same authorization anyway). The headers of one turn go in one statement.
 */
export function postgresPaymentHeaders(pool: pg.Pool, keys: DataKeys | undefined): PaymentHeaderStore {
  return {
    async store(items) {
      const sealed = items.map((i) => sealSecret(keys, i.header.value, paymentHeaderContext(i.intentId)));
      await pool.query(
        `INSERT INTO payment_signatures (intent_id, header_name, header_value, header_key_id)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (intent_id) DO NOTHING`,
        [items.map((i) => i.intentId), items.map((i) => i.header.name), sealed.map((s) => s.value), sealed.map((s) => s.keyId)],
      );
    },
  };
}

const SEAL_BATCH_MAX = 500;
const SEAL_BATCHES_MAX = 10_000;

/**
 * Seals the headers stored in the clear or under another key than the current one, in
 * batches; returns how many. Each row is rewritten only if it is still as it was read.
 */
export async function sealStoredHeaders(pool: pg.Pool, keys: DataKeys): Promise<number> {
  let sealedCount = 0;
  for (let batch = 0; batch < SEAL_BATCHES_MAX; batch++) {
    const rows = await pool.query<{ intent_id: string; header_name: string; header_value: string; header_key_id: string | null }>(
      'SELECT intent_id, header_name, header_value, header_key_id FROM payment_signatures WHERE header_key_id IS DISTINCT FROM $1 ORDER BY intent_id LIMIT $2',
      [keys.currentKeyId, SEAL_BATCH_MAX],
    );
    if (rows.rows.length === 0) break;
    const resealed = rows.rows.map((row) => ({ row, sealed: keys.seal(openPaymentHeader(keys, row).value, paymentHeaderContext(row.intent_id)) }));
    await pool.query(
      `UPDATE payment_signatures s SET header_value = u.header_value, header_key_id = u.header_key_id
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(intent_id, header_value, header_key_id, old_value)
       WHERE s.intent_id = u.intent_id AND s.header_value = u.old_value`,
      [resealed.map((r) => r.row.intent_id), resealed.map((r) => r.sealed.value), resealed.map((r) => r.sealed.keyId), resealed.map((r) => r.row.header_value)],
    );
    sealedCount += resealed.length;
  }
  return sealedCount;
}
