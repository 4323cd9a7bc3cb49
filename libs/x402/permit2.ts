import { encodeFunctionData, getAddress, type Address, type Hex } from 'viem';

import { deriveNonce } from './eip3009.js';

// x402 over Permit2, as @x402/evm 2.27 builds it: the payer signs a Permit2
// `PermitWitnessTransferFrom` whose spender is x402's proxy contract and whose witness
// binds the payee (and, for `upto`, the facilitator allowed to settle). `exact` moves
// exactly `permitted.amount`; `upto` moves any amount up to it, chosen at settlement.
// Nothing here signs: the worker hands the typed data to its signTypedData signer.

/** Canonical Permit2 (Uniswap), the same address on every EVM chain. */
export const PERMIT2_ADDRESS: Address = '0x000000000022D473030F116dDEE9F6B43aC78BA3';
/** x402's proxies, deployed by CREATE2 at the same address on every chain (@x402/evm constants). */
export const X402_EXACT_PERMIT2_PROXY_ADDRESS: Address = '0x402085c248EeA27D92E8b30b2C58ed07f9E20001';
export const X402_UPTO_PERMIT2_PROXY_ADDRESS: Address = '0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002';

const UINT256_MAX = 2n ** 256n - 1n;

export const exactPermit2WitnessTypes = {
  PermitWitnessTransferFrom: [
    { name: 'permitted', type: 'TokenPermissions' },
    { name: 'spender', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'deadline', type: 'uint256' },
    { name: 'witness', type: 'Witness' },
  ],
  TokenPermissions: [
    { name: 'token', type: 'address' },
    { name: 'amount', type: 'uint256' },
  ],
  Witness: [
    { name: 'to', type: 'address' },
    { name: 'validAfter', type: 'uint256' },
  ],
} as const;

export const uptoPermit2WitnessTypes = {
  PermitWitnessTransferFrom: exactPermit2WitnessTypes.PermitWitnessTransferFrom,
  TokenPermissions: exactPermit2WitnessTypes.TokenPermissions,
  Witness: [
    { name: 'to', type: 'address' },
    { name: 'facilitator', type: 'address' },
    { name: 'validAfter', type: 'uint256' },
  ],
} as const;

/**
 * The Permit2 nonce for one payment intent of one wallet: the EIP-3009 nonce of the same
 * intent read as a uint256. Permit2 keeps one bit per nonce and per owner, so signing the
 * intent again can only produce an authorization that spends the same bit: at most one of
 * them executes, and `nonceBitmap` shows afterwards whether one did. The two rails' nonce
 * spaces are separate contracts, so an intent must stay on the rail it was reserved on.
 */
export function derivePermit2Nonce(wallet: Address, intentId: string): bigint {
  return BigInt(deriveNonce(wallet, intentId));
}

/** Where Permit2 keeps a nonce's bit: `nonceBitmap(owner, wordPosition)`, bit `bitPosition`. */
export function permit2NonceSlot(nonce: bigint): { readonly wordPosition: bigint; readonly bitPosition: bigint } {
  if (nonce < 0n || nonce > UINT256_MAX) throw new RangeError('permit2NonceSlot: nonce must be a uint256');
  return { wordPosition: nonce >> 8n, bitPosition: nonce & 0xffn };
}

/** Whether a `nonceBitmap` word read from chain marks the nonce as used. */
export function permit2NonceUsed(bitmapWord: bigint, nonce: bigint): boolean {
  return ((bitmapWord >> permit2NonceSlot(nonce).bitPosition) & 1n) === 1n;
}

export const permit2NonceBitmapAbi = [
  {
    type: 'function',
    name: 'nonceBitmap',
    stateMutability: 'view',
    inputs: [
      { name: 'owner', type: 'address' },
      { name: 'wordPosition', type: 'uint256' },
    ],
    outputs: [{ name: '', type: 'uint256' }],
  },
] as const;

/** The readContract arguments that tell whether a Permit2 nonce was spent. */
export function permit2NonceBitmapRead(owner: Address, nonce: bigint) {
  return {
    address: PERMIT2_ADDRESS,
    abi: permit2NonceBitmapAbi,
    functionName: 'nonceBitmap',
    args: [getAddress(owner), permit2NonceSlot(nonce).wordPosition],
  } as const;
}

interface Permit2Common {
  readonly chainId: number;
  readonly token: Address;
  /** exact: the price; upto: the maximum the seller may settle. */
  readonly amountAtomic: bigint;
  readonly payTo: Address;
  readonly nonce: bigint;
  /** Permit2's deadline: the signature is dead after it. */
  readonly deadlineSec: number;
  readonly validAfterSec: number;
}

export type ExactPermit2Input = Permit2Common;

export interface UptoPermit2Input extends Permit2Common {
  /** From the requirement's `extra.facilitatorAddress`: the only caller allowed to settle. */
  readonly facilitator: Address;
}

export interface Permit2Domain {
  readonly name: 'Permit2';
  readonly chainId: number;
  readonly verifyingContract: Address;
}

interface Permit2MessageBase {
  readonly permitted: { readonly token: Address; readonly amount: bigint };
  readonly spender: Address;
  readonly nonce: bigint;
  readonly deadline: bigint;
}

export interface ExactPermit2TypedData {
  readonly domain: Permit2Domain;
  readonly types: typeof exactPermit2WitnessTypes;
  readonly primaryType: 'PermitWitnessTransferFrom';
  readonly message: Permit2MessageBase & { readonly witness: { readonly to: Address; readonly validAfter: bigint } };
}

export interface UptoPermit2TypedData {
  readonly domain: Permit2Domain;
  readonly types: typeof uptoPermit2WitnessTypes;
  readonly primaryType: 'PermitWitnessTransferFrom';
  readonly message: Permit2MessageBase & {
    readonly witness: { readonly to: Address; readonly facilitator: Address; readonly validAfter: bigint };
  };
}

function checkCommon(what: string, input: Permit2Common): void {
  if (!Number.isSafeInteger(input.chainId) || input.chainId <= 0) throw new RangeError(`${what}: chainId must be a positive integer`);
  if (input.amountAtomic <= 0n || input.amountAtomic > UINT256_MAX) throw new RangeError(`${what}: amountAtomic must be a positive uint256`);
  if (input.nonce < 0n || input.nonce > UINT256_MAX) throw new RangeError(`${what}: nonce must be a uint256`);
  if (!Number.isSafeInteger(input.validAfterSec) || !Number.isSafeInteger(input.deadlineSec)) {
    throw new RangeError(`${what}: validity bounds must be integer seconds`);
  }
  if (input.validAfterSec < 0 || input.deadlineSec <= input.validAfterSec) throw new RangeError(`${what}: deadlineSec must be after validAfterSec`);
}

function permit2Domain(chainId: number): Permit2Domain {
  return { name: 'Permit2', chainId, verifyingContract: PERMIT2_ADDRESS };
}

/** The typed data of an x402 `exact` payment through Permit2 (@x402/evm createPermit2Payload). */
export function exactPermit2TypedData(input: ExactPermit2Input): ExactPermit2TypedData {
  checkCommon('exactPermit2TypedData', input);
  return {
    domain: permit2Domain(input.chainId),
    types: exactPermit2WitnessTypes,
    primaryType: 'PermitWitnessTransferFrom',
    message: {
      permitted: { token: getAddress(input.token), amount: input.amountAtomic },
      spender: X402_EXACT_PERMIT2_PROXY_ADDRESS,
      nonce: input.nonce,
      deadline: BigInt(input.deadlineSec),
      witness: { to: getAddress(input.payTo), validAfter: BigInt(input.validAfterSec) },
    },
  };
}

/** The typed data of an x402 `upto` payment (@x402/evm createUptoPermit2Payload). */
export function uptoPermit2TypedData(input: UptoPermit2Input): UptoPermit2TypedData {
  checkCommon('uptoPermit2TypedData', input);
  return {
    domain: permit2Domain(input.chainId),
    types: uptoPermit2WitnessTypes,
    primaryType: 'PermitWitnessTransferFrom',
    message: {
      permitted: { token: getAddress(input.token), amount: input.amountAtomic },
      spender: X402_UPTO_PERMIT2_PROXY_ADDRESS,
      nonce: input.nonce,
      deadline: BigInt(input.deadlineSec),
      witness: {
        to: getAddress(input.payTo),
        facilitator: getAddress(input.facilitator),
        validAfter: BigInt(input.validAfterSec),
      },
    },
  };
}

export interface Permit2Authorization<Witness> {
  readonly from: Address;
  readonly permitted: { readonly token: Address; readonly amount: string };
  readonly spender: Address;
  readonly nonce: string;
  readonly deadline: string;
  readonly witness: Witness;
}

export interface ExactPermit2Payload {
  readonly signature: Hex;
  readonly permit2Authorization: Permit2Authorization<{ readonly to: Address; readonly validAfter: string }>;
}

export interface UptoPermit2Payload {
  readonly signature: Hex;
  readonly permit2Authorization: Permit2Authorization<{ readonly to: Address; readonly facilitator: Address; readonly validAfter: string }>;
}

// The authorization's common part, numbers as decimal strings as the official client sends them.
function permit2Authorization(from: Address, message: Permit2MessageBase): Omit<Permit2Authorization<never>, 'witness'> {
  return {
    from: getAddress(from),
    permitted: { token: message.permitted.token, amount: message.permitted.amount.toString(10) },
    spender: message.spender,
    nonce: message.nonce.toString(10),
    deadline: message.deadline.toString(10),
  };
}

/** The `payload` of PAYMENT-SIGNATURE for `exact` via Permit2. */
export function exactPermit2Payload(signature: Hex, from: Address, typedData: ExactPermit2TypedData): ExactPermit2Payload {
  const { witness } = typedData.message;
  return {
    signature,
    permit2Authorization: { ...permit2Authorization(from, typedData.message), witness: { to: witness.to, validAfter: witness.validAfter.toString(10) } },
  };
}

/** The `payload` of PAYMENT-SIGNATURE for `upto`. */
export function uptoPermit2Payload(signature: Hex, from: Address, typedData: UptoPermit2TypedData): UptoPermit2Payload {
  const { witness } = typedData.message;
  return {
    signature,
    permit2Authorization: {
      ...permit2Authorization(from, typedData.message),
      witness: { to: witness.to, facilitator: witness.facilitator, validAfter: witness.validAfter.toString(10) },
    },
  };
}

const erc20ApproveAbi = [
  {
    type: 'function',
    name: 'approve',
    stateMutability: 'nonpayable',
    inputs: [
      { name: 'spender', type: 'address' },
      { name: 'amount', type: 'uint256' },
    ],
    outputs: [{ type: 'bool' }],
  },
] as const;

export const erc20AllowanceAbi = [
  {
    type: 'function',
    name: 'allowance',
    stateMutability: 'view',
    inputs: [
      { name: 'owner', type: 'address' },
      { name: 'spender', type: 'address' },
    ],
    outputs: [{ type: 'uint256' }],
  },
] as const;

/**
 * The transaction that lets Permit2 move up to `amountAtomic` of `token` for the wallet.
 * An allowance is standing authority over the wallet's tokens, so only a bounded amount is
 * built here: the official client's `createPermit2ApprovalTx` approves 2^256 − 1, which
 * many tokens treat as never decreasing. Who may grant it, and the audit event, belong to
 * the caller; this only says what would be sent.
 */
export function permit2ApproveCall(token: Address, amountAtomic: bigint): { readonly to: Address; readonly data: Hex } {
  if (amountAtomic <= 0n || amountAtomic >= UINT256_MAX) {
    throw new RangeError('permit2ApproveCall: the allowance must be positive and bounded (below 2^256 - 1)');
  }
  return {
    to: getAddress(token),
    data: encodeFunctionData({ abi: erc20ApproveAbi, functionName: 'approve', args: [PERMIT2_ADDRESS, amountAtomic] }),
  };
}

/** The readContract arguments of the wallet's current allowance to Permit2. */
export function permit2AllowanceRead(token: Address, owner: Address) {
  return {
    address: getAddress(token),
    abi: erc20AllowanceAbi,
    functionName: 'allowance',
    args: [getAddress(owner), PERMIT2_ADDRESS],
  } as const;
}
