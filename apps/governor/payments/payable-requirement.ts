import type { PaymentOffer, PaymentRequirement } from '../../../libs/x402/offer.js';
import { isEvmNetwork } from '../../../libs/x402/networks.js';
import type { KnownAsset } from '../config.js';

// Which requirement of an offer this deployment pays, before anything is reserved. A
// requirement is payable when Paybound signs its scheme, the settlement worker has an RPC
// endpoint for its network, its asset is one Paybound prices on that network, and (for
// `exact` on EVM) it names the token's EIP-712 domain. Of those, the cheapest in USD wins,
// then the seller's order. What is not payable is no refusal by policy: an offer with
// nothing payable is one this deployment cannot pay, answered 502 bad_payment_offer. Pure.

/** The schemes the settlement worker signs today. */
const SIGNED_SCHEMES: readonly string[] = ['exact'];

export interface PayableRequirement {
  requirement: PaymentRequirement;
  asset: KnownAsset;
}

export type PayableChoice = { ok: true; chosen: PayableRequirement } | { ok: false; detail: string };

interface Stage {
  keep: (requirement: PaymentRequirement) => boolean;
  /** Why nothing passed this stage, for the agent, from what the offer named. */
  why: (offered: readonly PaymentRequirement[]) => string;
}

export function payableRequirement(offer: PaymentOffer, assets: readonly KnownAsset[], payableNetworks: ReadonlySet<string>): PayableChoice {
  const assetOf = (r: PaymentRequirement): KnownAsset | undefined => assets.find((a) => a.network === r.network && a.address.toLowerCase() === r.asset.toLowerCase());
  const listed = (values: readonly string[]): string => [...new Set(values)].slice(0, 8).join(', ');
  const stages: readonly Stage[] = [
    { keep: (r) => SIGNED_SCHEMES.includes(r.scheme), why: (o) => `no requirement uses a scheme Paybound signs (offered: ${listed(o.map((r) => r.scheme))}; signed: ${SIGNED_SCHEMES.join(', ')})` },
    {
      keep: (r) => payableNetworks.has(r.network),
      why: (o) => `no requirement is on a network this deployment pays on (offered: ${listed(o.map((r) => r.network))}; payable: ${listed([...payableNetworks]) || 'none'})`,
    },
    { keep: (r) => assetOf(r) !== undefined, why: (o) => `no requirement is in an asset Paybound knows on its network (offered: ${listed(o.map((r) => `${r.asset} on ${r.network}`))})` },
    {
      // `exact` on EVM signs an EIP-712 domain built from extra.name and extra.version.
      keep: (r) => !(r.scheme === 'exact' && isEvmNetwork(r.network)) || (typeof r.extra?.name === 'string' && typeof r.extra.version === 'string'),
      why: () => 'no requirement names the token EIP-712 domain (extra.name, extra.version)',
    },
  ];
  let candidates: readonly PaymentRequirement[] = offer.requirements;
  for (const stage of stages) {
    const kept = candidates.filter(stage.keep);
    if (kept.length === 0) return { ok: false, detail: `the offer has nothing this deployment can pay: ${stage.why(candidates)}` };
    candidates = kept;
  }
  let best: PayableRequirement | undefined;
  for (const requirement of candidates) {
    const asset = assetOf(requirement)!;
    // Stablecoins count 1:1 as USD, so the cheapest is compared in USD across decimals.
    if (best === undefined || usdScaled(requirement, asset) < usdScaled(best.requirement, best.asset)) best = { requirement, asset };
  }
  return { ok: true, chosen: best! };
}

/** The amount in units of 10^-36 USD: exact for any decimals up to 36. */
function usdScaled(requirement: PaymentRequirement, asset: KnownAsset): bigint {
  return requirement.amountAtomic * 10n ** BigInt(36 - asset.decimals);
}
