import { X402ResponseError } from '../x402/errors.js';
import { parsePaymentResponse } from '../x402/headers.js';

// How a seller's answer to a paid request is reported to the ledger. Only a valid success
// PAYMENT-RESPONSE names a transaction; everything else leaves the outcome to the chain.
// None of these outcomes releases money: the settlement worker settles or releases from
// what the chain shows.

export interface SellerOutcome {
  outcome: 'paid' | 'unknown' | 'refused';
  transaction: string | null;
  detail: string;
}

/**
 * `status` is the seller's HTTP status, or null when no answer came (timeout, connection
 * lost); `paymentResponse` the PAYMENT-RESPONSE / X-PAYMENT-RESPONSE value, if any.
 */
export function sellerOutcome(status: number | null, paymentResponse: string | undefined): SellerOutcome {
  if (status === null) return { outcome: 'unknown', transaction: null, detail: 'no_answer' };
  if (paymentResponse !== undefined && paymentResponse !== '') {
    try {
      const response = parsePaymentResponse(paymentResponse);
      if (response.success && status < 400) return { outcome: 'paid', transaction: response.transaction, detail: `seller_answered_${status}` };
      // Settled but answered with an error: the transaction is worth checking, the outcome is not known.
      if (response.success) return { outcome: 'unknown', transaction: response.transaction, detail: `seller_answered_${status}` };
      if (!response.success) {
        const reason = (response.errorReason ?? 'settlement_failed').replace(/[^a-z0-9_]/gi, '_').slice(0, 64);
        return { outcome: status === 402 ? 'refused' : 'unknown', transaction: response.transaction === '' ? null : response.transaction, detail: `seller_${reason}` };
      }
    } catch (error) {
      if (!(error instanceof X402ResponseError)) throw error;
      return { outcome: 'unknown', transaction: null, detail: 'payment_response_invalid' };
    }
  }
  if (status === 402) return { outcome: 'refused', transaction: null, detail: 'seller_answered_402' };
  return { outcome: 'unknown', transaction: null, detail: `seller_answered_${status}` };
}
