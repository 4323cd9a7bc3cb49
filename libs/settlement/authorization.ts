import { getAddress, type Address, type Hex } from 'viem';
import type { Reserved } from '../domain/budget/events.js';
import { deriveNonce, exactEvmPayload, transferWithAuthorizationTypedData, type TransferWithAuthorizationTypedData } from '../x402/eip3009.js';
import { X402OfferError } from '../x402/errors.js';
import { buildPaymentSignatureHeader, buildXPaymentHeader, type PaymentHeader } from '../x402/headers.js';
import { evmChainId } from '../x402/networks.js';
import { parsePaymentRequired, type PaymentOffer, type PaymentRequirement } from '../x402/offer.js';

// What the worker signs for one reservation, decided without I/O so it can be tested and so
// a re-sign after a crash provably produces the same authorization: the nonce comes from the
// wallet and the intent, validAfter is 0 and validBefore is the one reserved.

/** The offer as the governor stored it in `payment_offers` before reserving. */
export interface StoredOffer {
  x402Version: 1 | 2;
  requirementRaw: Record<string, unknown>;
  resourceRaw: Record<string, unknown> | null;
  extensions: Record<string, unknown> | null;
}

/** Why the worker refuses to sign; each becomes the reason of a `never_signed` release. */
export type SignRefusal = 'no_wallet_for_network' | 'offer_unknown' | 'offer_invalid' | 'offer_mismatch' | 'scheme_not_supported' | 'eip712_domain_missing' | 'expired_before_signing';

export interface AuthorizationPlan {
  offer: PaymentOffer;
  requirement: PaymentRequirement;
  typedData: TransferWithAuthorizationTypedData;
  nonce: Hex;
  validBeforeSec: number;
}

/**
 * The facilitator refuses an authorization that expires within 6 s; one that would leave
 * less than this margin is not worth signing, and its money is released at once instead.
 */
export const SIGN_VALIDITY_MARGIN_SEC = 10;

/** The authorization's validBefore in whole seconds: the reserved instant, rounded down. */
export function signedValidBeforeSec(validBeforeIso: string): number {
  return Math.floor(Date.parse(validBeforeIso) / 1000);
}

/** Rebuilds the offer from what was stored, through the same strict parser as the governor. */
export function offerFromStored(stored: StoredOffer): { offer: PaymentOffer; requirement: PaymentRequirement } {
  const document =
    stored.x402Version === 2
      ? { x402Version: 2, resource: stored.resourceRaw ?? {}, accepts: [stored.requirementRaw], ...(stored.extensions === null ? {} : { extensions: stored.extensions }) }
      : { x402Version: 1, accepts: [stored.requirementRaw] };
  const offer = parsePaymentRequired({ body: document });
  const requirement = offer.requirements[0];
  if (requirement === undefined) throw new X402OfferError('stored offer has no requirement');
  return { offer, requirement };
}

export function planAuthorization(
  reservation: Reserved['data'],
  stored: StoredOffer | undefined,
  wallet: Address,
  nowSec: number,
): { ok: true; plan: AuthorizationPlan } | { ok: false; reason: SignRefusal } {
  if (stored === undefined) return { ok: false, reason: 'offer_unknown' };
  let parsed: { offer: PaymentOffer; requirement: PaymentRequirement };
  try {
    parsed = offerFromStored(stored);
  } catch (error) {
    if (error instanceof X402OfferError) return { ok: false, reason: 'offer_invalid' };
    throw error;
  }
  const { requirement } = parsed;
  // The worker signs only what the budget decision reserved: a stored offer that names
  // another payee, asset, network or amount is refused, whoever wrote it.
  const same =
    requirement.network === reservation.network &&
    requirement.asset.toLowerCase() === reservation.asset.toLowerCase() &&
    requirement.payTo.toLowerCase() === reservation.payTo.toLowerCase() &&
    requirement.amountAtomic === reservation.amountAtomic;
  if (!same) return { ok: false, reason: 'offer_mismatch' };
  if (requirement.scheme !== 'exact') return { ok: false, reason: 'scheme_not_supported' };
  const chainId = evmChainId(requirement.network);
  if (chainId === undefined) return { ok: false, reason: 'no_wallet_for_network' };
  const name = requirement.extra?.name;
  const version = requirement.extra?.version;
  if (typeof name !== 'string' || typeof version !== 'string') return { ok: false, reason: 'eip712_domain_missing' };
  const validBeforeSec = signedValidBeforeSec(reservation.validBefore);
  if (validBeforeSec < nowSec + SIGN_VALIDITY_MARGIN_SEC) return { ok: false, reason: 'expired_before_signing' };
  const nonce = deriveNonce(wallet, reservation.intentId);
  const typedData = transferWithAuthorizationTypedData({
    chainId,
    asset: getAddress(requirement.asset),
    name,
    version,
    from: wallet,
    to: getAddress(requirement.payTo),
    valueAtomic: requirement.amountAtomic,
    validAfterSec: 0,
    validBeforeSec,
    nonce,
  });
  return { ok: true, plan: { ...parsed, typedData, nonce, validBeforeSec } };
}

/** The header the seller expects for this offer's version, carrying the signed payload. */
export function paymentHeaderFor(plan: AuthorizationPlan, signature: Hex): PaymentHeader {
  const payload = exactEvmPayload(signature, plan.typedData.message);
  return plan.offer.x402Version === 2
    ? buildPaymentSignatureHeader({ offer: plan.offer, requirement: plan.requirement, payload, ...(plan.offer.extensions === undefined ? {} : { extensions: plan.offer.extensions }) })
    : buildXPaymentHeader({ offer: plan.offer, requirement: plan.requirement, payload });
}
