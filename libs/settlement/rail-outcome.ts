import { MppReceiptError } from '../mpp/errors.js';
import { PAYMENT_RECEIPT_HEADER, parsePaymentReceipt } from '../mpp/receipt.js';
import { PAYMENT_RESPONSE_HEADER, X_PAYMENT_RESPONSE_HEADER } from '../x402/headers.js';
import { sellerOutcome, type SellerOutcome } from './outcome.js';

// How a seller's answer to a paid request is reported, whichever rail it was paid on. An MPP
// seller confirms with `Payment-Receipt`, whose `reference` names the transaction (a hint the
// worker checks on chain, as it checks an x402 PAYMENT-RESPONSE). The receipt header found is
// returned too, so it can be kept with the payment as received.

export interface RailAnswer {
  outcome: SellerOutcome;
  receipt: { header: string; value: string } | null;
}

export function railOutcome(status: number, headers: { get(name: string): string | null }): RailAnswer {
  const mppReceipt = headers.get(PAYMENT_RECEIPT_HEADER);
  if (mppReceipt !== null && mppReceipt !== '') {
    const receipt = { header: PAYMENT_RECEIPT_HEADER, value: mppReceipt };
    try {
      const parsed = parsePaymentReceipt(mppReceipt);
      if (status < 400) return { outcome: { outcome: 'paid', transaction: parsed.method === 'evm' ? parsed.reference : null, detail: `seller_answered_${status}` }, receipt };
      return { outcome: { outcome: 'unknown', transaction: parsed.method === 'evm' ? parsed.reference : null, detail: `seller_answered_${status}` }, receipt };
    } catch (error) {
      if (!(error instanceof MppReceiptError)) throw error;
      return { outcome: { outcome: 'unknown', transaction: null, detail: 'payment_receipt_invalid' }, receipt: null };
    }
  }
  const header = headers.get(PAYMENT_RESPONSE_HEADER) !== null ? PAYMENT_RESPONSE_HEADER : headers.get(X_PAYMENT_RESPONSE_HEADER) !== null ? X_PAYMENT_RESPONSE_HEADER : undefined;
  const value = header === undefined ? undefined : (headers.get(header) ?? undefined);
  return { outcome: sellerOutcome(status, value), receipt: header === undefined || value === undefined || value === '' ? null : { header, value } };
}
