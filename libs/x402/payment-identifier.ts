// x402's `payment-identifier` extension (specs/extensions/payment_identifier.md, @x402/
// extensions 2.27): a seller that advertises it lets the client name its payment, so the
// seller and its facilitator can answer a retried payment from cache instead of settling
// again. Paybound names each payment by its intent id, the same on every retry.

export const PAYMENT_IDENTIFIER = 'payment-identifier';
export const PAYMENT_ID_CHARS_MIN = 16;
export const PAYMENT_ID_CHARS_MAX = 128;
const PAYMENT_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

export interface PaymentIdentifierAdvertisement {
  /** The seller refuses a payment without an id. */
  readonly required: boolean;
  /** The seller's extension object as advertised, echoed back with the id added. */
  readonly declared: Readonly<Record<string, unknown>>;
}

/** The seller's advertisement in an offer's `extensions`, or undefined when it makes none. */
export function paymentIdentifierAdvertisement(
  extensions: Readonly<Record<string, unknown>> | undefined,
): PaymentIdentifierAdvertisement | undefined {
  const declared = extensions?.[PAYMENT_IDENTIFIER];
  if (declared === null || typeof declared !== 'object' || Array.isArray(declared)) return undefined;
  const info = (declared as Record<string, unknown>)['info'];
  if (info === null || typeof info !== 'object' || Array.isArray(info)) return undefined;
  const required = (info as Record<string, unknown>)['required'];
  // The spec makes `required` the one mandatory member; anything else is not this extension.
  if (typeof required !== 'boolean') return undefined;
  return { required, declared: declared as Record<string, unknown> };
}

export function isValidPaymentId(id: string): boolean {
  return id.length >= PAYMENT_ID_CHARS_MIN && id.length <= PAYMENT_ID_CHARS_MAX && PAYMENT_ID_PATTERN.test(id);
}

/**
 * The `extensions` member to merge into PAYMENT-SIGNATURE: the seller's declaration echoed
 * with `info.id` set to the intent id (the official client adds the id the same way, and
 * the seller checks that what it advertised is still there). Undefined when the seller does
 * not advertise the extension, in which case nothing is sent.
 */
export function paymentIdentifierExtension(
  extensions: Readonly<Record<string, unknown>> | undefined,
  intentId: string,
): Record<string, unknown> | undefined {
  const advertisement = paymentIdentifierAdvertisement(extensions);
  if (advertisement === undefined) return undefined;
  if (!isValidPaymentId(intentId)) {
    throw new RangeError(
      `paymentIdentifierExtension: an intent id must be ${PAYMENT_ID_CHARS_MIN}..${PAYMENT_ID_CHARS_MAX} characters of [A-Za-z0-9_-]`,
    );
  }
  const info = advertisement.declared['info'] as Record<string, unknown>;
  return { [PAYMENT_IDENTIFIER]: { ...advertisement.declared, info: { ...info, id: intentId } } };
}
