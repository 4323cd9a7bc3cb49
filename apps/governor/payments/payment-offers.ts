import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import { Coalescer } from '../../../libs/platform/concurrency.js';
import type { PaymentOffer, PaymentRequirement } from '../../../libs/x402/offer.js';

/** Offer rows written in one statement at most. */
const OFFER_BATCH_MAX = 500;

interface OfferRow {
  intentId: string;
  x402Version: number;
  requirementRaw: string;
  resourceRaw: string | null;
  extensions: string | null;
  fetchedUrl: string | null;
}

/**
 * Keeps the offer and requirement chosen for a payment, for the settlement worker: the
 * Reserved event does not carry the EIP-712 domain or the seller's objects the header must
 * echo verbatim. `rememberOffer` belongs before the Reserve command is submitted, so the
 * row is committed before the worker can see the reservation; a call made afterwards (or
 * twice) is harmless, the worker waits a few seconds for a missing row.
 */
@Injectable()
export class PaymentOffers {
  /** Every payment writes its offer: the rows of one event-loop turn share one statement and one commit. */
  private readonly rows: Coalescer<OfferRow, Error | undefined>;

  constructor(@Inject(pg.Pool) private readonly pool: pg.Pool) {
    this.rows = new Coalescer((rows) => this.insert(rows), OFFER_BATCH_MAX);
  }

  /** `fetchedUrl`: the URL pay-and-fetch took the offer from; null for an offer an agent handed in. */
  async rememberOffer(intentId: string, offer: PaymentOffer, requirement: PaymentRequirement, fetchedUrl: string | null = null): Promise<void> {
    const failure = await this.rows.submit({
      intentId,
      x402Version: offer.x402Version,
      requirementRaw: JSON.stringify(requirement.raw),
      resourceRaw: offer.resourceRaw === undefined ? null : JSON.stringify(offer.resourceRaw),
      extensions: offer.extensions === undefined ? null : JSON.stringify(offer.extensions),
      fetchedUrl,
    });
    if (failure !== undefined) throw failure;
  }

  /**
   * One statement for the rows; if it fails, each row alone, so that one seller's offer the
   * database refuses (a NUL escape jsonb rejects, say) fails only its own payment.
   */
  private async insert(rows: OfferRow[]): Promise<(Error | undefined)[]> {
    try {
      await this.insertAll(rows);
      return rows.map(() => undefined);
    } catch (error) {
      if (rows.length === 1) return [error as Error];
      return Promise.all(rows.map((row) => this.insertAll([row]).then(() => undefined, (rowError: unknown) => rowError as Error)));
    }
  }

  private async insertAll(rows: OfferRow[]): Promise<void> {
    await this.pool.query(
      `INSERT INTO payment_offers (intent_id, x402_version, requirement_raw, resource_raw, extensions, fetched_url)
       SELECT * FROM unnest($1::text[], $2::integer[], $3::jsonb[], $4::jsonb[], $5::jsonb[], $6::text[]) ON CONFLICT (intent_id) DO NOTHING`,
      [rows.map((r) => r.intentId), rows.map((r) => r.x402Version), rows.map((r) => r.requirementRaw), rows.map((r) => r.resourceRaw), rows.map((r) => r.extensions), rows.map((r) => r.fetchedUrl)],
    );
  }
}
