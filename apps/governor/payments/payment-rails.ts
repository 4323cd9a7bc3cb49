import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import type { PaymentRail } from '../../../libs/domain/budget/commands.js';
import { paymentChallengeText } from '../../../libs/mpp/challenge-text.js';
import { evmChargeNonce } from '../../../libs/mpp/credential.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { PAYMENT_RECEIPT_CHARS_MAX } from '../../../libs/mpp/receipt.js';
import type { PaymentOption } from '../../../libs/rails/options.js';
import type { KnownAsset } from '../config.js';
import { publicRecord } from './rail-choice.js';

// The rail each payment was chosen on, kept beside payment_offers before the Reserve command
// is submitted: the settlement worker signs an MPP challenge from it (with the token's
// EIP-712 domain, which the challenge does not name), and GET /v1/payments shows it. The
// seller's receipt joins it once the paid request is answered.

export interface PaymentRailView {
  rail: 'x402' | 'mpp';
  scheme: string;
  transfer: 'eip3009' | 'permit2';
  metered: boolean;
  maxAmountAtomic: string;
  options: { chosen: Record<string, unknown>; rejected: Record<string, unknown>[] };
  receipt: { header: string; value: string } | null;
}

@Injectable()
export class PaymentRails {
  constructor(@Inject(pg.Pool) private readonly pool: pg.Pool) {}

  async remember(intentId: string, option: PaymentOption, asset: KnownAsset, rail: PaymentRail): Promise<void> {
    const mpp = option.source.kind === 'mpp' ? option.source.challenge : undefined;
    const inserted = await this.pool.query(
      `INSERT INTO payment_rails (intent_id, rail, scheme, transfer, metered, max_amount_atomic, options, mpp_challenge, token_domain, mpp_nonce)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING`,
      [
        intentId,
        rail.rail,
        rail.scheme,
        rail.transfer,
        rail.metered,
        option.maxAmountAtomic.toString(),
        JSON.stringify({ chosen: publicRecord(rail.chosen), rejected: rail.rejected.map(publicRecord) }),
        mpp === undefined ? null : paymentChallengeText(mpp),
        mpp === undefined || asset.eip712 === undefined ? null : JSON.stringify(asset.eip712),
        mpp === undefined ? null : evmChargeNonce(mpp),
      ],
    );
    // Intent ids are fresh, so a row not written is a challenge another payment already took.
    if (inserted.rowCount === 0 && mpp !== undefined) {
      throw new ApiProblem('bad_payment_offer', 'this MPP challenge is already bound to another payment; ask the seller for a fresh one', { reason: 'mpp_challenge_already_used' });
    }
  }

  /** Keeps the seller's PAYMENT-RESPONSE or Payment-Receipt as received; the first one stays. */
  async keepReceipt(intentId: string, header: string, value: string): Promise<void> {
    if (value.length === 0 || value.length > PAYMENT_RECEIPT_CHARS_MAX) return;
    await this.pool.query('INSERT INTO payment_receipts (intent_id, header_name, header_value) VALUES ($1, $2, $3) ON CONFLICT (intent_id) DO NOTHING', [intentId, header, value]);
  }

  async find(intentId: string): Promise<PaymentRailView | undefined> {
    const result = await this.pool.query<{ rail: 'x402' | 'mpp'; scheme: string; transfer: 'eip3009' | 'permit2'; metered: boolean; max_amount_atomic: string; options: PaymentRailView['options']; header_name: string | null; header_value: string | null }>(
      `SELECT r.rail, r.scheme, r.transfer, r.metered, r.max_amount_atomic::text, r.options, c.header_name, c.header_value
       FROM payment_rails r LEFT JOIN payment_receipts c ON c.intent_id = r.intent_id WHERE r.intent_id = $1`,
      [intentId],
    );
    const row = result.rows[0];
    if (row === undefined) return undefined;
    return {
      rail: row.rail,
      scheme: row.scheme,
      transfer: row.transfer,
      metered: row.metered,
      maxAmountAtomic: row.max_amount_atomic,
      options: row.options,
      receipt: row.header_name === null || row.header_value === null ? null : { header: row.header_name, value: row.header_value },
    };
  }
}
