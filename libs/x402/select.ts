import type { PaymentOffer, PaymentRequirement } from './offer.js';
import { isEvmNetwork } from './networks.js';

export interface SelectionConstraints {
  /** Schemes this signer can produce payloads for; today only `exact`. */
  readonly supportedSchemes: readonly string[];
  /** CAIP-2 networks the wallet can pay on. */
  readonly supportedNetworks: readonly string[];
  /** Inclusive price cap in atomic units of the asset. */
  readonly maxAmountAtomic?: bigint;
  /** Assets (addresses) allowed; compared case-insensitively. Absent means any. */
  readonly allowedAssets?: readonly string[];
  /** Payees (addresses) allowed; compared case-insensitively. Absent means any. */
  readonly allowedPayees?: readonly string[];
}

/**
 * Why no requirement was chosen, in precedence order: the code reported is the one that
 * removed the last candidates, so a seller offering only an unknown scheme gets
 * `scheme_not_supported` even if its price is also too high.
 */
export type SelectionRefusalCode =
  | 'scheme_not_supported'
  | 'network_not_allowed'
  | 'eip712_domain_missing'
  | 'asset_not_allowed'
  | 'payee_not_allowed'
  | 'price_above_max';

export type Selection =
  | { readonly ok: true; readonly requirement: PaymentRequirement }
  | { readonly ok: false; readonly code: SelectionRefusalCode; readonly detail: string };

interface Filter {
  readonly code: SelectionRefusalCode;
  readonly detail: string;
  readonly keep: (requirement: PaymentRequirement) => boolean;
}

/**
 * Picks the cheapest requirement that passes every constraint; ties keep the seller's
 * order. Amounts are compared in atomic units, which is meaningful because the allowed
 * assets are USD stablecoins with the same decimals on the networks we support.
 */
export function selectRequirement(offer: PaymentOffer, constraints: SelectionConstraints): Selection {
  const lower = (values: readonly string[] | undefined) =>
    values === undefined ? undefined : new Set(values.map((value) => value.toLowerCase()));
  const assets = lower(constraints.allowedAssets);
  const payees = lower(constraints.allowedPayees);
  const filters: readonly Filter[] = [
    {
      code: 'scheme_not_supported',
      detail: 'no requirement uses a supported scheme',
      keep: (r) => constraints.supportedSchemes.includes(r.scheme),
    },
    {
      code: 'network_not_allowed',
      detail: 'no requirement is on an allowed network',
      keep: (r) => constraints.supportedNetworks.includes(r.network),
    },
    {
      // `exact` on EVM signs an EIP-712 domain built from extra.name and extra.version;
      // without them there is nothing correct to sign.
      code: 'eip712_domain_missing',
      detail: 'no requirement names the token EIP-712 domain (extra.name, extra.version)',
      keep: (r) =>
        !(r.scheme === 'exact' && isEvmNetwork(r.network)) ||
        (typeof r.extra?.name === 'string' && typeof r.extra.version === 'string'),
    },
    {
      code: 'asset_not_allowed',
      detail: 'no requirement uses an allowed asset',
      keep: (r) => assets === undefined || assets.has(r.asset.toLowerCase()),
    },
    {
      code: 'payee_not_allowed',
      detail: 'no requirement pays an allowed payee',
      keep: (r) => payees === undefined || payees.has(r.payTo.toLowerCase()),
    },
    {
      code: 'price_above_max',
      detail: 'every acceptable requirement costs more than the maximum',
      keep: (r) => constraints.maxAmountAtomic === undefined || r.amountAtomic <= constraints.maxAmountAtomic,
    },
  ];

  let candidates: readonly PaymentRequirement[] = offer.requirements;
  for (const filter of filters) {
    candidates = candidates.filter(filter.keep);
    if (candidates.length === 0) return { ok: false, code: filter.code, detail: filter.detail };
  }
  let cheapest: PaymentRequirement | undefined;
  for (const candidate of candidates) {
    if (cheapest === undefined || candidate.amountAtomic < cheapest.amountAtomic) cheapest = candidate;
  }
  if (cheapest === undefined) throw new Error('selectRequirement: candidates cannot be empty here');
  return { ok: true, requirement: cheapest };
}
