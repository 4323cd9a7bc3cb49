import { x402Client } from '@x402/core/client';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { UptoEvmScheme } from '@x402/evm/upto/client';
import { wrapFetchWithPayment } from '@x402/fetch';
import { Mppx, evm } from 'mppx/client';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parsePaymentChallenges } from '../mpp/challenge.js';
import { buildPaymentCredential, evmAuthorizationPayload, evmChargeNonce, evmChargeSource, evmChargeTypedData, evmChargeValidBeforeSec } from '../mpp/credential.js';
import { parsePaymentReceipt } from '../mpp/receipt.js';
import { chooseOption, type ChooseInputs } from '../rails/choose.js';
import { collectOptions } from '../rails/options.js';
import { buildPaymentSignatureHeader, parsePaymentResponse } from '../x402/headers.js';
import { parsePaymentRequired } from '../x402/offer.js';
import { paymentIdentifierExtension } from '../x402/payment-identifier.js';
import { derivePermit2Nonce, exactPermit2Payload, exactPermit2TypedData, uptoPermit2Payload, uptoPermit2TypedData } from '../x402/permit2.js';
import { startRailsKit, type RailsKit } from './rails-kit.js';

// The official clients pay the official servers on a private chain, rail by rail, and
// Paybound's pure pieces (parsers, chooser, typed data, credentials) pay the same servers
// with plain fetch, the way the worker will. Balances are checked to the atomic unit.

const REQUEST_TIMEOUT_MS = 30_000;
const LATENCY_SAMPLES = 5;

describe('rails peers on anvil', () => {
  let kit: RailsKit;

  beforeAll(async () => {
    kit = await startRailsKit();
  });

  afterAll(async () => {
    await kit?.stop();
  });

  const medianMs = async (run: () => Promise<void>): Promise<{ medianMs: number; minMs: number; maxMs: number }> => {
    const samples: number[] = [];
    for (let sample = 0; sample < LATENCY_SAMPLES; sample++) {
      const started = performance.now();
      await run();
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    return { medianMs: samples[Math.floor(LATENCY_SAMPLES / 2)] ?? 0, minMs: samples[0] ?? 0, maxMs: samples.at(-1) ?? 0 };
  };
  const report = (label: string, figures: { medianMs: number; minMs: number; maxMs: number }) => {
    console.log(`${label}: median ${figures.medianMs.toFixed(1)} ms over ${LATENCY_SAMPLES} (min ${figures.minMs.toFixed(1)}, max ${figures.maxMs.toFixed(1)})`);
  };

  describe('MPP evm/charge (mppx server, settling through the x402 facilitator)', () => {
    it('the official mppx client pays it: the payer loses exactly the price, with a receipt', async () => {
      const mppx = Mppx.create({ methods: [evm.charge({ account: privateKeyToAccount(kit.payer.privateKey), authorization: { name: 'Test USD', version: '1' } })], polyfill: false });
      const payerBefore = await kit.balanceOf(kit.testToken, kit.payer.address);
      const sellerBefore = await kit.balanceOf(kit.testToken, kit.payTo);
      const response = await mppx.fetch(kit.mppUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: 'paid with mpp or x402' });
      const receipt = parsePaymentReceipt(response.headers.get('Payment-Receipt') ?? '');
      expect(receipt).toMatchObject({ status: 'success', method: 'evm' });
      const transaction = await kit.publicClient.getTransactionReceipt({ hash: receipt.reference as `0x${string}` });
      expect(transaction.status).toBe('success');
      expect(await kit.balanceOf(kit.testToken, kit.payer.address)).toBe(payerBefore - kit.prices.mppAtomic);
      expect(await kit.balanceOf(kit.testToken, kit.payTo)).toBe(sellerBefore + kit.prices.mppAtomic);

      const figures = await medianMs(async () => {
        const paid = await mppx.fetch(kit.mppUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        await paid.arrayBuffer();
        expect(paid.status).toBe(200);
      });
      report('MPP paid fetch via the mppx client', figures);
      expect(await kit.balanceOf(kit.testToken, kit.payer.address)).toBe(payerBefore - kit.prices.mppAtomic * BigInt(LATENCY_SAMPLES + 1));
    });

    it('Paybound pays it: challenge parsed, one option chosen, credential signed by libs/mpp, the nonce spent on chain', async () => {
      const unpaid = await fetch(kit.mppUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(unpaid.status).toBe(402);
      await unpaid.arrayBuffer();
      const challengeHeader = unpaid.headers.get('WWW-Authenticate');
      const offerHeader = unpaid.headers.get('PAYMENT-REQUIRED');
      // One 402, two rails for the same payment.
      expect(challengeHeader).toMatch(/^Payment /);
      expect(offerHeader).not.toBeNull();
      const collected = collectOptions({ x402: parsePaymentRequired({ header: offerHeader }), mpp: parsePaymentChallenges(challengeHeader ?? '') });
      const choice = chooseOption(collected, chooseInputs(kit, { railPreference: ['mpp/evm/charge'] }));
      if (!choice.ok) throw new Error(choice.detail);
      expect(choice.option.id).toBe('mpp:0');
      expect(choice.rejected).toEqual([expect.objectContaining({ id: 'x402:0', stage: 'ranked', reason: 'rail_preference', usdMicros: 10_000n })]);
      if (choice.option.source.kind !== 'mpp') throw new Error('expected the MPP option');
      const { challenge, request } = choice.option.source;

      const payer = privateKeyToAccount(kit.payer.privateKey);
      const validBeforeSec = evmChargeValidBeforeSec(challenge, Math.floor(Date.now() / 1000), { windowMaxSec: 600, marginSec: 10 });
      if (validBeforeSec === undefined) throw new Error('the challenge expired');
      const typedData = evmChargeTypedData({ challenge, request, from: payer.address, domain: { name: 'Test USD', version: '1' }, validBeforeSec });
      const credential = buildPaymentCredential({
        challenge,
        payload: evmAuthorizationPayload(await payer.signTypedData(typedData), typedData.message),
        source: evmChargeSource(request.chainId, payer.address),
      });
      expect(await kit.authorizationState(payer.address, evmChargeNonce(challenge))).toBe(false);
      const payerBefore = await kit.balanceOf(kit.testToken, payer.address);
      const paid = await fetch(kit.mppUrl, { headers: { [credential.name]: credential.value }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(paid.status).toBe(200);
      expect(parsePaymentReceipt(paid.headers.get('Payment-Receipt') ?? '').status).toBe('success');
      await paid.arrayBuffer();
      expect(await kit.balanceOf(kit.testToken, payer.address)).toBe(payerBefore - kit.prices.mppAtomic);
      // Reconciliation reads the challenge-bound nonce: spent, and a replay pays nothing.
      expect(await kit.authorizationState(payer.address, evmChargeNonce(challenge))).toBe(true);
      const replay = await fetch(kit.mppUrl, { headers: { [credential.name]: credential.value }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await replay.arrayBuffer();
      expect(replay.status).toBe(402);
      expect(await kit.balanceOf(kit.testToken, payer.address)).toBe(payerBefore - kit.prices.mppAtomic);
    });

    it('the official x402 client pays the same route through its x402 offer instead', async () => {
      const client = new x402Client();
      client.register(kit.network, new ExactEvmScheme(privateKeyToAccount(kit.payer.privateKey)));
      client.setSpendControls({ allowedAssets: [{ network: kit.network, asset: kit.testToken }] });
      const payingFetch = wrapFetchWithPayment(fetch, client);
      const payerBefore = await kit.balanceOf(kit.testToken, kit.payer.address);
      const response = await payingFetch(kit.mppUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(response.status).toBe(200);
      await response.arrayBuffer();
      expect(parsePaymentResponse(response.headers.get('PAYMENT-RESPONSE') ?? '').success).toBe(true);
      expect(await kit.balanceOf(kit.testToken, kit.payer.address)).toBe(payerBefore - kit.prices.mppAtomic);
    });
  });

  describe('x402 upto (official facilitator and @x402/express server, Permit2 proxy at its canonical address)', () => {
    it('the official client pays: maximum 0.10 signed, 0.03 settled, the payer loses exactly 30000', async () => {
      await kit.approvePermit2(kit.plainToken, 10_000_000n);
      expect(await kit.permit2Allowance(kit.plainToken, kit.payer.address)).toBe(10_000_000n);
      const client = new x402Client();
      client.register(kit.network, new UptoEvmScheme(privateKeyToAccount(kit.payer.privateKey)));
      client.setSpendControls({ allowedAssets: [{ network: kit.network, asset: kit.plainToken }] });
      const payingFetch = wrapFetchWithPayment(fetch, client);
      const payerBefore = await kit.balanceOf(kit.plainToken, kit.payer.address);
      const sellerBefore = await kit.balanceOf(kit.plainToken, kit.payTo);
      const response = await payingFetch(kit.uptoUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: 'metered content', usedAtomic: '30000' });
      const settlement = parsePaymentResponse(response.headers.get('PAYMENT-RESPONSE') ?? '');
      expect(settlement).toMatchObject({ success: true, amount: '30000' });
      expect(await kit.balanceOf(kit.plainToken, kit.payer.address)).toBe(payerBefore - 30_000n);
      expect(await kit.balanceOf(kit.plainToken, kit.payTo)).toBe(sellerBefore + 30_000n);

      const figures = await medianMs(async () => {
        const paid = await payingFetch(kit.uptoUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        await paid.arrayBuffer();
        expect(paid.status).toBe(200);
      });
      report('x402 upto paid fetch via @x402/fetch', figures);
      expect(await kit.balanceOf(kit.plainToken, kit.payer.address)).toBe(payerBefore - 30_000n * BigInt(LATENCY_SAMPLES + 1));
    });

    it('Paybound pays it with libs/x402 typed data and an intent-derived Permit2 nonce, spent once on chain', async () => {
      kit.setUptoUsed(45_000n);
      const unpaid = await fetch(kit.uptoUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(unpaid.status).toBe(402);
      await unpaid.arrayBuffer();
      const offer = parsePaymentRequired({ header: unpaid.headers.get('PAYMENT-REQUIRED') });
      const choice = chooseOption(collectOptions({ x402: offer }), chooseInputs(kit));
      if (!choice.ok) throw new Error(choice.detail);
      expect(choice.option).toMatchObject({ scheme: 'upto', transfer: 'permit2', metered: true, maxAmountAtomic: 100_000n, facilitator: kit.facilitator.address });
      if (choice.option.source.kind !== 'x402' || choice.option.facilitator === undefined) throw new Error('expected the upto option');

      const payer = privateKeyToAccount(kit.payer.privateKey);
      const intentId = `pay_${crypto.randomUUID()}`;
      const nonce = derivePermit2Nonce(payer.address, intentId);
      const nowSec = Math.floor(Date.now() / 1000);
      const typedData = uptoPermit2TypedData({
        chainId: kit.chainId,
        token: kit.plainToken,
        amountAtomic: choice.option.maxAmountAtomic,
        payTo: kit.payTo,
        facilitator: choice.option.facilitator as `0x${string}`,
        nonce,
        deadlineSec: nowSec + 120,
        validAfterSec: 0,
      });
      const header = buildPaymentSignatureHeader({
        offer,
        requirement: choice.option.source.requirement,
        payload: uptoPermit2Payload(await payer.signTypedData(typedData), payer.address, typedData),
        extensions: paymentIdentifierExtension(offer.extensions, intentId),
      });
      expect(await kit.permit2NonceUsed(payer.address, nonce)).toBe(false);
      const payerBefore = await kit.balanceOf(kit.plainToken, payer.address);
      const paid = await fetch(kit.uptoUrl, { headers: { [header.name]: header.value }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(paid.status).toBe(200);
      await paid.arrayBuffer();
      const settlement = parsePaymentResponse(paid.headers.get('PAYMENT-RESPONSE') ?? '');
      expect(settlement).toMatchObject({ success: true, amount: '45000' });
      // The chain, not the seller's figure: exactly what moved.
      expect(await kit.balanceOf(kit.plainToken, payer.address)).toBe(payerBefore - 45_000n);
      expect(await kit.permit2NonceUsed(payer.address, nonce)).toBe(true);
      // The same signature again: Permit2 refuses a spent nonce, nothing more moves.
      const replay = await fetch(kit.uptoUrl, { headers: { [header.name]: header.value }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await replay.arrayBuffer();
      expect(replay.status).not.toBe(200);
      expect(await kit.balanceOf(kit.plainToken, payer.address)).toBe(payerBefore - 45_000n);
      kit.setUptoUsed(kit.prices.uptoUsedAtomic);
    });
  });

  describe('x402 exact via Permit2 on a token without EIP-3009', () => {
    it('the official client pays it: the payer loses exactly the price', async () => {
      const client = new x402Client();
      client.register(kit.network, new ExactEvmScheme(privateKeyToAccount(kit.payer.privateKey)));
      client.setSpendControls({ allowedAssets: [{ network: kit.network, asset: kit.plainToken }] });
      const payingFetch = wrapFetchWithPayment(fetch, client);
      const payerBefore = await kit.balanceOf(kit.plainToken, kit.payer.address);
      const response = await payingFetch(kit.exactPermit2Url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ data: 'paid through Permit2' });
      expect(await kit.balanceOf(kit.plainToken, kit.payer.address)).toBe(payerBefore - kit.prices.exactPermit2Atomic);

      const figures = await medianMs(async () => {
        const paid = await payingFetch(kit.exactPermit2Url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        await paid.arrayBuffer();
        expect(paid.status).toBe(200);
      });
      report('x402 exact-Permit2 paid fetch via @x402/fetch', figures);
      expect(await kit.balanceOf(kit.plainToken, kit.payer.address)).toBe(payerBefore - kit.prices.exactPermit2Atomic * BigInt(LATENCY_SAMPLES + 1));
    });

    it('Paybound pays it with libs/x402 typed data, and the chooser refuses it without a Permit2 allowance', async () => {
      const unpaid = await fetch(kit.exactPermit2Url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await unpaid.arrayBuffer();
      const offer = parsePaymentRequired({ header: unpaid.headers.get('PAYMENT-REQUIRED') });
      const withoutAllowance = chooseOption(collectOptions({ x402: offer }), chooseInputs(kit, { permit2AllowanceAtomic: 0n }));
      expect(withoutAllowance).toMatchObject({ ok: false, reason: 'permit2_allowance_missing', stage: 'funded' });
      const choice = chooseOption(collectOptions({ x402: offer }), chooseInputs(kit));
      if (!choice.ok || choice.option.source.kind !== 'x402') throw new Error('expected the exact Permit2 option');
      expect(choice.option).toMatchObject({ scheme: 'exact', transfer: 'permit2' });

      const payer = privateKeyToAccount(kit.payer.privateKey);
      const intentId = `pay_${crypto.randomUUID()}`;
      const typedData = exactPermit2TypedData({
        chainId: kit.chainId,
        token: kit.plainToken,
        amountAtomic: choice.option.maxAmountAtomic,
        payTo: kit.payTo,
        nonce: derivePermit2Nonce(payer.address, intentId),
        deadlineSec: Math.floor(Date.now() / 1000) + 120,
        validAfterSec: 0,
      });
      const header = buildPaymentSignatureHeader({
        offer,
        requirement: choice.option.source.requirement,
        payload: exactPermit2Payload(await payer.signTypedData(typedData), payer.address, typedData),
        extensions: paymentIdentifierExtension(offer.extensions, intentId),
      });
      const payerBefore = await kit.balanceOf(kit.plainToken, payer.address);
      const paid = await fetch(kit.exactPermit2Url, { headers: { [header.name]: header.value }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(paid.status).toBe(200);
      await paid.arrayBuffer();
      expect(await kit.balanceOf(kit.plainToken, payer.address)).toBe(payerBefore - kit.prices.exactPermit2Atomic);
      expect(await kit.permit2NonceUsed(payer.address, derivePermit2Nonce(payer.address, intentId))).toBe(true);
    });
  });
});

function chooseInputs(kit: RailsKit, overrides: { railPreference?: readonly string[]; permit2AllowanceAtomic?: bigint } = {}): ChooseInputs {
  return {
    nowMs: Date.now(),
    validityMarginSec: 30,
    knownAssets: [
      { network: kit.network, asset: kit.testToken, decimals: 6, eip712: { name: 'Test USD', version: '1' } },
      { network: kit.network, asset: kit.plainToken, decimals: 6 },
    ],
    wallets: [
      {
        network: kit.network,
        address: kit.payer.address,
        canSign: true,
        balances: [],
        permit2Allowances: [{ asset: kit.plainToken, amountAtomic: overrides.permit2AllowanceAtomic ?? 10n ** 12n }],
      },
    ],
    policy: () => null,
    ...(overrides.railPreference === undefined ? {} : { railPreference: overrides.railPreference }),
  };
}
