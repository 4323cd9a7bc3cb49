import { isAddress, getAddress } from 'viem';

import type { ChallengeParse, PaymentChallenge } from '../mpp/challenge.js';
import type { MppChallengeRefusal } from '../mpp/errors.js';
import { AUTHORIZATION_CREDENTIAL, parseEvmChargeRequest, type EvmChargeRequest } from '../mpp/evm-charge.js';
import type { PaymentOffer, PaymentRequirement } from '../x402/offer.js';

// Every way one 402 answer offers to be paid, in one shape: each x402 requirement and each
// MPP challenge becomes an option. An option that cannot even be read is kept too, with its
// reason, because the audit must list everything the seller offered.

export type Rail = 'x402' | 'mpp';

/** How the asset moves: an EIP-3009 authorization, or a Permit2 witness transfer. */
export type TransferMethod = 'eip3009' | 'permit2';

export interface OptionPayee {
  readonly address: string;
  readonly amountAtomic: bigint;
}

export type OptionSource =
  | { readonly kind: 'x402'; readonly offer: PaymentOffer; readonly requirement: PaymentRequirement }
  | { readonly kind: 'mpp'; readonly challenge: PaymentChallenge; readonly request: EvmChargeRequest };

export interface PaymentOption {
  /** `x402:<index in accepts>` or `mpp:<index among Payment challenges>`: stable within one answer. */
  readonly id: string;
  readonly rail: Rail;
  /** x402: the scheme (`exact`, `upto`, …); MPP: the intent (`charge`). */
  readonly scheme: string;
  /** MPP only: the method (`evm`). */
  readonly method?: string;
  /** Undefined when the offer names a transfer method Paybound does not know. */
  readonly transfer: TransferMethod | undefined;
  readonly network: string;
  readonly asset: string;
  /** The primary payee. */
  readonly payTo: string;
  /** Every payee with its share: one for x402, the primary and each split for MPP. */
  readonly payees: readonly OptionPayee[];
  /** What a reservation must hold: the price, or for `upto` the most the seller may settle. */
  readonly maxAmountAtomic: bigint;
  /** `upto`: the seller settles any amount up to the maximum. */
  readonly metered: boolean;
  /** The token's EIP-712 domain, when the offer names it (x402 `extra.name`/`extra.version`). */
  readonly eip712Domain?: { readonly name: string; readonly version: string };
  /** `upto`: the facilitator the witness binds (`extra.facilitatorAddress`). */
  readonly facilitator?: string;
  readonly expiresAtMs?: number;
  readonly source: OptionSource;
}

export type UnreadableReason = MppChallengeRefusal;

/** An offered option that could not be read far enough to be judged. */
export interface UnreadableOption {
  readonly id: string;
  readonly rail: Rail;
  readonly scheme?: string;
  readonly method?: string;
  readonly reason: UnreadableReason;
  readonly detail: string;
}

export interface CollectedOptions {
  readonly options: readonly PaymentOption[];
  readonly unreadable: readonly UnreadableOption[];
}

/** Gathers the options of one 402: its x402 offer (if any) and its MPP challenges (if any). */
export function collectOptions(input: { readonly x402?: PaymentOffer; readonly mpp?: readonly ChallengeParse[] }): CollectedOptions {
  const options: PaymentOption[] = [];
  const unreadable: UnreadableOption[] = [];
  for (const requirement of input.x402?.requirements ?? []) {
    if (input.x402 !== undefined) options.push(x402Option(input.x402, requirement));
  }
  for (const parsed of input.mpp ?? []) {
    const id = `mpp:${parsed.ok ? parsed.challenge.index : parsed.index}`;
    if (!parsed.ok) {
      unreadable.push({
        id,
        rail: 'mpp',
        ...(parsed.intent === undefined ? {} : { scheme: parsed.intent }),
        ...(parsed.method === undefined ? {} : { method: parsed.method }),
        reason: parsed.code,
        detail: parsed.detail,
      });
      continue;
    }
    const { challenge } = parsed;
    const request = parseEvmChargeRequest(challenge);
    if (!request.ok) {
      unreadable.push({ id, rail: 'mpp', scheme: challenge.intent, method: challenge.method, reason: request.code, detail: request.detail });
      continue;
    }
    options.push(mppOption(id, challenge, request.request));
  }
  return { options, unreadable };
}

function x402Option(offer: PaymentOffer, requirement: PaymentRequirement): PaymentOption {
  const extra = requirement.extra ?? {};
  const method = extra['assetTransferMethod'];
  // exact defaults to EIP-3009 (@x402/evm ExactEvmScheme); upto is Permit2 only.
  const transfer: TransferMethod | undefined =
    requirement.scheme === 'upto'
      ? method === undefined || method === 'permit2'
        ? 'permit2'
        : undefined
      : method === undefined || method === 'eip3009'
        ? 'eip3009'
        : method === 'permit2'
          ? 'permit2'
          : undefined;
  const facilitator = extra['facilitatorAddress'];
  return {
    id: `x402:${requirement.index}`,
    rail: 'x402',
    scheme: requirement.scheme,
    transfer,
    network: requirement.network,
    asset: requirement.asset,
    payTo: requirement.payTo,
    payees: [{ address: requirement.payTo, amountAtomic: requirement.amountAtomic }],
    maxAmountAtomic: requirement.amountAtomic,
    metered: requirement.scheme === 'upto',
    ...(typeof extra.name === 'string' && typeof extra.version === 'string' ? { eip712Domain: { name: extra.name, version: extra.version } } : {}),
    ...(typeof facilitator === 'string' && isAddress(facilitator, { strict: false }) ? { facilitator: getAddress(facilitator) } : {}),
    source: { kind: 'x402', offer, requirement },
  };
}

function mppOption(id: string, challenge: PaymentChallenge, request: EvmChargeRequest): PaymentOption {
  return {
    id,
    rail: 'mpp',
    scheme: challenge.intent,
    method: challenge.method,
    // mppx 0.11's `authorization` credential is an EIP-3009 transferWithAuthorization.
    transfer: request.credentialTypes.includes(AUTHORIZATION_CREDENTIAL) ? 'eip3009' : undefined,
    network: request.network,
    asset: request.currency,
    payTo: request.recipient,
    payees: request.payees,
    maxAmountAtomic: request.amountAtomic,
    metered: false,
    ...(challenge.expiresAtMs === undefined ? {} : { expiresAtMs: challenge.expiresAtMs }),
    source: { kind: 'mpp', challenge, request },
  };
}

/** `x402/exact/eip3009`, `x402/upto/permit2`, `mpp/evm/charge`: what a rail preference lists. */
export function optionKind(option: Pick<PaymentOption, 'rail' | 'scheme' | 'method' | 'transfer'>): string {
  return option.rail === 'mpp' ? `mpp/${option.method ?? '?'}/${option.scheme}` : `x402/${option.scheme}/${option.transfer ?? '?'}`;
}
