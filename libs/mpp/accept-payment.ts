// `Accept-Payment` on the first request tells an MPP seller which method/intent pairs the
// client can pay, with optional q-values (mppx internal/AcceptPayment.ts):
//
//   Accept-Payment: evm/charge, tempo/charge;q=0.5
//
// A seller built on mppx ranks its challenges by it and, when the header is present, drops
// the 402 bodies of handlers that offer x402 only (Mppx.js, `unnegotiatedX402Responses`),
// so a client that also pays x402 should know it may see fewer x402 offers.

export const ACCEPT_PAYMENT_HEADER = 'Accept-Payment';

export interface AcceptPaymentEntry {
  readonly method: string;
  readonly intent: string;
  /** 0..1 with at most three decimals; 1 when absent. 0 means "never". */
  readonly q?: number;
}

/** What Paybound can pay over MPP today. */
export const PAYBOUND_ACCEPT_PAYMENT: readonly AcceptPaymentEntry[] = [{ method: 'evm', intent: 'charge' }];

const TOKEN = /^[a-z0-9-]+$/;

export function acceptPaymentValue(entries: readonly AcceptPaymentEntry[] = PAYBOUND_ACCEPT_PAYMENT): string {
  if (entries.length === 0 || entries.length > 16) throw new RangeError('acceptPaymentValue: 1..16 entries');
  return entries
    .map(({ method, intent, q }) => {
      if (!TOKEN.test(method) || !TOKEN.test(intent)) throw new RangeError('acceptPaymentValue: method and intent are lowercase tokens');
      if (q === undefined || q === 1) return `${method}/${intent}`;
      if (!(q >= 0 && q < 1) || Math.round(q * 1000) !== q * 1000) throw new RangeError('acceptPaymentValue: q is 0..1 with at most 3 decimals');
      return `${method}/${intent};q=${String(q)}`;
    })
    .join(', ');
}
