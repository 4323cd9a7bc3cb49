import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import type { PaymentHeader } from '../../libs/x402/headers.js';

const POLL_INTERVAL_MS = 20;

export type SignatureWait =
  | { kind: 'signed'; header: PaymentHeader }
  | { kind: 'not_signed'; status: string; reason: string | null }
  | { kind: 'timeout' };

/**
 * The governor's side of signing: it never signs, it waits for the settlement worker's
 * header in `payment_signatures`. The worker stores a header only after the ledger recorded
 * the signature, so a header found here always belongs to a signed payment.
 */
@Injectable()
export class PaymentSignatures {
  constructor(@Inject(pg.Pool) private readonly pool: pg.Pool) {}

  async headerFor(intentId: string): Promise<PaymentHeader | undefined> {
    const result = await this.pool.query<{ header_name: string; header_value: string }>('SELECT header_name, header_value FROM payment_signatures WHERE intent_id = $1', [intentId]);
    const row = result.rows[0];
    return row === undefined ? undefined : { name: row.header_name, value: row.header_value };
  }

  /**
   * Polls until the header exists, the payment was closed without one (the worker refused
   * and released it), or `timeoutMs` passed. One indexed query per poll.
   */
  async waitFor(intentId: string, timeoutMs: number): Promise<SignatureWait> {
    const deadline = Date.now() + timeoutMs;
    const pollsMax = Math.ceil(timeoutMs / POLL_INTERVAL_MS) + 1;
    for (let poll = 0; poll < pollsMax; poll += 1) {
      const result = await this.pool.query<{ header_name: string | null; header_value: string | null; status: string | null; reason: string | null }>(
        `SELECT s.header_name, s.header_value, p.status, p.reason FROM (SELECT $1::text AS intent_id) q
         LEFT JOIN payment_signatures s USING (intent_id) LEFT JOIN payments_view p USING (intent_id)`,
        [intentId],
      );
      const row = result.rows[0];
      if (row?.header_name != null && row.header_value != null) return { kind: 'signed', header: { name: row.header_name, value: row.header_value } };
      if (row?.status === 'refunded' || row?.status === 'rejected') return { kind: 'not_signed', status: row.status, reason: row.reason };
      const leftMs = deadline - Date.now();
      if (leftMs <= 0) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_INTERVAL_MS, leftMs)));
    }
    return { kind: 'timeout' };
  }
}
