import type pg from 'pg';
import type { PaymentHeader } from '../x402/headers.js';

/** Where the worker leaves each signed payment's header for the governor to send. */
export interface PaymentHeaderStore {
  store(items: readonly { intentId: string; header: PaymentHeader }[]): Promise<void>;
}

/**
 * payment_signatures: one row per intent, the first header stored wins (a re-signed intent
 * yields the same authorization anyway). The headers of one turn go in one statement.
 */
export function postgresPaymentHeaders(pool: pg.Pool): PaymentHeaderStore {
  return {
    async store(items) {
      await pool.query(
        `INSERT INTO payment_signatures (intent_id, header_name, header_value)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT (intent_id) DO NOTHING`,
        [items.map((i) => i.intentId), items.map((i) => i.header.name), items.map((i) => i.header.value)],
      );
    },
  };
}
