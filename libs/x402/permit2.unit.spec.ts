import type { PaymentRequirements } from '@x402/core/types';
import {
  PERMIT2_ADDRESS as OFFICIAL_PERMIT2_ADDRESS,
  createPermit2ApprovalTx,
  permit2WitnessTypes,
  uptoPermit2WitnessTypes as officialUptoTypes,
  x402ExactPermit2ProxyAddress,
  x402UptoPermit2ProxyAddress,
} from '@x402/evm';
import { ExactEvmScheme } from '@x402/evm/exact/client';
import { UptoEvmScheme } from '@x402/evm/upto/client';
import fc from 'fast-check';
import { decodeFunctionData, getAddress, parseAbi, type Address } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';

import { deriveNonce } from './eip3009.js';
import {
  PERMIT2_ADDRESS,
  X402_EXACT_PERMIT2_PROXY_ADDRESS,
  X402_UPTO_PERMIT2_PROXY_ADDRESS,
  derivePermit2Nonce,
  exactPermit2Payload,
  exactPermit2TypedData,
  exactPermit2WitnessTypes,
  permit2AllowanceRead,
  permit2ApproveCall,
  permit2NonceBitmapRead,
  permit2NonceSlot,
  permit2NonceUsed,
  uptoPermit2Payload,
  uptoPermit2TypedData,
  uptoPermit2WitnessTypes,
} from './permit2.js';

const PAYER = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
const TOKEN: Address = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO: Address = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const FACILITATOR: Address = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

interface Captured {
  domain: unknown;
  types: unknown;
  primaryType: string;
  message: {
    nonce: bigint;
    deadline: bigint;
    witness: { validAfter: bigint };
  };
}

/** The official client's signer, recording what it was asked to sign. */
function recordingSigner(captured: Captured[]) {
  return {
    address: PAYER.address,
    signTypedData: (args: Parameters<typeof PAYER.signTypedData>[0]) => {
      captured.push(args as unknown as Captured);
      return PAYER.signTypedData(args);
    },
  };
}

function requirement(scheme: 'exact' | 'upto', extra: Record<string, unknown>): PaymentRequirements {
  return { scheme, network: 'eip155:31337', amount: '100000', asset: TOKEN, payTo: PAY_TO, maxTimeoutSeconds: 300, extra };
}

describe('Permit2 constants are those of @x402/evm 2.27', () => {
  it('addresses and witness types', () => {
    expect(PERMIT2_ADDRESS).toBe(OFFICIAL_PERMIT2_ADDRESS);
    expect(X402_EXACT_PERMIT2_PROXY_ADDRESS).toBe(x402ExactPermit2ProxyAddress);
    expect(X402_UPTO_PERMIT2_PROXY_ADDRESS).toBe(x402UptoPermit2ProxyAddress);
    expect(exactPermit2WitnessTypes).toEqual(permit2WitnessTypes);
    expect(uptoPermit2WitnessTypes).toEqual(officialUptoTypes);
  });
});

describe('exact via Permit2: the same typed data and payload as the official client', () => {
  it('for the nonce and deadline the official client chose', async () => {
    const captured: Captured[] = [];
    const official = await new ExactEvmScheme(recordingSigner(captured)).createPaymentPayload(
      2,
      requirement('exact', { assetTransferMethod: 'permit2' }),
    );
    const [theirs] = captured;
    if (theirs === undefined) throw new Error('the official client signed nothing');
    const ours = exactPermit2TypedData({
      chainId: 31337,
      token: TOKEN,
      amountAtomic: 100_000n,
      payTo: PAY_TO,
      nonce: theirs.message.nonce,
      deadlineSec: Number(theirs.message.deadline),
      validAfterSec: Number(theirs.message.witness.validAfter),
    });
    expect(ours).toEqual(theirs);
    const signature = await PAYER.signTypedData(ours);
    expect(exactPermit2Payload(signature, PAYER.address, ours)).toEqual(official.payload);
  });
});

describe('upto: the same typed data and payload as the official client', () => {
  it('binds the facilitator named in the requirement', async () => {
    const captured: Captured[] = [];
    const official = await new UptoEvmScheme(recordingSigner(captured)).createPaymentPayload(
      2,
      requirement('upto', { assetTransferMethod: 'permit2', facilitatorAddress: FACILITATOR }),
    );
    const [theirs] = captured;
    if (theirs === undefined) throw new Error('the official client signed nothing');
    const ours = uptoPermit2TypedData({
      chainId: 31337,
      token: TOKEN,
      amountAtomic: 100_000n,
      payTo: PAY_TO,
      facilitator: FACILITATOR,
      nonce: theirs.message.nonce,
      deadlineSec: Number(theirs.message.deadline),
      validAfterSec: Number(theirs.message.witness.validAfter),
    });
    expect(ours).toEqual(theirs);
    const signature = await PAYER.signTypedData(ours);
    expect(uptoPermit2Payload(signature, PAYER.address, ours)).toEqual(official.payload);
  });

  it('refuses what cannot be signed correctly', () => {
    const base = { chainId: 31337, token: TOKEN, amountAtomic: 1n, payTo: PAY_TO, facilitator: FACILITATOR, nonce: 1n, deadlineSec: 100, validAfterSec: 0 };
    expect(() => uptoPermit2TypedData({ ...base, amountAtomic: 0n })).toThrow(RangeError);
    expect(() => uptoPermit2TypedData({ ...base, amountAtomic: 2n ** 256n })).toThrow(RangeError);
    expect(() => uptoPermit2TypedData({ ...base, deadlineSec: 0 })).toThrow(RangeError);
    expect(() => uptoPermit2TypedData({ ...base, nonce: -1n })).toThrow(RangeError);
    expect(() => exactPermit2TypedData({ ...base, chainId: 0 })).toThrow(RangeError);
  });
});

describe('the intent-derived Permit2 nonce', () => {
  it('is the EIP-3009 nonce of the intent read as a uint256: stable per wallet and intent', () => {
    expect(derivePermit2Nonce(PAYER.address, 'pay_1')).toBe(BigInt(deriveNonce(PAYER.address, 'pay_1')));
    expect(derivePermit2Nonce(PAYER.address, 'pay_1')).toBe(derivePermit2Nonce(getAddress(PAYER.address.toLowerCase()), 'pay_1'));
    expect(derivePermit2Nonce(PAYER.address, 'pay_1')).not.toBe(derivePermit2Nonce(PAYER.address, 'pay_2'));
    expect(derivePermit2Nonce(PAYER.address, 'pay_1')).not.toBe(derivePermit2Nonce(PAY_TO, 'pay_1'));
  });

  it('maps to the word and bit Permit2 keeps it in (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 256n - 1n }), (nonce, otherBits) => {
        const { wordPosition, bitPosition } = permit2NonceSlot(nonce);
        // Permit2: wordPos = uint248(nonce >> 8), bitPos = uint8(nonce).
        expect(wordPosition * 256n + bitPosition).toBe(nonce);
        const bit = 1n << bitPosition;
        expect(permit2NonceUsed(otherBits | bit, nonce)).toBe(true);
        expect(permit2NonceUsed(otherBits & ~bit, nonce)).toBe(false);
      }),
    );
    expect(permit2NonceBitmapRead(PAYER.address, 0x1234n).args).toEqual([PAYER.address, 0x12n]);
  });
});

describe('the Permit2 allowance: standing authority, bounded', () => {
  it('encodes approve(Permit2, amount) like the official helper, but only for a bounded amount', () => {
    const call = permit2ApproveCall(TOKEN, 5_000_000n);
    expect(call.to).toBe(TOKEN);
    const decoded = decodeFunctionData({ abi: parseAbi(['function approve(address spender, uint256 amount) returns (bool)']), data: call.data });
    expect(decoded.args).toEqual([PERMIT2_ADDRESS, 5_000_000n]);
    // Same selector and layout as the official (unbounded) transaction.
    expect(call.data.slice(0, 74)).toBe(createPermit2ApprovalTx(TOKEN).data.slice(0, 74));
    expect(() => permit2ApproveCall(TOKEN, 2n ** 256n - 1n)).toThrow(/bounded/);
    expect(() => permit2ApproveCall(TOKEN, 0n)).toThrow(RangeError);
    expect(permit2AllowanceRead(TOKEN, PAYER.address).args).toEqual([PAYER.address, PERMIT2_ADDRESS]);
  });
});
