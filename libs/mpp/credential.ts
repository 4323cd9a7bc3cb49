import { getAddress, keccak256, stringToBytes, type Address, type Hex } from 'viem';

import { exactEvmPayload, transferWithAuthorizationTypedData, type TransferAuthorization, type TransferWithAuthorizationTypedData } from '../x402/eip3009.js';
import { encodeBase64Url } from './base64url.js';
import type { PaymentChallenge } from './challenge.js';
import type { EvmChargeRequest } from './evm-charge.js';

// The credential a buyer sends back for an `evm`/`charge` challenge:
//
//   Authorization: Payment <base64url(JSON {challenge, source, payload})>
//
// `challenge` echoes every auth-param exactly as received, so the seller's HMAC over
// realm|method|intent|request|expires|digest|opaque still matches; `payload` is an EIP-3009
// authorization of type `authorization`; `source` names the payer as a did:pkh.

/**
 * The EIP-3009 nonce of an `evm`/`charge` authorization: keccak256 of the UTF-8 bytes of
 * challenge id followed by realm (mppx 0.11 `Types.challengeHash`). The seller refuses any
 * other nonce, so Paybound cannot use its intent-derived nonce on this rail. The guarantee
 * of invariant 2 holds through the challenge instead: an intent is bound to exactly one
 * challenge when it is reserved, and re-signing that intent re-signs that challenge, so
 * every authorization of one intent carries the same nonce and at most one can execute.
 */
export function evmChargeNonce(challenge: Pick<PaymentChallenge, 'id' | 'realm'>): Hex {
  return keccak256(stringToBytes(`${challenge.id}${challenge.realm}`));
}

/** The payer as a did:pkh source (mppx `Types.toSource`); the seller compares it to `from`. */
export function evmChargeSource(chainId: number, payer: Address): string {
  return `did:pkh:eip155:${chainId}:${getAddress(payer)}`;
}

export interface EvmChargeAuthorizationInput {
  readonly challenge: PaymentChallenge;
  readonly request: EvmChargeRequest;
  readonly from: Address;
  /** The token's own EIP-712 name and version; the challenge does not carry them. */
  readonly domain: { readonly name: string; readonly version: string };
  readonly validBeforeSec: number;
}

/**
 * The typed data to sign for one `evm`/`charge` challenge, built by the same function as
 * x402's `exact` (libs/x402/eip3009.ts): value = amount, to = recipient, validAfter = 0 (as
 * the mppx client signs), the challenge-bound nonce.
 */
export function evmChargeTypedData(input: EvmChargeAuthorizationInput): TransferWithAuthorizationTypedData {
  if (input.request.splits.length > 0) {
    throw new RangeError('evmChargeTypedData: one EIP-3009 authorization cannot pay splits');
  }
  return transferWithAuthorizationTypedData({
    chainId: input.request.chainId,
    asset: input.request.currency,
    name: input.domain.name,
    version: input.domain.version,
    from: input.from,
    to: input.request.recipient,
    valueAtomic: input.request.amountAtomic,
    validAfterSec: 0,
    validBeforeSec: input.validBeforeSec,
    nonce: evmChargeNonce(input.challenge),
  });
}

/**
 * The authorization's validBefore: the challenge's expiry (the mppx client uses exactly
 * that), capped at `nowSec + windowMaxSec` so a challenge that expires in a year does not
 * make an authorization that stays executable for a year. Undefined when that leaves less
 * than `marginSec`, the least time worth signing for (the settling side wants a few
 * seconds: the x402 facilitator refuses under 6 s).
 */
export function evmChargeValidBeforeSec(
  challenge: Pick<PaymentChallenge, 'expiresAtMs'>,
  nowSec: number,
  options: { readonly windowMaxSec: number; readonly marginSec: number },
): number | undefined {
  const capSec = nowSec + options.windowMaxSec;
  const validBeforeSec = challenge.expiresAtMs === undefined ? capSec : Math.min(Math.floor(challenge.expiresAtMs / 1000), capSec);
  return validBeforeSec - nowSec >= options.marginSec ? validBeforeSec : undefined;
}

export interface EvmAuthorizationPayload {
  readonly type: 'authorization';
  readonly from: Address;
  readonly to: Address;
  readonly value: string;
  readonly validAfter: string;
  readonly validBefore: string;
  readonly nonce: Hex;
  readonly signature: Hex;
}

/** mppx's AuthorizationPayloadSchema: x402's `exact` authorization fields, flat, typed, signed. */
export function evmAuthorizationPayload(signature: Hex, authorization: TransferAuthorization): EvmAuthorizationPayload {
  return { type: 'authorization', ...exactEvmPayload(signature, authorization).authorization, signature };
}

export interface CredentialHeader {
  readonly name: string;
  readonly value: string;
}

/** The credential header, with every auth-param of the challenge echoed as received. */
export function buildPaymentCredential(input: {
  readonly challenge: PaymentChallenge;
  readonly payload: unknown;
  readonly source?: string;
}): CredentialHeader {
  const document = {
    challenge: { ...input.challenge.params },
    ...(input.source === undefined ? {} : { source: input.source }),
    payload: input.payload,
  };
  return { name: input.challenge.credentialHeader, value: `Payment ${encodeBase64Url(JSON.stringify(document))}` };
}
