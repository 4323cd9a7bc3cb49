import type { PolicyRefusalCode } from '../domain/budget/policy.js';
import { USD_MICROS_MAX, stablecoinAtomicToUsdMicros } from '../domain/money.js';
import { challengeUsableAt, digestMatchesBody } from '../mpp/challenge.js';
import { evmChainId } from '../x402/networks.js';
import { optionKind, type CollectedOptions, type PaymentOption, type UnreadableReason } from './options.js';

// One payment per 402. Paying two options of one answer is paying twice, so exactly one is
// chosen, by rule: every option passes the stages below in order and the first stage that
// refuses it records its reason; of the options that pass them all, the cheapest in USD
// wins, then the configured rail preference, then the seller's order. Pure: what policy
// says and what the wallet holds arrive as inputs.

/** The stages, in the order an option passes them. */
export type RailStage =
  /** It could not be read (a malformed MPP challenge, an unknown intent). */
  | 'read'
  /** Paybound has no implementation of its scheme, transfer method or network. */
  | 'supported'
  /** Its asset is not a USD stablecoin Paybound knows on that network, so it has no price. */
  | 'priced'
  /** A policy refuses it (payee, asset, network, domain, price, …), for any of its payees. */
  | 'allowed'
  /** What it needs to be signed is missing or wrong: domain, facilitator, expiry, body digest, splits. */
  | 'signable'
  /** The wallet cannot pay it: no wallet on the network, too little balance, no Permit2 allowance. */
  | 'funded'
  /** Payable, but another option won on price, preference or order. */
  | 'ranked';

const STAGE_ORDER: readonly RailStage[] = ['read', 'supported', 'priced', 'allowed', 'signable', 'funded', 'ranked'];

export type RailRefusalCode =
  | UnreadableReason
  | 'scheme_not_supported'
  | 'transfer_method_not_supported'
  | 'network_not_supported'
  | 'x402_version_not_supported'
  | 'asset_not_priced'
  | 'asset_decimals_mismatch'
  | 'price_above_max'
  | 'eip712_domain_missing'
  | 'upto_facilitator_missing'
  | 'mpp_challenge_expired'
  | 'mpp_digest_mismatch'
  | 'mpp_credential_type_not_supported'
  | 'mpp_splits_not_supported'
  | 'no_wallet_for_network'
  | 'wallet_insufficient_funds'
  | 'permit2_allowance_missing'
  | 'more_expensive'
  | 'rail_preference'
  | 'offered_later';

/** Why an option was not paid: a rail reason, or the policy rule that refused it. */
export type OptionRefusalCode = RailRefusalCode | PolicyRefusalCode;

/** A USD stablecoin Paybound prices 1:1, with what signing for it needs. */
export interface KnownAsset {
  readonly network: string;
  readonly asset: string;
  readonly decimals: number;
  /** The token's EIP-712 name and version, for EIP-3009 on rails whose offer does not name them (MPP). */
  readonly eip712?: { readonly name: string; readonly version: string };
}

/** What the wallet of one network can do, as last read from chain; unknown balances are undefined. */
export interface WalletFacts {
  readonly network: string;
  readonly address: string;
  /** A key and an RPC endpoint are configured for the network. */
  readonly canSign: boolean;
  readonly balances: readonly { readonly asset: string; readonly amountAtomic: bigint }[];
  /** The wallet's allowance to the canonical Permit2, per asset. */
  readonly permit2Allowances: readonly { readonly asset: string; readonly amountAtomic: bigint }[];
}

/** What policy judges for each payee of an option. */
export interface OptionPolicyFacts {
  readonly optionId: string;
  readonly rail: PaymentOption['rail'];
  readonly scheme: string;
  readonly network: string;
  readonly asset: string;
  readonly payTo: string;
  /** The payee's share, in the asset's atomic units. */
  readonly payeeAmountAtomic: bigint;
  /** The whole option in USD: what the payment would reserve. */
  readonly amountUsdMicros: bigint;
}

export interface PolicyVerdict {
  readonly code: PolicyRefusalCode;
  readonly detail: string;
}

export interface ChooseInputs {
  readonly nowMs: number;
  /** The body the paid request will carry: an MPP `digest` must match it. */
  readonly requestBody?: string | Uint8Array;
  /** An MPP challenge that expires sooner than this is not worth signing. */
  readonly validityMarginSec: number;
  /** The caller's own ceiling (pay-and-fetch `maxPrice`), in USD micro-dollars. */
  readonly maxUsdMicros?: bigint;
  readonly knownAssets: readonly KnownAsset[];
  readonly wallets: readonly WalletFacts[];
  /** The governor's policy rules; the first refusal for any payee refuses the option. */
  readonly policy: (facts: OptionPolicyFacts) => PolicyVerdict | null;
  /** Option kinds (see optionKind), most preferred first; unlisted kinds come after. */
  readonly railPreference?: readonly string[];
}

/** Paybound's default order among equally cheap options: no standing allowance first. */
export const DEFAULT_RAIL_PREFERENCE: readonly string[] = ['x402/exact/eip3009', 'mpp/evm/charge', 'x402/exact/permit2', 'x402/upto/permit2'];

/** One line of the audit: what was offered, and why it was not paid. */
export interface OptionRecord {
  readonly id: string;
  readonly rail: PaymentOption['rail'];
  readonly scheme?: string;
  readonly method?: string;
  readonly transfer?: string;
  readonly network?: string;
  readonly asset?: string;
  readonly payTo?: string;
  /** Only when the option pays more than one payee. */
  readonly payees?: readonly { readonly address: string; readonly amountAtomic: bigint }[];
  readonly maxAmountAtomic?: bigint;
  readonly usdMicros?: bigint;
}

export interface RejectedOption extends OptionRecord {
  readonly stage: RailStage;
  readonly reason: OptionRefusalCode;
  readonly detail: string;
}

export type Choice =
  | {
      readonly ok: true;
      readonly option: PaymentOption;
      readonly usdMicros: bigint;
      readonly record: OptionRecord;
      /** Every other option, in the seller's order, with why it was not chosen. */
      readonly rejected: readonly RejectedOption[];
    }
  | {
      readonly ok: false;
      /** The refusal of the option that came closest to being paid (furthest stage, then seller's order). */
      readonly reason: OptionRefusalCode;
      readonly stage: RailStage;
      readonly detail: string;
      readonly rejected: readonly RejectedOption[];
    };

interface Judged {
  readonly option: PaymentOption;
  readonly record: OptionRecord;
  readonly usdMicros?: bigint;
  readonly refusal?: { readonly stage: RailStage; readonly reason: OptionRefusalCode; readonly detail: string };
}

const sameAddress = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();

export function chooseOption(collected: CollectedOptions, inputs: ChooseInputs): Choice {
  const judged = collected.options.map((option) => judge(option, inputs));
  const unreadable: RejectedOption[] = collected.unreadable.map((entry) => ({
    id: entry.id,
    rail: entry.rail,
    ...(entry.scheme === undefined ? {} : { scheme: entry.scheme }),
    ...(entry.method === undefined ? {} : { method: entry.method }),
    stage: 'read',
    reason: entry.reason,
    detail: entry.detail,
  }));

  const preference = inputs.railPreference ?? DEFAULT_RAIL_PREFERENCE;
  const rank = (option: PaymentOption): number => {
    const index = preference.indexOf(optionKind(option));
    return index === -1 ? preference.length : index;
  };
  const payable = judged.filter((entry) => entry.refusal === undefined);
  let best: Judged | undefined;
  for (const entry of payable) {
    if (best === undefined || compare(entry, best, rank) < 0) best = entry;
  }

  const rejected: RejectedOption[] = [...unreadable];
  for (const entry of judged) {
    if (entry === best) continue;
    const refusal = entry.refusal ?? rankingRefusal(entry, best, rank);
    rejected.push({ ...entry.record, stage: refusal.stage, reason: refusal.reason, detail: refusal.detail });
  }
  rejected.sort((a, b) => sellerOrder(a.id) - sellerOrder(b.id));

  if (best !== undefined && best.usdMicros !== undefined) {
    return { ok: true, option: best.option, usdMicros: best.usdMicros, record: best.record, rejected };
  }
  if (rejected.length === 0) {
    return { ok: false, reason: 'scheme_not_supported', stage: 'read', detail: 'the answer offered no way to pay', rejected };
  }
  let closest: RejectedOption | undefined;
  for (const entry of rejected) {
    if (closest === undefined || STAGE_ORDER.indexOf(entry.stage) > STAGE_ORDER.indexOf(closest.stage)) closest = entry;
  }
  const reported = closest ?? rejected[0];
  if (reported === undefined) throw new Error('chooseOption: rejected cannot be empty here');
  return { ok: false, reason: reported.reason, stage: reported.stage, detail: `${reported.id}: ${reported.detail}`, rejected };
}

// x402 options come before MPP options, each in the seller's order, so a tie between two
// equally cheap, equally preferred options goes to the one the seller listed first.
function sellerOrder(id: string): number {
  const [rail, index] = id.split(':');
  return (rail === 'x402' ? 0 : 1_000) + Number(index ?? 0);
}

function compare(a: Judged, b: Judged, rank: (option: PaymentOption) => number): number {
  const price = (a.usdMicros ?? 0n) - (b.usdMicros ?? 0n);
  if (price !== 0n) return price < 0n ? -1 : 1;
  const preference = rank(a.option) - rank(b.option);
  if (preference !== 0) return preference;
  return sellerOrder(a.option.id) - sellerOrder(b.option.id);
}

function rankingRefusal(
  entry: Judged,
  best: Judged | undefined,
  rank: (option: PaymentOption) => number,
): { stage: RailStage; reason: RailRefusalCode; detail: string } {
  if (best === undefined) throw new Error('rankingRefusal: a payable option exists, so one was chosen');
  if ((entry.usdMicros ?? 0n) > (best.usdMicros ?? 0n)) {
    return { stage: 'ranked', reason: 'more_expensive', detail: `${best.option.id} costs less` };
  }
  if (rank(entry.option) > rank(best.option)) {
    return { stage: 'ranked', reason: 'rail_preference', detail: `${optionKind(best.option)} is preferred to ${optionKind(entry.option)}` };
  }
  return { stage: 'ranked', reason: 'offered_later', detail: `${best.option.id} is as cheap and offered first` };
}

function judge(option: PaymentOption, inputs: ChooseInputs): Judged {
  const record: OptionRecord = {
    id: option.id,
    rail: option.rail,
    scheme: option.scheme,
    ...(option.method === undefined ? {} : { method: option.method }),
    ...(option.transfer === undefined ? {} : { transfer: option.transfer }),
    network: option.network,
    asset: option.asset,
    payTo: option.payTo,
    ...(option.payees.length > 1 ? { payees: option.payees } : {}),
    maxAmountAtomic: option.maxAmountAtomic,
  };
  const refuse = (stage: RailStage, reason: OptionRefusalCode, detail: string, usdMicros?: bigint): Judged => ({
    option,
    record: usdMicros === undefined ? record : { ...record, usdMicros },
    ...(usdMicros === undefined ? {} : { usdMicros }),
    refusal: { stage, reason, detail },
  });

  // Supported: something Paybound knows how to sign at all.
  if (option.rail === 'x402' && option.scheme !== 'exact' && option.scheme !== 'upto') {
    return refuse('supported', 'scheme_not_supported', `x402 scheme "${option.scheme}" is not supported`);
  }
  if (option.rail === 'x402' && option.source.kind === 'x402' && option.source.offer.x402Version === 1 && (option.scheme !== 'exact' || option.transfer !== 'eip3009')) {
    return refuse('supported', 'x402_version_not_supported', 'x402 v1 is paid with exact over EIP-3009 only');
  }
  if (option.transfer === undefined) {
    return option.rail === 'mpp'
      ? refuse('supported', 'mpp_credential_type_not_supported', 'the challenge accepts no credential type Paybound signs (authorization)')
      : refuse('supported', 'transfer_method_not_supported', 'the requirement names an unknown assetTransferMethod');
  }
  if (evmChainId(option.network) === undefined) {
    return refuse('supported', 'network_not_supported', `network ${option.network} is not an EVM chain`);
  }

  // Priced: the asset is a USD stablecoin we know on that network.
  const known = inputs.knownAssets.find((asset) => asset.network === option.network && sameAddress(asset.asset, option.asset));
  if (known === undefined) return refuse('priced', 'asset_not_priced', `asset ${option.asset} is not a known USD stablecoin on ${option.network}`);
  if (option.source.kind === 'mpp' && option.source.request.decimals !== undefined && option.source.request.decimals !== known.decimals) {
    return refuse('priced', 'asset_decimals_mismatch', `the challenge states ${option.source.request.decimals} decimals, the asset has ${known.decimals}`);
  }
  const usdMicros = stablecoinAtomicToUsdMicros(option.maxAmountAtomic, known.decimals);
  if (usdMicros > USD_MICROS_MAX) return refuse('priced', 'price_above_max', 'the amount is beyond what Paybound accepts');

  // Allowed: the caller's ceiling, then every payee under policy.
  if (inputs.maxUsdMicros !== undefined && usdMicros > inputs.maxUsdMicros) {
    return refuse('allowed', 'price_above_max', 'the price is above the maximum the caller set', usdMicros);
  }
  for (const payee of option.payees) {
    const verdict = inputs.policy({
      optionId: option.id,
      rail: option.rail,
      scheme: option.scheme,
      network: option.network,
      asset: option.asset,
      payTo: payee.address,
      payeeAmountAtomic: payee.amountAtomic,
      amountUsdMicros: usdMicros,
    });
    if (verdict !== null) return refuse('allowed', verdict.code, verdict.detail, usdMicros);
  }

  // Signable: everything the signature needs is there and still valid.
  if (option.source.kind === 'mpp') {
    const { challenge, request } = option.source;
    if (request.splits.length > 0) {
      return refuse('signable', 'mpp_splits_not_supported', 'one EIP-3009 authorization cannot pay splits (mppx 0.11 refuses them too)', usdMicros);
    }
    if (!challengeUsableAt(challenge, inputs.nowMs, inputs.validityMarginSec)) {
      return refuse('signable', 'mpp_challenge_expired', 'the challenge expires before a payment could settle', usdMicros);
    }
    if (!digestMatchesBody(challenge, inputs.requestBody)) {
      return refuse('signable', 'mpp_digest_mismatch', 'the challenge is bound to another request body', usdMicros);
    }
  }
  if (option.transfer === 'eip3009' && option.eip712Domain === undefined && known.eip712 === undefined) {
    return refuse('signable', 'eip712_domain_missing', 'the token EIP-712 name and version are unknown', usdMicros);
  }
  if (option.scheme === 'upto' && option.facilitator === undefined) {
    return refuse('signable', 'upto_facilitator_missing', 'upto needs extra.facilitatorAddress to bind the settling facilitator', usdMicros);
  }

  // Funded: the wallet can pay it now.
  const wallet = inputs.wallets.find((facts) => facts.network === option.network);
  if (wallet === undefined || !wallet.canSign) {
    return refuse('funded', 'no_wallet_for_network', `no wallet signs on ${option.network}`, usdMicros);
  }
  const balance = wallet.balances.find((entry) => sameAddress(entry.asset, option.asset));
  if (balance !== undefined && balance.amountAtomic < option.maxAmountAtomic) {
    return refuse('funded', 'wallet_insufficient_funds', 'the wallet holds less than the amount', usdMicros);
  }
  if (option.transfer === 'permit2') {
    const allowance = wallet.permit2Allowances.find((entry) => sameAddress(entry.asset, option.asset));
    // An unknown allowance counts as none: granting one is an audited act, never implied.
    if (allowance === undefined || allowance.amountAtomic < option.maxAmountAtomic) {
      return refuse('funded', 'permit2_allowance_missing', 'the wallet has not allowed Permit2 enough of this asset', usdMicros);
    }
  }
  return { option, record: { ...record, usdMicros }, usdMicros };
}
