import { privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';
import type { TransferWithAuthorizationTypedData } from '../x402/eip3009.js';
import type { ExactPermit2TypedData, UptoPermit2TypedData } from '../x402/permit2.js';

/**
 * The one thing the worker does with a key: sign a transfer authorization. The key lives
 * only in the viem account's closure; this object exposes the address and nothing else, and
 * prints as its address if it is ever logged or serialised by mistake.
 */
export interface PaymentSigner {
  readonly address: Address;
  signTransferAuthorization(typedData: TransferWithAuthorizationTypedData): Promise<Hex>;
  /** A Permit2 witness transfer to one of x402's proxies (exact or upto). */
  signPermit2Transfer(typedData: ExactPermit2TypedData | UptoPermit2TypedData): Promise<Hex>;
}

export function localSigner(privateKey: Hex): PaymentSigner {
  const account = privateKeyToAccount(privateKey);
  const signer: PaymentSigner & { toJSON(): string } = {
    address: account.address,
    signTransferAuthorization: (typedData) => account.signTypedData({ ...typedData, message: { ...typedData.message } }),
    // Each witness type on its own, so the typed-data check sees one shape at a time.
    signPermit2Transfer: (typedData) =>
      'facilitator' in typedData.message.witness
        ? account.signTypedData({ ...(typedData as UptoPermit2TypedData), message: { ...(typedData as UptoPermit2TypedData).message } })
        : account.signTypedData({ ...(typedData as ExactPermit2TypedData), message: { ...(typedData as ExactPermit2TypedData).message } }),
    toJSON: () => `PaymentSigner(${account.address})`,
  };
  Object.defineProperty(signer, Symbol.for('nodejs.util.inspect.custom'), { value: () => `PaymentSigner(${account.address})` });
  return Object.freeze(signer);
}
