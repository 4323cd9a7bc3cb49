import { z } from 'zod';

import { DecodeError, decodeBase64Json, encodeBase64Json } from './encoding.js';
import { X402ResponseError } from './errors.js';
import type { PaymentOffer, PaymentRequirement } from './offer.js';

export const PAYMENT_REQUIRED_HEADER = 'PAYMENT-REQUIRED';
export const PAYMENT_SIGNATURE_HEADER = 'PAYMENT-SIGNATURE';
export const PAYMENT_RESPONSE_HEADER = 'PAYMENT-RESPONSE';
export const X_PAYMENT_HEADER = 'X-PAYMENT';
export const X_PAYMENT_RESPONSE_HEADER = 'X-PAYMENT-RESPONSE';

export const PAYMENT_RESPONSE_BYTES_MAX = 16 * 1024;

export interface PaymentHeader {
  readonly name: string;
  readonly value: string;
}

/**
 * The v2 `PAYMENT-SIGNATURE` header. `accepted` is the seller's requirement verbatim and
 * `resource` the seller's resource object verbatim: the 2.27 seller matches `accepted` by
 * deep equality, so a normalised copy (checksummed addresses, dropped fields) would fail.
 */
export function buildPaymentSignatureHeader(input: {
  readonly offer: PaymentOffer;
  readonly requirement: PaymentRequirement;
  readonly payload: unknown;
  readonly extensions?: Readonly<Record<string, unknown>>;
}): PaymentHeader {
  if (input.offer.x402Version !== 2) {
    throw new RangeError('buildPaymentSignatureHeader: the offer is not x402 v2');
  }
  if (input.offer.requirements[input.requirement.index] !== input.requirement) {
    throw new RangeError('buildPaymentSignatureHeader: the requirement is not from this offer');
  }
  const document = {
    x402Version: 2,
    ...(input.offer.resourceRaw === undefined ? {} : { resource: input.offer.resourceRaw }),
    accepted: input.requirement.raw,
    payload: input.payload,
    ...(input.extensions === undefined ? {} : { extensions: input.extensions }),
  };
  return { name: PAYMENT_SIGNATURE_HEADER, value: encodeBase64Json(document) };
}

/** The v1 `X-PAYMENT` header; `network` is the seller's own v1 name, echoed as sent. */
export function buildXPaymentHeader(input: {
  readonly offer: PaymentOffer;
  readonly requirement: PaymentRequirement;
  readonly payload: unknown;
}): PaymentHeader {
  if (input.offer.x402Version !== 1) {
    throw new RangeError('buildXPaymentHeader: the offer is not x402 v1');
  }
  if (input.offer.requirements[input.requirement.index] !== input.requirement) {
    throw new RangeError('buildXPaymentHeader: the requirement is not from this offer');
  }
  const network = input.requirement.raw['network'];
  if (typeof network !== 'string') {
    throw new RangeError('buildXPaymentHeader: the requirement has no v1 network name');
  }
  const document = { x402Version: 1, scheme: input.requirement.scheme, network, payload: input.payload };
  return { name: X_PAYMENT_HEADER, value: encodeBase64Json(document) };
}

export interface PaymentResponse {
  readonly success: boolean;
  /** Transaction hash on success; may be empty on failure. */
  readonly transaction: string;
  readonly network: string;
  readonly payer?: string;
  readonly errorReason?: string;
  readonly errorMessage?: string;
  readonly amount?: string;
}

const optionalText = (charsMax: number) =>
  z
    .string()
    .max(charsMax)
    .nullish()
    .transform((value) => value ?? undefined);

const paymentResponseSchema = z.object({
  success: z.boolean({ error: 'must be a boolean' }),
  transaction: z.string({ error: 'must be a string' }).max(256),
  network: z.string({ error: 'must be a string' }).min(1).max(64),
  payer: optionalText(128),
  errorReason: optionalText(256),
  errorMessage: optionalText(1_024),
  amount: z
    .string()
    .regex(/^[0-9]{1,78}$/, { error: 'must be an integer string' })
    .nullish()
    .transform((value) => value ?? undefined),
});

const TRANSACTION_HASH_EVM = /^0x[0-9a-fA-F]{64}$/;

/** Parses a `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value. */
export function parsePaymentResponse(value: string): PaymentResponse {
  let document: unknown;
  try {
    document = decodeBase64Json(value, PAYMENT_RESPONSE_BYTES_MAX);
  } catch (error) {
    if (error instanceof DecodeError) throw new X402ResponseError(error.detail);
    throw error;
  }
  const parsed = paymentResponseSchema.safeParse(document);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined ? '' : issue.path.map(String).join('.');
    throw new X402ResponseError(issue === undefined ? 'response is invalid' : `${path}: ${issue.message}`);
  }
  const response = parsed.data;
  if (response.success && response.network.startsWith('eip155:') && !TRANSACTION_HASH_EVM.test(response.transaction)) {
    throw new X402ResponseError('transaction: a successful EVM settlement must carry a transaction hash');
  }
  return {
    success: response.success,
    transaction: response.transaction,
    network: response.network,
    ...(response.payer === undefined ? {} : { payer: response.payer }),
    ...(response.errorReason === undefined ? {} : { errorReason: response.errorReason }),
    ...(response.errorMessage === undefined ? {} : { errorMessage: response.errorMessage }),
    ...(response.amount === undefined ? {} : { amount: response.amount }),
  };
}
