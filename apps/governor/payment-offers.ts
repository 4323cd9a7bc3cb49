import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import type { PaymentOffer, PaymentRequirement } from '../../libs/x402/offer.js';
import { Catalog } from './catalog.js';

/**
 * Keeps the offer and requirement chosen for a payment, for the settlement worker: the
 * Reserved event does not carry the EIP-712 domain or the seller's objects the header must
 * echo verbatim. `rememberOffer` belongs before the Reserve command is submitted, so the
 * row is committed before the worker can see the reservation; a call made afterwards (or
 * twice) is harmless, the worker waits a few seconds for a missing row.
 */
@Injectable()
export class PaymentOffers {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(Catalog) private readonly catalog: Catalog,
  ) {}

  async rememberOffer(intentId: string, offer: PaymentOffer, requirement: PaymentRequirement): Promise<void> {
    await this.pool.query(
      `INSERT INTO payment_offers (intent_id, x402_version, requirement_raw, resource_raw, extensions)
       VALUES ($1, $2, $3, $4, $5) ON CONFLICT (intent_id) DO NOTHING`,
      [
        intentId,
        offer.x402Version,
        JSON.stringify(requirement.raw),
        offer.resourceRaw === undefined ? null : JSON.stringify(offer.resourceRaw),
        offer.extensions === undefined ? null : JSON.stringify(offer.extensions),
      ],
    );
    // Every offer Paybound sees while paying also feeds the catalog, written behind the payment; this never throws.
    this.catalog.observeOffer(offer, requirement);
  }
}
