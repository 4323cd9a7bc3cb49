import { privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import type { TransferWithAuthorizationTypedData } from '../x402/eip3009.js';

/**
 * The one thing the worker does with a key: sign a transfer authorization. The key lives
 * only in the viem account's closure; this object exposes the address and nothing else, and
 * prints as its address if it is ever logged or serialised by mistake.
 */
export interface PaymentSigner {
  readonly address: Address;
  signTransferAuthorization(typedData: TransferWithAuthorizationTypedData): Promise<Hex>;
}

export function localSigner(privateKey: Hex): PaymentSigner {
  const account = privateKeyToAccount(privateKey);
  const signer: PaymentSigner & { toJSON(): string } = {
    address: account.address,
    signTransferAuthorization: (typedData) => account.signTypedData({ ...typedData, message: { ...typedData.message } }),
    toJSON: () => `PaymentSigner(${account.address})`,
  };
  Object.defineProperty(signer, Symbol.for('nodejs.util.inspect.custom'), { value: () => `PaymentSigner(${account.address})` });
  return Object.freeze(signer);
}
