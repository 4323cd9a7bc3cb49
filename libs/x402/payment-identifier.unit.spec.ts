import {
  PAYMENT_IDENTIFIER as OFFICIAL_KEY,
  appendPaymentIdentifierToExtensions,
  declarePaymentIdentifierExtension,
  extractAndValidatePaymentIdentifier,
  validatePaymentIdentifierRequirement,
} from '@x402/extensions/payment-identifier';
import { describe, expect, it } from 'vitest';

import { PAYMENT_IDENTIFIER, isValidPaymentId, paymentIdentifierAdvertisement, paymentIdentifierExtension } from './payment-identifier.js';

const INTENT = 'pay_3f0c1e7a-9d2b-4c55-8a61-0b9e2f4d7c11';

describe('payment-identifier', () => {
  it('detects what the official server declares, required or not', () => {
    expect(PAYMENT_IDENTIFIER).toBe(OFFICIAL_KEY);
    expect(paymentIdentifierAdvertisement({ [OFFICIAL_KEY]: declarePaymentIdentifierExtension(true) })).toMatchObject({ required: true });
    expect(paymentIdentifierAdvertisement({ [OFFICIAL_KEY]: declarePaymentIdentifierExtension() })).toMatchObject({ required: false });
  });

  it('sends nothing when the seller does not advertise it, or advertises something else under its name', () => {
    expect(paymentIdentifierExtension(undefined, INTENT)).toBeUndefined();
    expect(paymentIdentifierExtension({ bazaar: {} }, INTENT)).toBeUndefined();
    expect(paymentIdentifierExtension({ [OFFICIAL_KEY]: { info: { required: 'yes' } } }, INTENT)).toBeUndefined();
    expect(paymentIdentifierExtension({ [OFFICIAL_KEY]: [] }, INTENT)).toBeUndefined();
  });

  it('builds the same extension the official client builds, which the official server accepts', () => {
    const declared = { [OFFICIAL_KEY]: declarePaymentIdentifierExtension(true) };
    const ours = paymentIdentifierExtension(declared, INTENT);
    const theirs = appendPaymentIdentifierToExtensions(structuredClone(declared), INTENT);
    expect(ours).toEqual(theirs);
    const payload = { x402Version: 2, extensions: ours } as unknown as Parameters<typeof extractAndValidatePaymentIdentifier>[0];
    expect(extractAndValidatePaymentIdentifier(payload)).toEqual({ id: INTENT, validation: { valid: true } });
    expect(validatePaymentIdentifierRequirement(payload, true)).toEqual({ valid: true });
    // The seller's declaration is echoed, not edited in place.
    expect(declared[OFFICIAL_KEY].info).toEqual({ required: true });
  });

  it('refuses an id outside 16..128 characters of [A-Za-z0-9_-]', () => {
    const declared = { [OFFICIAL_KEY]: declarePaymentIdentifierExtension() };
    for (const id of ['pay_short', 'x'.repeat(129), 'pay_with space_1234', 'pay_ünïcode_123456']) {
      expect(isValidPaymentId(id)).toBe(false);
      expect(() => paymentIdentifierExtension(declared, id)).toThrow(RangeError);
    }
    expect(isValidPaymentId('x'.repeat(16))).toBe(true);
    expect(isValidPaymentId('x'.repeat(128))).toBe(true);
  });
});
