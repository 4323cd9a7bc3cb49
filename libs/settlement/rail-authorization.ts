import { getAddress, isAddress, type Address, type Hex } from 'viem';
import type { Reserved } from '../domain/budget/events.js';
import { paymentChallengeFromText } from '../mpp/challenge-text.js';
import { buildPaymentCredential, evmAuthorizationPayload, evmChargeNonce, evmChargeSource, evmChargeTypedData } from '../mpp/credential.js';
import { AUTHORIZATION_CREDENTIAL, parseEvmChargeRequest } from '../mpp/evm-charge.js';
import { deriveNonce, type TransferWithAuthorizationTypedData } from '../x402/eip3009.js';
import { X402OfferError } from '../x402/errors.js';
import { buildPaymentSignatureHeader, type PaymentHeader } from '../x402/headers.js';
import { evmChainId } from '../x402/networks.js';
import type { PaymentOffer, PaymentRequirement } from '../x402/offer.js';
import { paymentIdentifierExtension } from '../x402/payment-identifier.js';
import {
  derivePermit2Nonce,
  exactPermit2Payload,
  exactPermit2TypedData,
  uptoPermit2Payload,
  uptoPermit2TypedData,
  type ExactPermit2TypedData,
  type UptoPermit2TypedData,
} from '../x402/permit2.js';
import { offerFromStored, paymentHeaderFor, planAuthorization, signedValidBeforeSec, SIGN_VALIDITY_MARGIN_SEC, type SignRefusal, type StoredOffer } from './authorization.js';

// What the worker signs for a reservation on any rail, decided without I/O, so that a re-sign
// after a crash provably yields an authorization that spends the same nonce:
//  - x402 `exact` over EIP-3009: as before (authorization.ts), the intent-derived nonce;
//  - x402 `exact` over Permit2 and `upto`: a Permit2 witness transfer whose nonce is the
//    intent-derived one read as a uint256, deadline one second before the reserved
//    validBefore (Permit2 accepts `block.timestamp <= deadline`, EIP-3009 `< validBefore`:
//    both are then dead at the same instant, which reconciliation relies on);
//  - MPP `evm/charge`: an EIP-3009 authorization whose nonce the seller defines as
//    keccak256(challenge id ‖ realm). It is not derived from the intent, yet one intent still
//    yields one executable authorization: the intent is bound to exactly one challenge when
//    it is reserved (payment_rails, unique per challenge nonce), a re-sign re-signs that very
//    challenge, and every signature of it spends the same nonce, which the token uses once.

/** An MPP challenge kept by the governor (payment_rails) with the token's EIP-712 domain. */
export interface StoredMppChallenge {
  kind: 'mpp';
  challenge: string;
  tokenDomain: { name: string; version: string } | null;
}

export type StoredPaymentOffer = StoredOffer | StoredMppChallenge;

export type Permit2TypedData = ExactPermit2TypedData | UptoPermit2TypedData;

export type RailPlan =
  | { transfer: 'eip3009'; scheme: string; typedData: TransferWithAuthorizationTypedData; nonce: Hex; validBeforeSec: number; header: (signature: Hex) => PaymentHeader }
  | { transfer: 'permit2'; scheme: string; typedData: Permit2TypedData; nonce: Hex; validBeforeSec: number; header: (signature: Hex) => PaymentHeader };

export type RailPlanning = { ok: true; plan: RailPlan } | { ok: false; reason: SignRefusal };

const isMpp = (stored: StoredPaymentOffer): stored is StoredMppChallenge => 'kind' in stored && stored.kind === 'mpp';

export function planRailAuthorization(reservation: Reserved['data'], stored: StoredPaymentOffer | undefined, wallet: Address, nowSec: number): RailPlanning {
  if (stored === undefined) return { ok: false, reason: 'offer_unknown' };
  // The rail is the one reserved: a stored offer of another rail is not signed.
  if ((reservation.rail === 'mpp') !== isMpp(stored)) return { ok: false, reason: 'offer_mismatch' };
  if (isMpp(stored)) return planMppCharge(reservation, stored, wallet, nowSec);
  if ((reservation.transfer ?? 'eip3009') === 'permit2') return planPermit2(reservation, stored, wallet, nowSec);
  const planned = planAuthorization(reservation, stored, wallet, nowSec);
  if (!planned.ok) return planned;
  const { plan } = planned;
  const identified = withPaymentIdentifier(plan.offer, reservation.intentId);
  return {
    ok: true,
    plan: { transfer: 'eip3009', scheme: plan.requirement.scheme, typedData: plan.typedData, nonce: plan.nonce, validBeforeSec: plan.validBeforeSec, header: (signature) => paymentHeaderFor({ ...plan, offer: identified }, signature) },
  };
}

function planPermit2(reservation: Reserved['data'], stored: StoredOffer, wallet: Address, nowSec: number): RailPlanning {
  let parsed: { offer: PaymentOffer; requirement: PaymentRequirement };
  try {
    parsed = offerFromStored(stored);
  } catch (error) {
    if (error instanceof X402OfferError) return { ok: false, reason: 'offer_invalid' };
    throw error;
  }
  const { offer, requirement } = parsed;
  if (!sameTerms(reservation, requirement.network, requirement.asset, requirement.payTo, requirement.amountAtomic)) return { ok: false, reason: 'offer_mismatch' };
  if (offer.x402Version !== 2) return { ok: false, reason: 'scheme_not_supported' };
  const method = requirement.extra?.['assetTransferMethod'];
  if (requirement.scheme === 'exact' ? method !== 'permit2' : requirement.scheme !== 'upto' || (method !== undefined && method !== 'permit2')) {
    return { ok: false, reason: 'scheme_not_supported' };
  }
  const chainId = evmChainId(requirement.network);
  if (chainId === undefined) return { ok: false, reason: 'no_wallet_for_network' };
  const validBeforeSec = signedValidBeforeSec(reservation.validBefore);
  if (validBeforeSec < nowSec + SIGN_VALIDITY_MARGIN_SEC) return { ok: false, reason: 'expired_before_signing' };
  const common = {
    chainId,
    token: getAddress(requirement.asset),
    amountAtomic: requirement.amountAtomic,
    payTo: getAddress(requirement.payTo),
    nonce: derivePermit2Nonce(wallet, reservation.intentId),
    deadlineSec: validBeforeSec - 1,
    validAfterSec: 0,
  };
  const identified = withPaymentIdentifier(offer, reservation.intentId);
  const extensions = identified.extensions;
  const header = (payload: unknown): PaymentHeader => buildPaymentSignatureHeader({ offer, requirement, payload, ...(extensions === undefined ? {} : { extensions }) });
  const nonce = deriveNonce(wallet, reservation.intentId);
  if (requirement.scheme === 'upto') {
    const facilitator = requirement.extra?.['facilitatorAddress'];
    if (typeof facilitator !== 'string' || !isAddress(facilitator, { strict: false })) return { ok: false, reason: 'offer_invalid' };
    const typedData = uptoPermit2TypedData({ ...common, facilitator: getAddress(facilitator) });
    return { ok: true, plan: { transfer: 'permit2', scheme: 'upto', typedData, nonce, validBeforeSec, header: (signature) => header(uptoPermit2Payload(signature, wallet, typedData)) } };
  }
  const typedData = exactPermit2TypedData(common);
  return { ok: true, plan: { transfer: 'permit2', scheme: 'exact', typedData, nonce, validBeforeSec, header: (signature) => header(exactPermit2Payload(signature, wallet, typedData)) } };
}

function planMppCharge(reservation: Reserved['data'], stored: StoredMppChallenge, wallet: Address, nowSec: number): RailPlanning {
  const challenge = paymentChallengeFromText(stored.challenge);
  if (challenge === undefined) return { ok: false, reason: 'offer_invalid' };
  const parsed = parseEvmChargeRequest(challenge);
  if (!parsed.ok) return { ok: false, reason: 'offer_invalid' };
  const { request } = parsed;
  if (!sameTerms(reservation, request.network, request.currency, request.recipient, request.amountAtomic)) return { ok: false, reason: 'offer_mismatch' };
  // One EIP-3009 authorization is one transfer: splits and other credential types are not signed.
  if (request.splits.length > 0 || !request.credentialTypes.includes(AUTHORIZATION_CREDENTIAL)) return { ok: false, reason: 'scheme_not_supported' };
  if (stored.tokenDomain === null) return { ok: false, reason: 'eip712_domain_missing' };
  // The reserved validBefore is already no later than the challenge's expiry.
  const validBeforeSec = signedValidBeforeSec(reservation.validBefore);
  if (validBeforeSec < nowSec + SIGN_VALIDITY_MARGIN_SEC) return { ok: false, reason: 'expired_before_signing' };
  const typedData = evmChargeTypedData({ challenge, request, from: wallet, domain: stored.tokenDomain, validBeforeSec });
  return {
    ok: true,
    plan: {
      transfer: 'eip3009',
      scheme: challenge.intent,
      typedData,
      nonce: evmChargeNonce(challenge),
      validBeforeSec,
      header: (signature) => buildPaymentCredential({ challenge, payload: evmAuthorizationPayload(signature, typedData.message), source: evmChargeSource(request.chainId, wallet) }),
    },
  };
}

/** The worker signs only what the budget decision reserved: another payee, asset, network or amount is refused, whoever stored it. */
function sameTerms(reservation: Reserved['data'], network: string, asset: string, payTo: string, amountAtomic: bigint): boolean {
  return network === reservation.network && asset.toLowerCase() === reservation.asset.toLowerCase() && payTo.toLowerCase() === reservation.payTo.toLowerCase() && amountAtomic === reservation.amountAtomic;
}

/** The offer with `payment-identifier` set to the intent id when the seller advertises it. */
function withPaymentIdentifier(offer: PaymentOffer, intentId: string): PaymentOffer {
  const identifier = offer.x402Version === 2 ? paymentIdentifierExtension(offer.extensions, intentId) : undefined;
  return identifier === undefined ? offer : { ...offer, extensions: { ...offer.extensions, ...identifier } };
}
