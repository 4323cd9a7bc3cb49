import { createHash } from 'node:crypto';

import fc from 'fast-check';
import { Challenge } from 'mppx';
import { describe, expect, it } from 'vitest';

import { encodeBase64Url } from '../mpp/base64url.js';
import { parsePaymentChallenges } from '../mpp/challenge.js';
import { canonicalJson } from '../mpp/jcs.js';
import { encodeBase64Json } from '../x402/encoding.js';
import { parsePaymentRequired } from '../x402/offer.js';
import { DEFAULT_RAIL_PREFERENCE, chooseOption, type ChooseInputs, type KnownAsset, type WalletFacts } from './choose.js';
import { collectOptions, optionKind } from './options.js';

const NETWORK = 'eip155:31337';
const TEST_USD = '0x5FbDB2315678afecb367f032d93F642f64180aa3'; // EIP-3009, domain known
const PLAIN_USD = '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512'; // no EIP-3009
const WEI_USD = '0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0'; // 18 decimals
const UNKNOWN = '0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9';
const SELLER = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const PARTNER = '0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65';
const DENIED = '0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc';
const FACILITATOR = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const NOW_MS = Date.parse('2030-01-01T00:00:00Z');

const KNOWN_ASSETS: KnownAsset[] = [
  { network: NETWORK, asset: TEST_USD, decimals: 6, eip712: { name: 'Test USD', version: '1' } },
  { network: NETWORK, asset: PLAIN_USD, decimals: 6 },
  { network: NETWORK, asset: WEI_USD, decimals: 18 },
];

function wallet(overrides: Partial<WalletFacts> = {}): WalletFacts {
  return {
    network: NETWORK,
    address: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    canSign: true,
    balances: [],
    permit2Allowances: [{ asset: PLAIN_USD, amountAtomic: 10n ** 12n }],
    ...overrides,
  };
}

function inputs(overrides: Partial<ChooseInputs> = {}): ChooseInputs {
  return {
    nowMs: NOW_MS,
    validityMarginSec: 30,
    knownAssets: KNOWN_ASSETS,
    wallets: [wallet()],
    policy: (facts) => (facts.payTo.toLowerCase() === DENIED.toLowerCase() ? { code: 'payee_not_allowed', detail: `payee ${facts.payTo} is denied` } : null),
    ...overrides,
  };
}

interface Requirement {
  scheme: string;
  amount: string;
  asset: string;
  payTo: string;
  extra?: Record<string, unknown>;
}

function x402Offer(requirements: Requirement[]) {
  return parsePaymentRequired({
    header: encodeBase64Json({
      x402Version: 2,
      resource: { url: 'http://seller.test/data' },
      accepts: requirements.map((r) => ({ network: NETWORK, maxTimeoutSeconds: 300, ...r })),
    }),
  });
}

const exact3009 = (amount: string, payTo = SELLER): Requirement => ({ scheme: 'exact', amount, asset: TEST_USD, payTo, extra: { name: 'Test USD', version: '1' } });
const exactPermit2 = (amount: string): Requirement => ({ scheme: 'exact', amount, asset: PLAIN_USD, payTo: SELLER, extra: { assetTransferMethod: 'permit2' } });
const upto = (amount: string, extra: Record<string, unknown> = { assetTransferMethod: 'permit2', facilitatorAddress: FACILITATOR }): Requirement => ({
  scheme: 'upto',
  amount,
  asset: PLAIN_USD,
  payTo: SELLER,
  extra,
});

interface ChargeSpec {
  amount: string;
  asset?: string;
  recipient?: string;
  splits?: { amount: string; recipient: string }[];
  credentialTypes?: string[];
  expires?: string;
  digest?: string;
  intent?: string;
}

/** A Payment challenge as an mppx server writes it (canonical request, quoted params). */
function charge(spec: ChargeSpec): string {
  const request = {
    amount: spec.amount,
    currency: spec.asset ?? TEST_USD,
    methodDetails: {
      chainId: 31337,
      credentialTypes: spec.credentialTypes ?? ['authorization'],
      ...(spec.splits === undefined ? {} : { splits: spec.splits }),
    },
    recipient: spec.recipient ?? SELLER,
  };
  const params = {
    id: `id-${createHash('sha256').update(JSON.stringify(spec)).digest('hex').slice(0, 16)}`,
    realm: 'seller.test',
    method: 'evm',
    intent: spec.intent ?? 'charge',
    request: encodeBase64Url(canonicalJson(request)),
    expires: spec.expires ?? '2030-01-01T00:05:00Z',
    ...(spec.digest === undefined ? {} : { digest: spec.digest }),
  };
  return `Payment ${Object.entries(params)
    .map(([name, value]) => `${name}="${value}"`)
    .join(', ')}`;
}

function choose(x402: Requirement[], mpp: string[], overrides: Partial<ChooseInputs> = {}) {
  return chooseOption(
    collectOptions({
      ...(x402.length === 0 ? {} : { x402: x402Offer(x402) }),
      ...(mpp.length === 0 ? {} : { mpp: parsePaymentChallenges(mpp) }),
    }),
    inputs(overrides),
  );
}

describe('chooseOption: one payment per 402', () => {
  it('takes the cheapest in USD across rails and records why every other option lost', () => {
    const choice = choose([exact3009('20000'), upto('15000')], [charge({ amount: '10000' }), charge({ amount: '30000' })]);
    if (!choice.ok) throw new Error(choice.detail);
    expect(choice.option.id).toBe('mpp:0');
    expect(choice.usdMicros).toBe(10_000n);
    expect(choice.record).toMatchObject({ rail: 'mpp', scheme: 'charge', method: 'evm', transfer: 'eip3009', payTo: SELLER, maxAmountAtomic: 10_000n, usdMicros: 10_000n });
    expect(choice.rejected.map((r) => [r.id, r.reason])).toEqual([
      ['x402:0', 'more_expensive'],
      ['x402:1', 'more_expensive'],
      ['mpp:1', 'more_expensive'],
    ]);
  });

  it('compares in USD, not in atomic units of different decimals', () => {
    // 0.01 USD in an 18-decimal token is 10^16 atomic units: still cheaper than 0.02 in a 6-decimal one.
    const choice = choose([exact3009('20000'), { scheme: 'exact', amount: (10n ** 16n).toString(), asset: WEI_USD, payTo: SELLER, extra: { name: 'Wei USD', version: '1' } }], []);
    expect(choice.ok && choice.option.id).toBe('x402:1');
  });

  it('breaks a price tie by the rail preference, then by the seller order', () => {
    const tie = [exactPermit2('10000'), exact3009('10000')];
    const byDefault = choose(tie, [charge({ amount: '10000' })]);
    expect(byDefault.ok && optionKind(byDefault.option)).toBe(DEFAULT_RAIL_PREFERENCE[0]);
    expect(byDefault.rejected.map((r) => [r.id, r.reason])).toEqual([
      ['x402:0', 'rail_preference'],
      ['mpp:0', 'rail_preference'],
    ]);
    const mppFirst = choose(tie, [charge({ amount: '10000' })], { railPreference: ['mpp/evm/charge'] });
    expect(mppFirst.ok && mppFirst.option.id).toBe('mpp:0');
    const twins = choose([exact3009('10000'), exact3009('10000', PARTNER)], []);
    expect(twins.ok && twins.option.id).toBe('x402:0');
    expect(twins.rejected.map((r) => r.reason)).toEqual(['offered_later']);
  });

  it('reserves the maximum of upto and compares on it', () => {
    const choice = choose([upto('100000'), exact3009('50000')], []);
    expect(choice.ok && choice.option.id).toBe('x402:1');
    const alone = choose([upto('100000')], []);
    expect(alone.ok && alone.option.metered && alone.usdMicros).toBe(100_000n);
  });

  it('never pays an option that policy refuses for any payee, a split included', () => {
    const choice = choose([exact3009('50000')], [charge({ amount: '10000', splits: [{ amount: '1000', recipient: DENIED }] })]);
    expect(choice.ok && choice.option.id).toBe('x402:0');
    expect(choice.rejected).toEqual([
      expect.objectContaining({ id: 'mpp:0', stage: 'allowed', reason: 'payee_not_allowed', payees: [{ address: SELLER, amountAtomic: 9_000n }, { address: DENIED, amountAtomic: 1_000n }] }),
    ]);
    const alone = choose([], [charge({ amount: '10000', splits: [{ amount: '1000', recipient: DENIED }] })]);
    expect(alone).toMatchObject({ ok: false, reason: 'payee_not_allowed', stage: 'allowed' });
  });

  it("applies the caller's maximum price", () => {
    const choice = choose([exact3009('20000')], [charge({ amount: '30000' })], { maxUsdMicros: 10_000n });
    expect(choice).toMatchObject({ ok: false, reason: 'price_above_max', stage: 'allowed' });
  });

  it('refuses each hostile MPP challenge for its own reason, before anything is reserved', () => {
    const body = '{"q":"weather"}';
    const goodDigest = `sha-256=${createHash('sha256').update(body).digest('base64')}`;
    const headers = [
      'Payment id="a", realm="r", method="evm", intent="charge", request="not*base64url"',
      charge({ amount: '10000', expires: '2029-12-31T23:59:59Z' }),
      charge({ amount: '10000', digest: `sha-256=${createHash('sha256').update('another body').digest('base64')}` }),
      charge({ amount: '10000', intent: 'session' }),
      charge({ amount: '10000', credentialTypes: ['transaction'] }),
      charge({ amount: '10000', splits: [{ amount: '1000', recipient: PARTNER }] }),
      charge({ amount: '10000', asset: UNKNOWN }),
      charge({ amount: '10000', asset: PLAIN_USD }),
      charge({ amount: '20000', digest: goodDigest }),
    ];
    const choice = choose([], headers, { requestBody: body });
    if (!choice.ok) throw new Error(choice.detail);
    expect(choice.option.id).toBe('mpp:8');
    expect(choice.rejected.map((r) => [r.id, r.stage, r.reason])).toEqual([
      ['mpp:0', 'read', 'mpp_request_invalid'],
      ['mpp:1', 'signable', 'mpp_challenge_expired'],
      ['mpp:2', 'signable', 'mpp_digest_mismatch'],
      ['mpp:3', 'read', 'mpp_intent_not_supported'],
      ['mpp:4', 'supported', 'mpp_credential_type_not_supported'],
      ['mpp:5', 'signable', 'mpp_splits_not_supported'],
      ['mpp:6', 'priced', 'asset_not_priced'],
      ['mpp:7', 'signable', 'eip712_domain_missing'],
    ]);
  });

  it('refuses what the wallet cannot pay: no wallet, too little balance, no Permit2 allowance', () => {
    expect(choose([exact3009('10000')], [], { wallets: [] })).toMatchObject({ ok: false, reason: 'no_wallet_for_network', stage: 'funded' });
    expect(choose([exact3009('10000')], [], { wallets: [wallet({ canSign: false })] })).toMatchObject({ ok: false, reason: 'no_wallet_for_network' });
    expect(choose([exact3009('10000')], [], { wallets: [wallet({ balances: [{ asset: TEST_USD, amountAtomic: 9_999n }] })] })).toMatchObject({
      ok: false,
      reason: 'wallet_insufficient_funds',
    });
    const noAllowance = choose([exactPermit2('10000'), upto('10000')], [], { wallets: [wallet({ permit2Allowances: [] })] });
    expect(noAllowance).toMatchObject({ ok: false, reason: 'permit2_allowance_missing' });
    expect(noAllowance.rejected.map((r) => r.reason)).toEqual(['permit2_allowance_missing', 'permit2_allowance_missing']);
    const smallAllowance = choose([exactPermit2('10000')], [], { wallets: [wallet({ permit2Allowances: [{ asset: PLAIN_USD, amountAtomic: 9_999n }] })] });
    expect(smallAllowance).toMatchObject({ ok: false, reason: 'permit2_allowance_missing' });
  });

  it('refuses what the implementation cannot sign', () => {
    const cases: Array<[Requirement, string]> = [
      [{ scheme: 'batch-settlement', amount: '1', asset: TEST_USD, payTo: SELLER }, 'scheme_not_supported'],
      [{ scheme: 'exact', amount: '1', asset: TEST_USD, payTo: SELLER, extra: { assetTransferMethod: 'teleport' } }, 'transfer_method_not_supported'],
      [{ scheme: 'upto', amount: '1', asset: PLAIN_USD, payTo: SELLER, extra: { assetTransferMethod: 'eip3009' } }, 'transfer_method_not_supported'],
      [upto('1', { assetTransferMethod: 'permit2' }), 'upto_facilitator_missing'],
      [{ scheme: 'exact', amount: '1', asset: PLAIN_USD, payTo: SELLER }, 'eip712_domain_missing'],
    ];
    for (const [requirement, reason] of cases) expect(choose([requirement], [])).toMatchObject({ ok: false, reason });
    // The domain may come from the known asset when the offer does not name it.
    expect(choose([{ scheme: 'exact', amount: '1', asset: TEST_USD, payTo: SELLER }], []).ok).toBe(true);
  });

  it('refuses x402 v1 for anything but exact over EIP-3009', () => {
    const v1 = (scheme: string, extra: Record<string, unknown>) =>
      parsePaymentRequired({
        body: {
          x402Version: 1,
          accepts: [{ scheme, network: 'base-sepolia', maxAmountRequired: '1000', asset: TEST_USD, payTo: SELLER, resource: 'http://s.test', description: '', maxTimeoutSeconds: 60, extra }],
        },
      });
    const known = [{ network: 'eip155:84532', asset: TEST_USD, decimals: 6 }];
    const wallets = [wallet({ network: 'eip155:84532' })];
    const run = (offer: ReturnType<typeof v1>) => chooseOption(collectOptions({ x402: offer }), inputs({ knownAssets: known, wallets }));
    expect(run(v1('exact', { name: 'USDC', version: '2' })).ok).toBe(true);
    expect(run(v1('exact', { assetTransferMethod: 'permit2' }))).toMatchObject({ ok: false, reason: 'x402_version_not_supported' });
  });

  it('refuses a challenge whose stated decimals differ from the known asset', () => {
    const header = Challenge.serialize(
      Challenge.from({
        id: 'x',
        realm: 'r',
        method: 'evm',
        intent: 'charge',
        expires: '2030-01-01T00:05:00Z',
        request: { amount: '1', currency: TEST_USD, recipient: SELLER, methodDetails: { chainId: 31337, decimals: 18 } },
      }),
    );
    expect(choose([], [header])).toMatchObject({ ok: false, reason: 'asset_decimals_mismatch', stage: 'priced' });
  });

  it('reports the refusal that came closest to paying when nothing can be paid', () => {
    const choice = choose([{ scheme: 'batch-settlement', amount: '1', asset: TEST_USD, payTo: SELLER }, exact3009('1', DENIED)], ['Payment id="a", realm="r", method="evm", intent="charge", request="***"']);
    expect(choice).toMatchObject({ ok: false, reason: 'payee_not_allowed', stage: 'allowed' });
    expect(choice.ok || choice.detail).toMatch(/^x402:1: /);
    expect(chooseOption({ options: [], unreadable: [] }, inputs())).toMatchObject({ ok: false, rejected: [] });
  });
});

// A reference chooser written from the rules, without the code under test: which options
// are payable is computed from the generated facts directly.
describe('chooseOption against an independent oracle (property)', () => {
  const assets = [TEST_USD, PLAIN_USD, WEI_USD, UNKNOWN] as const;
  const decimalsOf = (asset: string) => (asset === WEI_USD ? 18 : 6);
  const payees = [SELLER, PARTNER, DENIED] as const;

  const x402Arb = fc.record({
    scheme: fc.constantFrom('exact', 'upto', 'batch'),
    transfer: fc.constantFrom(undefined, 'eip3009', 'permit2', 'teleport'),
    usd: fc.integer({ min: 1, max: 50 }),
    asset: fc.constantFrom(...assets),
    payTo: fc.constantFrom(...payees),
    domain: fc.boolean(),
    facilitator: fc.boolean(),
  });
  const mppArb = fc.record({
    usd: fc.integer({ min: 1, max: 50 }),
    asset: fc.constantFrom(...assets),
    recipient: fc.constantFrom(...payees),
    split: fc.option(fc.constantFrom(...payees), { nil: undefined }),
    authorization: fc.boolean(),
    expired: fc.boolean(),
  });
  const worldArb = fc.record({
    x402: fc.array(x402Arb, { maxLength: 5 }),
    mpp: fc.array(mppArb, { maxLength: 4 }),
    balanceUsd: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
    allowanceUsd: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
    maxUsd: fc.option(fc.integer({ min: 1, max: 60 }), { nil: undefined }),
    preferMppFirst: fc.boolean(),
  });
  // Amounts are whole cents so every asset prices them exactly.
  const atomic = (usd: number, asset: string) => BigInt(usd) * 10n ** BigInt(decimalsOf(asset) - 2);

  it('chooses exactly what the oracle chooses, and accounts for every option once', () => {
    fc.assert(
      fc.property(worldArb, (world) => {
        const requirements: Requirement[] = world.x402.map((r) => ({
          scheme: r.scheme,
          amount: atomic(r.usd, r.asset).toString(),
          asset: r.asset,
          payTo: r.payTo,
          extra: {
            ...(r.transfer === undefined ? {} : { assetTransferMethod: r.transfer }),
            ...(r.domain ? { name: 'Token', version: '1' } : {}),
            ...(r.facilitator ? { facilitatorAddress: FACILITATOR } : {}),
          },
        }));
        const headers = world.mpp.map((m) =>
          charge({
            amount: atomic(m.usd, m.asset).toString(),
            asset: m.asset,
            recipient: m.recipient,
            ...(m.split === undefined ? {} : { splits: [{ amount: '1', recipient: m.split }] }),
            credentialTypes: m.authorization ? ['authorization'] : ['transaction'],
            expires: m.expired ? '2029-12-31T23:59:00Z' : '2030-01-01T01:00:00Z',
          }),
        );
        const usdAllowance = (usd: number | undefined, asset: string) => (usd === undefined ? [] : [{ asset, amountAtomic: atomic(usd, asset) }]);
        const facts = {
          wallets: [
            wallet({
              balances: assets.flatMap((asset) => usdAllowance(world.balanceUsd, asset)),
              permit2Allowances: assets.flatMap((asset) => usdAllowance(world.allowanceUsd, asset)),
            }),
          ],
          ...(world.maxUsd === undefined ? {} : { maxUsdMicros: BigInt(world.maxUsd) * 10_000n }),
          railPreference: world.preferMppFirst ? ['mpp/evm/charge', ...DEFAULT_RAIL_PREFERENCE] : DEFAULT_RAIL_PREFERENCE,
        };
        const choice = choose(requirements, headers, facts);

        // The oracle.
        const known = (asset: string) => asset !== UNKNOWN;
        const affordable = (usd: number) => (world.maxUsd === undefined || usd <= world.maxUsd) && (world.balanceUsd === undefined || usd <= world.balanceUsd);
        const candidates: { id: string; usd: number; kind: string; order: number }[] = [];
        world.x402.forEach((r, index) => {
          const transfer = r.scheme === 'upto' ? (r.transfer === undefined || r.transfer === 'permit2' ? 'permit2' : undefined) : r.transfer === undefined ? 'eip3009' : r.transfer === 'teleport' ? undefined : r.transfer;
          const ok =
            r.scheme !== 'batch' &&
            transfer !== undefined &&
            known(r.asset) &&
            r.payTo !== DENIED &&
            affordable(r.usd) &&
            (transfer !== 'eip3009' || r.domain || r.asset === TEST_USD) &&
            (r.scheme !== 'upto' || r.facilitator) &&
            (transfer !== 'permit2' || (world.allowanceUsd !== undefined && r.usd <= world.allowanceUsd));
          if (ok) candidates.push({ id: `x402:${index}`, usd: r.usd, kind: `x402/${r.scheme}/${transfer}`, order: index });
        });
        world.mpp.forEach((m, index) => {
          const ok =
            m.authorization &&
            known(m.asset) &&
            m.recipient !== DENIED &&
            m.split !== DENIED &&
            affordable(m.usd) &&
            m.split === undefined &&
            !m.expired &&
            m.asset === TEST_USD;
          if (ok) candidates.push({ id: `mpp:${index}`, usd: m.usd, kind: 'mpp/evm/charge', order: 1_000 + index });
        });
        const preference = facts.railPreference;
        const rankOf = (kind: string) => (preference.includes(kind) ? preference.indexOf(kind) : preference.length);
        candidates.sort((a, b) => a.usd - b.usd || rankOf(a.kind) - rankOf(b.kind) || a.order - b.order);
        const expected = candidates[0];

        expect(choice.ok ? choice.option.id : undefined).toBe(expected?.id);
        const ids = [...(choice.ok ? [choice.option.id] : []), ...choice.rejected.map((r) => r.id)].sort();
        const offered = [...world.x402.map((_, i) => `x402:${i}`), ...world.mpp.map((_, i) => `mpp:${i}`)].sort();
        expect(ids).toEqual(offered);
        // A payable option that lost was never cheaper than the one chosen.
        if (choice.ok) {
          for (const lost of choice.rejected.filter((r) => r.stage === 'ranked')) expect(lost.usdMicros ?? 0n).toBeGreaterThanOrEqual(choice.usdMicros);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('does not depend on the order the options are handed over (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 6 }), fc.array(fc.integer({ min: 1, max: 5 }), { maxLength: 4 }), fc.nat(), (x402Cents, mppCents, seed) => {
        const collected = collectOptions({
          x402: x402Offer(x402Cents.map((c) => exact3009(String(c * 10_000)))),
          mpp: parsePaymentChallenges(mppCents.map((c, i) => charge({ amount: String(c * 10_000), recipient: i % 2 === 0 ? SELLER : PARTNER }))),
        });
        const shuffled = [...collected.options].sort((a, b) => ((a.id.length * 31 + seed) % 7) - ((b.id.length * 17 + seed) % 5));
        const first = chooseOption(collected, inputs());
        const second = chooseOption({ ...collected, options: shuffled }, inputs());
        expect(second.ok && second.option.id).toBe(first.ok && first.option.id);
        expect(second.rejected).toEqual(first.rejected);
      }),
      { numRuns: 200 },
    );
  });
});
