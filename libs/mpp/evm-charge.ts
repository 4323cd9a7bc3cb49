import { getAddress, isAddress, type Address } from 'viem';
import { z } from 'zod';

import type { PaymentChallenge } from './challenge.js';
import type { MppChallengeRefusal } from './errors.js';

// The `evm` method's `charge` intent, as mppx 0.11 defines it (mppx/evm Types.ts,
// ChargeRequestSchema): one ERC-20 payment of `amount` atomic units of `currency` to
// `recipient` on `methodDetails.chainId`. Credential types are listed in
// `methodDetails.credentialTypes` (mppx 0.11 knows only `authorization`, an EIP-3009
// transferWithAuthorization). `splits` carve parts of `amount` out to other recipients;
// the primary recipient gets the rest. Decisions use only these decoded fields, never
// `description`.

export const EVM_METHOD = 'evm';
export const CHARGE_INTENT = 'charge';
/** The credential type Paybound signs: EIP-3009 with the seller-defined nonce. */
export const AUTHORIZATION_CREDENTIAL = 'authorization';
/** mppx's tempo method caps splits at 10; the same bound holds here. */
export const SPLITS_MAX = 10;
const AMOUNT_DIGITS_MAX = 78;
const UINT256_MAX = 2n ** 256n - 1n;
const CHAIN_ID_MAX = 2 ** 53 - 1;
const EXTERNAL_ID_CHARS_MAX = 256;
const DESCRIPTION_CHARS_MAX = 1_024;

export interface EvmChargePayee {
  readonly address: Address;
  readonly amountAtomic: bigint;
}

export interface EvmChargeRequest {
  /** The whole charge: what the payer's balance goes down by. */
  readonly amountAtomic: bigint;
  readonly currency: Address;
  /** The primary recipient. */
  readonly recipient: Address;
  readonly chainId: number;
  readonly network: `eip155:${number}`;
  /** The seller's statement of the token's decimals; check it against a known asset. */
  readonly decimals?: number;
  readonly credentialTypes: readonly string[];
  readonly splits: readonly EvmChargePayee[];
  /** Every recipient with its share, primary first: each is a payee for policy. */
  readonly payees: readonly EvmChargePayee[];
  /**
   * Whether the seller pays gas. Only transaction credentials make the buyer send a
   * transaction; for an `authorization` the seller's side submits it, so the buyer's gas
   * is zero either way.
   */
  readonly feePayer?: boolean;
  readonly permit2Address?: Address;
  readonly externalId?: string;
}

export type EvmChargeParse =
  | { readonly ok: true; readonly request: EvmChargeRequest }
  | { readonly ok: false; readonly code: MppChallengeRefusal; readonly detail: string };

const atomicAmount = z
  .string({ error: 'must be a string of atomic units' })
  .regex(new RegExp(`^(0|[1-9][0-9]{0,${AMOUNT_DIGITS_MAX - 1}})$`), { error: 'must be an integer string without leading zeros' });
const address = z.string({ error: 'must be a string' }).refine((value) => isAddress(value, { strict: false }), { error: 'must be an EVM address' });

// Strict objects: an unknown member may be a term of the payment that Paybound would agree
// to without reading it, so a request with one is refused rather than half understood.
const methodDetailsSchema = z.strictObject({
  chainId: z.number({ error: 'must be a number' }).int().min(1).max(CHAIN_ID_MAX),
  credentialTypes: z.array(z.string().min(1).max(64)).min(1).max(8).optional(),
  decimals: z.number().int().min(0).max(36).optional(),
  permit2Address: address.optional(),
  splits: z
    .array(z.strictObject({ amount: atomicAmount, recipient: address }))
    .min(1)
    .max(SPLITS_MAX)
    .optional(),
  feePayer: z.boolean().optional(),
});

const chargeRequestSchema = z.strictObject({
  amount: atomicAmount,
  currency: address,
  recipient: address,
  description: z.string().max(DESCRIPTION_CHARS_MAX).optional(),
  externalId: z.string().min(1).max(EXTERNAL_ID_CHARS_MAX).optional(),
  methodDetails: methodDetailsSchema,
});

/** Reads an `evm`/`charge` challenge's request; refuses other methods and intents by code. */
export function parseEvmChargeRequest(challenge: PaymentChallenge): EvmChargeParse {
  if (challenge.method !== EVM_METHOD) {
    return { ok: false, code: 'mpp_method_not_supported', detail: `method "${challenge.method}" is not supported (only ${EVM_METHOD})` };
  }
  if (challenge.intent !== CHARGE_INTENT) {
    return { ok: false, code: 'mpp_intent_not_supported', detail: `intent "${challenge.intent}" is not supported (only ${CHARGE_INTENT})` };
  }
  const parsed = chargeRequestSchema.safeParse(challenge.requestJson);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue === undefined ? '' : issue.path.map(String).join('.');
    return { ok: false, code: 'mpp_request_invalid', detail: `request.${path}: ${issue?.message ?? 'invalid'}`.slice(0, 200) };
  }
  const { amount, currency, recipient, externalId, methodDetails } = parsed.data;
  const amountAtomic = BigInt(amount);
  if (amountAtomic <= 0n || amountAtomic > UINT256_MAX) {
    return { ok: false, code: 'mpp_request_invalid', detail: 'request.amount must be a positive uint256' };
  }
  for (const [field, value] of [['currency', currency], ['recipient', recipient]] as const) {
    if (!checksumAcceptable(value)) return { ok: false, code: 'mpp_request_invalid', detail: `request.${field}: EVM address has a bad checksum` };
  }
  const splits: EvmChargePayee[] = [];
  let splitTotal = 0n;
  for (const [index, split] of (methodDetails.splits ?? []).entries()) {
    const splitAtomic = BigInt(split.amount);
    if (splitAtomic <= 0n) return { ok: false, code: 'mpp_request_invalid', detail: `request.methodDetails.splits.${index}.amount must be positive` };
    if (!checksumAcceptable(split.recipient)) {
      return { ok: false, code: 'mpp_request_invalid', detail: `request.methodDetails.splits.${index}.recipient: bad checksum` };
    }
    splitTotal += splitAtomic;
    splits.push({ address: getAddress(split.recipient), amountAtomic: splitAtomic });
  }
  // As mppx's charge transfers compute it: the primary recipient keeps a positive rest.
  if (splitTotal >= amountAtomic) {
    return { ok: false, code: 'mpp_request_invalid', detail: 'request.methodDetails.splits add up to the whole amount or more' };
  }
  const primary: EvmChargePayee = { address: getAddress(recipient), amountAtomic: amountAtomic - splitTotal };
  const request: EvmChargeRequest = {
    amountAtomic,
    currency: getAddress(currency),
    recipient: primary.address,
    chainId: methodDetails.chainId,
    network: `eip155:${methodDetails.chainId}`,
    ...(methodDetails.decimals === undefined ? {} : { decimals: methodDetails.decimals }),
    // mppx's default when the list is absent (evm/Methods.ts).
    credentialTypes: methodDetails.credentialTypes ?? [AUTHORIZATION_CREDENTIAL],
    splits,
    payees: [primary, ...splits],
    ...(methodDetails.feePayer === undefined ? {} : { feePayer: methodDetails.feePayer }),
    ...(methodDetails.permit2Address === undefined ? {} : { permit2Address: getAddress(methodDetails.permit2Address) }),
    ...(externalId === undefined ? {} : { externalId }),
  };
  return { ok: true, request: Object.freeze(request) };
}

// A mixed-case address with a wrong checksum is most likely a typo; all-lower and
// all-upper spellings carry no checksum and are accepted.
function checksumAcceptable(value: string): boolean {
  const body = value.slice(2);
  return body === body.toLowerCase() || body === body.toUpperCase() || isAddress(value);
}
