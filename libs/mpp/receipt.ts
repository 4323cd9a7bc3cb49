import { DecodeError, assertSafeJson } from '../x402/encoding.js';
import { decodeBase64Url } from './base64url.js';
import { MppReceiptError } from './errors.js';

// `Payment-Receipt`: base64url of JSON {status: "success", method, reference, timestamp,
// externalId?, …} (mppx Receipt.ts). A failed payment is a 402 with problem details, never
// a receipt, so `status` is always "success". Method-specific members are kept in `raw`.

export const PAYMENT_RECEIPT_HEADER = 'Payment-Receipt';
export const PAYMENT_RECEIPT_CHARS_MAX = 8 * 1024;

export interface PaymentReceipt {
  readonly status: 'success';
  readonly method: string;
  /** For `evm`: the settlement transaction hash. */
  readonly reference: string;
  readonly timestamp: string;
  readonly externalId?: string;
  /** The decoded document as received, for the audit record. */
  readonly raw: Readonly<Record<string, unknown>>;
}

const METHOD = /^[a-z][a-z0-9:_-]{0,63}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const EVM_TRANSACTION_HASH = /^0x[0-9a-fA-F]{64}$/;

export function parsePaymentReceipt(value: string): PaymentReceipt {
  const trimmed = value.trim();
  if (trimmed.length === 0 || trimmed.length > PAYMENT_RECEIPT_CHARS_MAX) {
    throw new MppReceiptError(`receipt must be 1..${PAYMENT_RECEIPT_CHARS_MAX} characters`);
  }
  const bytes = decodeBase64Url(trimmed);
  if (bytes === undefined) throw new MppReceiptError('receipt is not base64url');
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    assertSafeJson(document);
  } catch (error) {
    throw new MppReceiptError(error instanceof DecodeError ? error.detail : 'receipt is not UTF-8 JSON');
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document)) throw new MppReceiptError('receipt is not a JSON object');
  const raw = document as Record<string, unknown>;
  const { status, method, reference, timestamp, externalId } = raw;
  if (status !== 'success') throw new MppReceiptError('status must be "success"');
  if (typeof method !== 'string' || !METHOD.test(method)) throw new MppReceiptError('method must be a lowercase token');
  if (typeof reference !== 'string' || reference.length === 0 || reference.length > 512) throw new MppReceiptError('reference must be 1..512 characters');
  if (method === 'evm' && !EVM_TRANSACTION_HASH.test(reference)) throw new MppReceiptError('reference of an evm receipt must be a transaction hash');
  if (typeof timestamp !== 'string' || !RFC3339.test(timestamp) || !Number.isFinite(Date.parse(timestamp))) {
    throw new MppReceiptError('timestamp must be an RFC 3339 date-time');
  }
  if (externalId !== undefined && (typeof externalId !== 'string' || externalId.length > 256)) {
    throw new MppReceiptError('externalId must be a string of at most 256 characters');
  }
  return Object.freeze({
    status,
    method,
    reference,
    timestamp,
    ...(externalId === undefined ? {} : { externalId }),
    raw: Object.freeze(raw),
  });
}
