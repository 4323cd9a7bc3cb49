import { encodeAbiParameters, getAddress, keccak256, type Address, type Hex } from 'viem';

const INTENT_ID_CHARS_MAX = 256;
const UINT256_MAX = 2n ** 256n - 1n;

/**
 * The EIP-3009 nonce for one payment intent of one wallet. It is derived, not random, so
 * signing the same intent twice yields the same nonce and the token contract can execute
 * at most one of the two authorizations; a retry after an unknown outcome can never pay
 * twice, and `authorizationState(wallet, nonce)` tells afterwards whether it was paid.
 */
export function deriveNonce(wallet: Address, intentId: string): Hex {
  if (intentId.length === 0 || intentId.length > INTENT_ID_CHARS_MAX) {
    throw new RangeError(`deriveNonce: intentId must be 1..${INTENT_ID_CHARS_MAX} characters`);
  }
  return keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'string' }], [getAddress(wallet), intentId]));
}

export const transferWithAuthorizationTypes = {
  TransferWithAuthorization: [
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'validAfter', type: 'uint256' },
    { name: 'validBefore', type: 'uint256' },
    { name: 'nonce', type: 'bytes32' },
  ],
} as const;

export interface TransferAuthorization {
  readonly from: Address;
  readonly to: Address;
  readonly value: bigint;
  readonly validAfter: bigint;
  readonly validBefore: bigint;
  readonly nonce: Hex;
}

export interface TransferWithAuthorizationInput {
  readonly chainId: number;
  /** The token contract, which is also the EIP-712 verifying contract. */
  readonly asset: Address;
  /** The token's own EIP-712 name and version, from the requirement's `extra`. */
  readonly name: string;
  readonly version: string;
  readonly from: Address;
  readonly to: Address;
  readonly valueAtomic: bigint;
  readonly validAfterSec: number;
  readonly validBeforeSec: number;
  readonly nonce: Hex;
}

export interface TransferWithAuthorizationTypedData {
  readonly domain: { name: string; version: string; chainId: number; verifyingContract: Address };
  readonly types: typeof transferWithAuthorizationTypes;
  readonly primaryType: 'TransferWithAuthorization';
  readonly message: TransferAuthorization;
}

/** The EIP-712 typed data for `signTypedData`, exactly as the official exact client signs it. */
export function transferWithAuthorizationTypedData(input: TransferWithAuthorizationInput): TransferWithAuthorizationTypedData {
  if (!Number.isSafeInteger(input.chainId) || input.chainId <= 0) {
    throw new RangeError('transferWithAuthorizationTypedData: chainId must be a positive integer');
  }
  if (input.valueAtomic <= 0n || input.valueAtomic > UINT256_MAX) {
    throw new RangeError('transferWithAuthorizationTypedData: valueAtomic must be a positive uint256');
  }
  if (!Number.isSafeInteger(input.validAfterSec) || !Number.isSafeInteger(input.validBeforeSec)) {
    throw new RangeError('transferWithAuthorizationTypedData: validity bounds must be integer seconds');
  }
  if (input.validAfterSec < 0 || input.validBeforeSec <= input.validAfterSec) {
    throw new RangeError('transferWithAuthorizationTypedData: validBeforeSec must be after validAfterSec');
  }
  if (!/^0x[0-9a-fA-F]{64}$/.test(input.nonce)) {
    throw new RangeError('transferWithAuthorizationTypedData: nonce must be 32 bytes of hex');
  }
  return {
    domain: {
      name: input.name,
      version: input.version,
      chainId: input.chainId,
      verifyingContract: getAddress(input.asset),
    },
    types: transferWithAuthorizationTypes,
    primaryType: 'TransferWithAuthorization',
    message: {
      from: getAddress(input.from),
      to: getAddress(input.to),
      value: input.valueAtomic,
      validAfter: BigInt(input.validAfterSec),
      validBefore: BigInt(input.validBeforeSec),
      nonce: input.nonce,
    },
  };
}

export interface ExactEvmPayload {
  readonly signature: Hex;
  readonly authorization: {
    readonly from: Address;
    readonly to: Address;
    readonly value: string;
    readonly validAfter: string;
    readonly validBefore: string;
    readonly nonce: Hex;
  };
}

/** The `exact` EVM payload; numbers travel as decimal strings, as the official client sends them. */
export function exactEvmPayload(signature: Hex, authorization: TransferAuthorization): ExactEvmPayload {
  return {
    signature,
    authorization: {
      from: authorization.from,
      to: authorization.to,
      value: authorization.value.toString(10),
      validAfter: authorization.validAfter.toString(10),
      validBefore: authorization.validBefore.toString(10),
      nonce: authorization.nonce,
    },
  };
}
