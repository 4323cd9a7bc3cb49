import { createPublicClient, getAddress, http, parseAbi, parseEventLogs, type Address, type Hex, type PublicClient, type TransactionReceipt } from 'viem';
import type { ChainObservation } from './reconcile.js';
import { observePermit2 } from './permit2-chain.js';

// The worker's read access to one EVM chain: just what reconciliation needs, behind a
// narrow interface so the rest of the worker does not depend on viem's client.

const TOKEN_ABI = parseAbi([
  'function authorizationState(address authorizer, bytes32 nonce) view returns (bool)',
  'event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)',
  'event Transfer(address indexed from, address indexed to, uint256 value)',
  'function balanceOf(address account) view returns (uint256)',
]);

const RPC_TIMEOUT_MS = 10_000;

export interface AuthorizationQuery {
  asset: Address;
  payer: Address;
  nonce: Hex;
  /** Where the nonce lives: the token's EIP-3009 state (default) or Permit2's nonce bitmap. */
  transfer?: 'eip3009' | 'permit2';
  /** The payee: a Permit2 transfer is found by the Transfer to it. */
  payTo?: Address;
  /** A transaction someone reported as the payment (seller's PAYMENT-RESPONSE); checked, not trusted. */
  reportedTransaction: Hex | null;
}

/** A wallet's balances, both read at the same block. */
export interface WalletBalances {
  balanceAtomic: bigint;
  nativeBalanceWei: bigint;
  blockNumber: bigint;
}

export interface EvmChainReader {
  observe(query: AuthorizationQuery): Promise<ChainObservation>;
  balances(asset: Address, owner: Address): Promise<WalletBalances>;
}

export class EvmChain implements EvmChainReader {
  private readonly client: PublicClient;

  constructor(
    rpcUrl: string,
    /** How far back the log search for an authorization's transfer goes, in blocks. */
    private readonly lookbackBlocks: bigint,
  ) {
    this.client = createPublicClient({ transport: http(rpcUrl, { timeout: RPC_TIMEOUT_MS, retryCount: 1 }) });
  }

  async chainId(): Promise<number> {
    return this.client.getChainId();
  }

  async balances(asset: Address, owner: Address): Promise<WalletBalances> {
    const blockNumber = await this.client.getBlockNumber({ cacheTime: 0 });
    const [balanceAtomic, nativeBalanceWei] = await Promise.all([
      this.client.readContract({ address: asset, abi: TOKEN_ABI, functionName: 'balanceOf', args: [owner], blockNumber }),
      this.client.getBalance({ address: owner, blockNumber }),
    ]);
    return { balanceAtomic, nativeBalanceWei, blockNumber };
  }

  async observe(query: AuthorizationQuery): Promise<ChainObservation> {
    if (query.transfer === 'permit2') return observePermit2(this.client, query, this.lookbackBlocks);
    const block = await this.client.getBlock({ blockTag: 'latest' });
    const blockNumber = block.number;
    // The state is read at the same block as its timestamp, so "unused at time T" holds.
    const authorizationUsed = await this.client.readContract({
      address: query.asset,
      abi: TOKEN_ABI,
      functionName: 'authorizationState',
      args: [query.payer, query.nonce],
      blockNumber,
    });
    const observation: ChainObservation = { blockNumber, blockTimeSec: Number(block.timestamp), authorizationUsed, transfer: null };
    if (!authorizationUsed) return observation;
    if (query.reportedTransaction !== null) {
      const receipt = await this.receipt(query.reportedTransaction);
      const transfer = receipt === undefined ? null : transferOf(receipt, query);
      if (transfer !== null) return { ...observation, transfer };
    }
    const fromBlock = blockNumber > this.lookbackBlocks ? blockNumber - this.lookbackBlocks : 0n;
    const logs = await this.client.getLogs({
      address: query.asset,
      event: TOKEN_ABI[1],
      args: { authorizer: query.payer, nonce: query.nonce },
      fromBlock,
      toBlock: blockNumber,
    });
    // A nonce is usable once, so there is at most one such log; the first one is read.
    const used = logs[0];
    if (used === undefined) return observation;
    const receipt = await this.receipt(used.transactionHash);
    return { ...observation, transfer: receipt === undefined ? null : transferOf(receipt, query) };
  }

  private async receipt(hash: Hex): Promise<TransactionReceipt | undefined> {
    try {
      return await this.client.getTransactionReceipt({ hash });
    } catch {
      // Unknown or not yet mined: no evidence from this transaction.
      return undefined;
    }
  }
}

/**
 * The amount moved by this authorization in a successful receipt: the token's Transfer from
 * the payer that follows its AuthorizationUsed(payer, nonce) log, as EIP-3009 emits them.
 */
export function transferOf(receipt: TransactionReceipt, query: Pick<AuthorizationQuery, 'asset' | 'payer' | 'nonce'>): { transaction: string; amountAtomic: bigint } | null {
  if (receipt.status !== 'success') return null;
  const asset = getAddress(query.asset);
  const logs = parseEventLogs({ abi: TOKEN_ABI, logs: receipt.logs.filter((log) => getAddress(log.address) === asset) });
  const used = logs.find(
    (log) => log.eventName === 'AuthorizationUsed' && getAddress(log.args.authorizer) === getAddress(query.payer) && log.args.nonce.toLowerCase() === query.nonce.toLowerCase(),
  );
  if (used === undefined) return null;
  const transfer = logs.find((log) => log.eventName === 'Transfer' && log.logIndex > used.logIndex && getAddress(log.args.from) === getAddress(query.payer));
  if (transfer === undefined || transfer.eventName !== 'Transfer') return null;
  return { transaction: receipt.transactionHash, amountAtomic: transfer.args.value };
}
