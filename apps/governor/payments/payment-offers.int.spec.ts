import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { paymentRequiredHeader } from '../../../test/support/api-client.js';
import { parsePaymentRequired, type PaymentOffer } from '../../../libs/x402/offer.js';
import { PaymentOffers } from './payment-offers.js';

const USDC_BASE = '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913';
const PAY_TO = '0x2222222222222222222222222222222222222222';

describe('PaymentOffers: the offer rows of concurrent payments', () => {
  let db: TestDatabase;
  let offers: PaymentOffers;
  const offerFor = (path: string): PaymentOffer =>
    parsePaymentRequired(paymentRequiredHeader({ amount: '1000', asset: USDC_BASE, payTo: PAY_TO, network: 'eip155:8453', url: `https://seller.example.test/${path}` }));
  const storedIntents = async (prefix: string) =>
    (await db.pool.query<{ intent_id: string }>('SELECT intent_id FROM payment_offers WHERE intent_id LIKE $1 ORDER BY intent_id', [`${prefix}%`])).rows.map((r) => r.intent_id);

  beforeAll(async () => {
    db = await freshDatabase('payment_offers');
    offers = new PaymentOffers(db.pool);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('writes the rows of one turn in one statement, each committed before its caller goes on', async () => {
    const query = vi.spyOn(db.pool, 'query');
    try {
      const offer = offerFor('batched');
      const intentIds = Array.from({ length: 20 }, (_, i) => `pay_batch_${String(i).padStart(2, '0')}`);
      await Promise.all(intentIds.map((intentId) => offers.rememberOffer(intentId, offer, offer.requirements[0]!)));
      const inserts = query.mock.calls.filter(([text]) => String(text).includes('INSERT INTO payment_offers'));
      expect(inserts).toHaveLength(1);
      expect(await storedIntents('pay_batch_')).toEqual(intentIds);
    } finally {
      query.mockRestore();
    }
  });

  it('fails only the payment whose offer the database refuses, not the others of its turn', async () => {
    const good = offerFor('good');
    // jsonb refuses the NUL escape that JSON.stringify writes for U+0000.
    const refused: PaymentOffer = { ...good, extensions: { note: 'a\u0000b' } };
    const results = await Promise.allSettled([
      offers.rememberOffer('pay_mixed_1', good, good.requirements[0]!),
      offers.rememberOffer('pay_mixed_2', refused, refused.requirements[0]!),
      offers.rememberOffer('pay_mixed_3', good, good.requirements[0]!),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/unicode|\\u0000/i);
    expect(await storedIntents('pay_mixed_')).toEqual(['pay_mixed_1', 'pay_mixed_3']);
  });
});
