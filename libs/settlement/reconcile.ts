// What to do with a signed payment, from what the chain shows: the rule that keeps money held
// until the chain proves either that the authorization executed or that it never can.

/** One consistent reading of the chain, all taken at `blockNumber`. */
export interface ChainObservation {
  blockNumber: bigint;
  blockTimeSec: number;
  /** `authorizationState(payer, nonce)` at that block. */
  authorizationUsed: boolean;
  /** The transfer that used the authorization, when it was found. */
  transfer: { transaction: string; amountAtomic: bigint } | null;
}

export interface OpenPayment {
  amountAtomic: bigint;
  validBeforeSec: number;
}

export type Reconciliation =
  | { kind: 'settle'; transaction: string; amountAtomic: bigint }
  | { kind: 'release'; chainTime: string }
  | { kind: 'wait'; reason: 'not_expired' | 'transaction_not_found' | 'transfer_exceeds_reserved' };

export function decideReconciliation(payment: OpenPayment, chain: ChainObservation): Reconciliation {
  if (chain.authorizationUsed) {
    // Used but the transfer is not found yet (a log search window, a lagging node): the
    // money was paid, so it stays held until the evidence is found; never released.
    if (chain.transfer === null) return { kind: 'wait', reason: 'transaction_not_found' };
    // More than was signed cannot move under this authorization; if it seems to, the
    // evidence is wrong and a person must look, so nothing is recorded.
    if (chain.transfer.amountAtomic <= 0n || chain.transfer.amountAtomic > payment.amountAtomic) return { kind: 'wait', reason: 'transfer_exceeds_reserved' };
    return { kind: 'settle', transaction: chain.transfer.transaction, amountAtomic: chain.transfer.amountAtomic };
  }
  // EIP-3009 refuses execution once block.timestamp >= validBefore, and block timestamps
  // never go back, so unused at such a block means unusable forever.
  if (chain.blockTimeSec >= payment.validBeforeSec) return { kind: 'release', chainTime: new Date(chain.blockTimeSec * 1000).toISOString() };
  return { kind: 'wait', reason: 'not_expired' };
}

/** Next check of a payment that must wait: doubling from the base, capped. */
export function nextCheckDelayMs(attempt: number, baseMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(attempt, 0), 16);
  return Math.min(baseMs * 2 ** exponent, maxMs);
}
