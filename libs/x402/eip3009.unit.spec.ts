import { recoverTypedDataAddress, verifyTypedData } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';

import { deriveNonce, exactEvmPayload, transferWithAuthorizationTypedData } from './eip3009.js';

const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

describe('deriveNonce', () => {
  it('is deterministic per wallet and intent', () => {
    const wallet = privateKeyToAccount(generatePrivateKey()).address;
    const nonce = deriveNonce(wallet, 'intent-1');
    expect(nonce).toMatch(/^0x[0-9a-f]{64}$/);
    expect(deriveNonce(wallet.toLowerCase() as `0x${string}`, 'intent-1')).toBe(nonce);
    expect(deriveNonce(wallet, 'intent-2')).not.toBe(nonce);
    expect(deriveNonce(PAY_TO, 'intent-1')).not.toBe(nonce);
  });

  it('refuses an empty intent id', () => {
    expect(() => deriveNonce(PAY_TO, '')).toThrow(RangeError);
  });
});

describe('transferWithAuthorizationTypedData', () => {
  it('signs with a viem local account and recovers the signer', async () => {
    // A key generated for this run only; it never holds funds.
    const account = privateKeyToAccount(generatePrivateKey());
    const nonce = deriveNonce(account.address, 'intent-sign');
    const typedData = transferWithAuthorizationTypedData({
      chainId: 31337,
      asset: TOKEN,
      name: 'Test USD',
      version: '1',
      from: account.address,
      to: PAY_TO,
      valueAtomic: 10000n,
      validAfterSec: 0,
      validBeforeSec: 1_900_000_000,
      nonce,
    });
    const signature = await account.signTypedData(typedData);
    expect(await recoverTypedDataAddress({ ...typedData, signature })).toBe(account.address);
    expect(await verifyTypedData({ ...typedData, address: account.address, signature })).toBe(true);

    const payload = exactEvmPayload(signature, typedData.message);
    expect(payload).toEqual({
      signature,
      authorization: {
        from: account.address,
        to: PAY_TO,
        value: '10000',
        validAfter: '0',
        validBefore: '1900000000',
        nonce,
      },
    });
  });

  it.each([
    ['zero value', { valueAtomic: 0n }],
    ['inverted window', { validAfterSec: 10, validBeforeSec: 10 }],
    ['short nonce', { nonce: '0x01' as const }],
    ['bad chain id', { chainId: 0 }],
  ])('refuses %s', (_label, overrides) => {
    expect(() =>
      transferWithAuthorizationTypedData({
        chainId: 31337,
        asset: TOKEN,
        name: 'Test USD',
        version: '1',
        from: PAY_TO,
        to: PAY_TO,
        valueAtomic: 1n,
        validAfterSec: 0,
        validBeforeSec: 100,
        nonce: `0x${'00'.repeat(32)}`,
        ...overrides,
      }),
    ).toThrow(RangeError);
  });
});
