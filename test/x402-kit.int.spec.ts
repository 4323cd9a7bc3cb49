import { x402Client } from '@x402/core/client';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { wrapFetchWithPayment } from '@x402/fetch';
import { getAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { deriveNonce, exactEvmPayload, transferWithAuthorizationTypedData } from '../libs/x402/eip3009.js';
import { buildPaymentSignatureHeader, parsePaymentResponse } from '../libs/x402/headers.js';
import { evmChainId } from '../libs/x402/networks.js';
import { parsePaymentRequired } from '../libs/x402/offer.js';
import { selectRequirement } from '../libs/x402/select.js';
import { startX402Kit, type X402Kit } from '../libs/devnet/index.js';

const PRICE_ATOMIC = 10_000n;
const LATENCY_SAMPLES = 10;
const REQUEST_TIMEOUT_MS = 30_000;

describe('x402 kit: official peers on a private chain', () => {
  let kit: X402Kit;

  beforeAll(async () => {
    kit = await startX402Kit();
  });

  afterAll(async () => {
    await kit?.stop();
  });

  it('pays GET /data with the official @x402/fetch client', async () => {
    const client = new x402Client();
    registerExactEvmScheme(client, { signer: privateKeyToAccount(kit.payer.privateKey) });
    // TestUSD is not one of the SDK's default assets, which it refuses unless opted in.
    client.setSpendControls({ allowedAssets: [{ network: kit.network, asset: kit.token }] });
    const payingFetch = wrapFetchWithPayment(fetch, client);

    const payerBefore = await kit.balanceOf(kit.payer.address);
    const sellerBefore = await kit.balanceOf(kit.seller.payTo);
    const response = await payingFetch(kit.seller.dataUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ data: 'paid content' });
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect(await kit.balanceOf(kit.seller.payTo)).toBe(sellerBefore + PRICE_ATOMIC);

    // The figure we report: one full paid fetch (402, sign, retry, verify, settle on
    // chain, answer) through the official client, anvil mining on demand.
    const samplesMs: number[] = [];
    for (let sample = 0; sample < LATENCY_SAMPLES; sample++) {
      const started = performance.now();
      const paid = await payingFetch(kit.seller.dataUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      await paid.arrayBuffer();
      samplesMs.push(performance.now() - started);
      expect(paid.status).toBe(200);
    }
    samplesMs.sort((a, b) => a - b);
    const median = ((samplesMs[4] ?? 0) + (samplesMs[5] ?? 0)) / 2;
    console.log(
      `x402 paid fetch via @x402/fetch: median ${median.toFixed(1)} ms over ${LATENCY_SAMPLES} ` +
        `(min ${samplesMs[0]?.toFixed(1)} ms, max ${samplesMs.at(-1)?.toFixed(1)} ms)`,
    );
    expect(await kit.balanceOf(kit.seller.payTo)).toBe(sellerBefore + PRICE_ATOMIC * BigInt(LATENCY_SAMPLES + 1));
  });

  it('pays GET /data with a payment signed by libs/x402 and sent with plain fetch', async () => {
    const unpaid = await fetch(kit.seller.dataUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    expect(unpaid.status).toBe(402);
    const offer = parsePaymentRequired({ header: unpaid.headers.get('PAYMENT-REQUIRED'), body: await unpaid.json() });
    const selection = selectRequirement(offer, {
      supportedSchemes: ['exact'],
      supportedNetworks: [kit.network],
      maxAmountAtomic: PRICE_ATOMIC,
      allowedAssets: [kit.token],
    });
    if (!selection.ok) throw new Error(`selection refused: ${selection.code}`);
    const { requirement } = selection;
    const chainId = evmChainId(requirement.network);
    const { name, version } = requirement.extra ?? {};
    if (chainId === undefined || name === undefined || version === undefined) throw new Error('not an EVM exact offer');

    const account = privateKeyToAccount(kit.payer.privateKey);
    const nonce = deriveNonce(account.address, `kit-intent-${Date.now()}`);
    const nowSec = Math.floor(Date.now() / 1000);
    const typedData = transferWithAuthorizationTypedData({
      chainId,
      asset: getAddress(requirement.asset),
      name,
      version,
      from: account.address,
      to: getAddress(requirement.payTo),
      valueAtomic: requirement.amountAtomic,
      validAfterSec: 0,
      validBeforeSec: nowSec + requirement.maxTimeoutSeconds,
      nonce,
    });
    const signature = await account.signTypedData(typedData);
    const header = buildPaymentSignatureHeader({ offer, requirement, payload: exactEvmPayload(signature, typedData.message) });
    expect(await kit.authorizationState(account.address, nonce)).toBe(false);

    const payerBefore = await kit.balanceOf(account.address);
    const sellerBefore = await kit.balanceOf(kit.seller.payTo);
    const paid = await fetch(kit.seller.dataUrl, {
      headers: { [header.name]: header.value },
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    expect(paid.status).toBe(200);
    expect(await paid.json()).toMatchObject({ data: 'paid content' });

    const paymentResponseHeader = paid.headers.get('PAYMENT-RESPONSE');
    expect(paymentResponseHeader).not.toBeNull();
    const paymentResponse = parsePaymentResponse(paymentResponseHeader ?? '');
    expect(paymentResponse).toMatchObject({ success: true, network: kit.network });
    expect(getAddress(paymentResponse.payer ?? '0x0')).toBe(account.address);
    const receipt = await kit.publicClient.getTransactionReceipt({ hash: paymentResponse.transaction as `0x${string}` });
    expect(receipt.status).toBe('success');

    expect(await kit.balanceOf(account.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect(await kit.balanceOf(kit.seller.payTo)).toBe(sellerBefore + PRICE_ATOMIC);
    expect(await kit.authorizationState(account.address, nonce)).toBe(true);
  });

  it('seller modes leave the outcome to the chain, and a replayed authorization is refused', async () => {
    const account = privateKeyToAccount(kit.payer.privateKey);
    const signPayment = async (intentId: string) => {
      const unpaid = await fetch(kit.seller.dataUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const offer = parsePaymentRequired({ header: unpaid.headers.get('PAYMENT-REQUIRED') });
      await unpaid.arrayBuffer();
      const requirement = offer.requirements[0];
      if (requirement === undefined) throw new Error('offer has no requirement');
      const nonce = deriveNonce(account.address, intentId);
      const typedData = transferWithAuthorizationTypedData({
        chainId: kit.chainId,
        asset: getAddress(requirement.asset),
        name: 'Test USD',
        version: '1',
        from: account.address,
        to: getAddress(requirement.payTo),
        valueAtomic: requirement.amountAtomic,
        validAfterSec: 0,
        validBeforeSec: Math.floor(Date.now() / 1000) + requirement.maxTimeoutSeconds,
        nonce,
      });
      const signature = await account.signTypedData(typedData);
      const header = buildPaymentSignatureHeader({ offer, requirement, payload: exactEvmPayload(signature, typedData.message) });
      return { nonce, headers: { [header.name]: header.value } };
    };
    const run = `${Date.now()}`;

    try {
      // 502 before settlement: nothing moves.
      kit.seller.setMode('fail_502_before_settle');
      const before = await signPayment(`${run}-before`);
      const failedBefore = await fetch(kit.seller.dataUrl, { headers: before.headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(failedBefore.status).toBe(502);
      expect(await kit.authorizationState(account.address, before.nonce)).toBe(false);

      // 502 after settlement: the buyer sees a failure but the transfer landed.
      kit.seller.setMode('fail_502_after_settle');
      const after = await signPayment(`${run}-after`);
      const failedAfter = await fetch(kit.seller.dataUrl, { headers: after.headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(failedAfter.status).toBe(502);
      expect(failedAfter.headers.get('PAYMENT-RESPONSE')).toBeNull();
      expect(await kit.authorizationState(account.address, after.nonce)).toBe(true);

      // Hang after settlement: the client times out, the transfer still landed.
      kit.seller.setMode('hang_after_settle');
      const hung = await signPayment(`${run}-hang`);
      await expect(
        fetch(kit.seller.dataUrl, { headers: hung.headers, signal: AbortSignal.timeout(2_000) }),
      ).rejects.toThrow();
      expect(await kit.authorizationState(account.address, hung.nonce)).toBe(true);

      // Replaying a used authorization is refused with a specific reason, which needs
      // the Multicall3 stand-in for the facilitator's diagnosis.
      kit.seller.setMode('normal');
      const replay = await fetch(kit.seller.dataUrl, { headers: after.headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      expect(replay.status).toBe(402);
      const refusal = parsePaymentRequired({ header: replay.headers.get('PAYMENT-REQUIRED') });
      expect(refusal.error).toMatch(/nonce|used/i);
    } finally {
      kit.seller.setMode('normal');
    }
  });
});
