import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import { createPublicClient, getAddress, http, type Address } from 'viem';
import type { PaymentRail, RailOptionRecord } from '../../../libs/domain/budget/commands.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { parsePaymentChallenges, type ChallengeParse } from '../../../libs/mpp/challenge.js';
import { MppChallengeError } from '../../../libs/mpp/errors.js';
import { chooseOption, type ChooseInputs, type KnownAsset as RailAsset, type OptionRecord, type RejectedOption, type WalletFacts } from '../../../libs/rails/choose.js';
import { collectOptions, type CollectedOptions, type PaymentOption } from '../../../libs/rails/options.js';
import { X402OfferError } from '../../../libs/x402/errors.js';
import { parsePaymentRequired, type PaymentOffer, type PaymentRequiredInput } from '../../../libs/x402/offer.js';
import { permit2AllowanceRead } from '../../../libs/x402/permit2.js';
import type { GovernorConfig, KnownAsset } from '../config.js';
import { Clock } from '../http/clock.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';

// One payment per 402: every x402 requirement and every MPP challenge of the seller's answer
// is an option; libs/rails chooses exactly one by recorded rule, and the rest are recorded
// with their reasons. Here the governor gathers what that rule needs (its assets, the
// networks it pays on, the wallet's Permit2 allowances) and turns the outcome into what the
// Reserve command carries, or into the 502 that says why nothing could be paid.

/** An MPP challenge that expires sooner than this is not worth signing (the worker's margin, plus the round trip). */
const MPP_VALIDITY_MARGIN_SEC = 15;
const ALLOWANCE_READ_TIMEOUT_MS = 3_000;
/** Options listed in a problem at most. */
const PROBLEM_OPTIONS_MAX = 16;

/** What a 402 carried that can offer a payment. */
export interface PaymentRequiredAnswer {
  /** x402 v2 `PAYMENT-REQUIRED`, or the v1 body (or an agent's `paymentRequired`). */
  x402?: PaymentRequiredInput;
  /** Every `WWW-Authenticate` value. */
  wwwAuthenticate?: readonly string[];
}

/**
 * Reads the options of one 402. An x402 offer that cannot be read is fatal only when no MPP
 * challenge came with it, and the other way round: one hostile half does not hide the other,
 * and neither is ever paid unread.
 */
export function collectRailOptions(answer: PaymentRequiredAnswer): CollectedOptions & { offer: PaymentOffer | undefined } {
  let offer: PaymentOffer | undefined;
  let offerError: string | undefined;
  if (answer.x402 !== undefined) {
    try {
      offer = parsePaymentRequired(answer.x402);
    } catch (error) {
      if (!(error instanceof X402OfferError)) throw error;
      offerError = error.message;
    }
  }
  let mpp: ChallengeParse[] | undefined;
  let mppError: string | undefined;
  const challenges = (answer.wwwAuthenticate ?? []).filter((value) => value.trim() !== '');
  if (challenges.length > 0) {
    try {
      mpp = parsePaymentChallenges(challenges);
    } catch (error) {
      if (!(error instanceof MppChallengeError)) throw error;
      mppError = error.detail;
    }
  }
  if (offer === undefined && (mpp === undefined || mpp.length === 0)) {
    throw new ApiProblem('bad_payment_offer', offerError ?? (mppError === undefined ? 'the answer offers no x402 requirement and no MPP Payment challenge' : `WWW-Authenticate: ${mppError}`));
  }
  return { ...collectOptions({ ...(offer === undefined ? {} : { x402: offer }), ...(mpp === undefined ? {} : { mpp }) }), offer };
}

export interface ChosenRail {
  option: PaymentOption;
  asset: KnownAsset;
  usdMicros: bigint;
  rail: PaymentRail;
  /** Permit2 rails: the wallet's allowance as read now; null when it could not be read. */
  permit2AllowanceAtomic: bigint | null;
}

@Injectable()
export class RailChoices {
  private readonly clients = new Map<string, ReturnType<typeof createPublicClient>>();

  constructor(
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(pg.Pool) private readonly pool: pg.Pool,
  ) {}

  /**
   * The one option to pay. Policy, the budget and the wallet's funds are left to the
   * decider, which records a refusal as LimitExceeded; what is chosen here is what this
   * deployment can sign at all. A Permit2 option that only lacks an allowance is still
   * chosen when nothing else is payable, so that the decider refuses it on the record
   * (permit2_allowance_missing) instead of a 502.
   */
  async choose(collected: CollectedOptions, requestBody: string | undefined): Promise<ChosenRail> {
    const allowances = await this.permit2Allowances(collected.options);
    const inputs: ChooseInputs = {
      nowMs: this.clock.now().getTime(),
      ...(requestBody === undefined ? {} : { requestBody }),
      validityMarginSec: MPP_VALIDITY_MARGIN_SEC,
      knownAssets: this.config.assets.map(railAsset),
      wallets: [...this.config.payableNetworks].map((network) => walletFacts(network, allowances, this.config.assets)),
      policy: () => null,
      ...(this.config.railPreference === undefined ? {} : { railPreference: this.config.railPreference }),
    };
    let choice = chooseOption(collected, inputs);
    let allowanceRead: 'as_read' | 'refused_by_ledger' = 'as_read';
    if (!choice.ok && choice.reason === 'permit2_allowance_missing') {
      choice = chooseOption(collected, { ...inputs, wallets: [...this.config.payableNetworks].map((network) => walletFacts(network, new Map(), this.config.assets, true)) });
      allowanceRead = 'refused_by_ledger';
    }
    if (!choice.ok) {
      throw new ApiProblem('bad_payment_offer', `the answer offers nothing this deployment can pay: ${choice.detail}`.slice(0, 400), {
        reason: choice.reason,
        options: choice.rejected.slice(0, PROBLEM_OPTIONS_MAX).map(publicRecord),
      });
    }
    const { option } = choice;
    const asset = this.config.assets.find((known) => known.network === option.network && known.address.toLowerCase() === option.asset.toLowerCase());
    if (asset === undefined) throw new Error('RailChoices: the chooser priced an asset the config does not know');
    const transfer = option.transfer;
    if (transfer === undefined) throw new Error('RailChoices: the chooser chose an option without a transfer method');
    const allowance = transfer === 'permit2' ? (allowances.get(allowanceKey(option.network, option.asset)) ?? null) : null;
    return {
      option,
      asset,
      usdMicros: choice.usdMicros,
      rail: {
        rail: option.rail,
        scheme: option.scheme,
        transfer,
        metered: option.metered,
        chosen: railRecord(choice.record),
        rejected: choice.rejected.map(railRecord),
      },
      permit2AllowanceAtomic: allowanceRead === 'refused_by_ledger' ? (allowance ?? 0n) : allowance,
    };
  }

  /**
   * The wallet's Permit2 allowance for each asset a Permit2 option names, read from chain
   * (a read-only RPC call; the governor holds no key). The wallet's address is the worker's,
   * as its wallet monitor last recorded it. Unknown allowances are absent.
   */
  private async permit2Allowances(options: readonly PaymentOption[]): Promise<Map<string, bigint>> {
    const allowances = new Map<string, bigint>();
    const wanted = options.filter((option) => option.transfer === 'permit2');
    if (wanted.length === 0) return allowances;
    await Promise.all(
      [...new Map(wanted.map((option) => [allowanceKey(option.network, option.asset), option])).values()].map(async (option) => {
        const rpcUrl = this.config.rpcUrls?.get(option.network);
        if (rpcUrl === undefined) return;
        const owner = await this.walletAddress(option.network);
        if (owner === undefined) return;
        let client = this.clients.get(option.network);
        if (client === undefined) {
          client = createPublicClient({ transport: http(rpcUrl, { timeout: ALLOWANCE_READ_TIMEOUT_MS, retryCount: 0 }) });
          this.clients.set(option.network, client);
        }
        try {
          allowances.set(allowanceKey(option.network, option.asset), await client.readContract(permit2AllowanceRead(getAddress(option.asset), owner)));
        } catch {
          // Unread: the chooser counts it as none, and nothing is signed for it.
        }
      }),
    );
    return allowances;
  }

  private async walletAddress(network: string): Promise<Address | undefined> {
    const row = await this.pool.query<{ address: string }>('SELECT address FROM wallet_balances WHERE network = $1 ORDER BY observed_at DESC LIMIT 1', [network]);
    const address = row.rows[0]?.address;
    return address === undefined ? undefined : getAddress(address);
  }
}

const allowanceKey = (network: string, asset: string): string => `${network} ${asset.toLowerCase()}`;

function railAsset(asset: KnownAsset): RailAsset {
  return { network: asset.network, asset: asset.address, decimals: asset.decimals, ...(asset.eip712 === undefined ? {} : { eip712: asset.eip712 }) };
}

/**
 * The wallet as the chooser sees it: it signs on every payable network; balances are left to
 * the decider (walletAvailableAtomic); Permit2 allowances as read, or, with `assumeAllowed`,
 * as if granted, to find the option the decider must refuse.
 */
function walletFacts(network: string, allowances: ReadonlyMap<string, bigint>, assets: readonly KnownAsset[], assumeAllowed = false): WalletFacts {
  const permit2Allowances = assumeAllowed
    ? assets.filter((asset) => asset.network === network).map((asset) => ({ asset: asset.address, amountAtomic: 2n ** 256n - 1n }))
    : [...allowances].filter(([key]) => key.startsWith(`${network} `)).map(([key, amountAtomic]) => ({ asset: key.slice(network.length + 1), amountAtomic }));
  return { network, address: '', canSign: true, balances: [], permit2Allowances };
}

function railRecord(record: OptionRecord | RejectedOption): RailOptionRecord {
  return {
    ...record,
    ...(record.payees === undefined ? {} : { payees: record.payees.map((payee) => ({ address: payee.address, amountAtomic: payee.amountAtomic })) }),
    ...('detail' in record ? { detail: record.detail.slice(0, 400) } : {}),
  } as RailOptionRecord;
}

/** An option as an answer shows it: amounts as decimal strings of atomic units. */
export function publicRecord(record: RailOptionRecord | OptionRecord | RejectedOption): Record<string, unknown> {
  return JSON.parse(JSON.stringify(record, (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))) as Record<string, unknown>;
}
