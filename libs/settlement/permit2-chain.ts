import { decodeFunctionData, getAddress, parseAbi, parseEventLogs, type Address, type Hex, type PublicClient, type TransactionReceipt } from 'viem';
import { permit2NonceBitmapRead, permit2NonceUsed, X402_EXACT_PERMIT2_PROXY_ADDRESS, X402_UPTO_PERMIT2_PROXY_ADDRESS } from '../x402/permit2.js';
import type { AuthorizationQuery } from './chain.js';
import type { ChainObservation } from './reconcile.js';

// Chain evidence for a payment signed as a Permit2 witness transfer (x402 `exact` via
// Permit2, `upto`). Permit2 keeps one bit per nonce and emits nothing when it spends one,
// and x402's proxies emit a bare `Settled()`, so the transfer is found from the proxy call
// itself: a transaction to a proxy whose decoded `settle` names this owner and this nonce,
// and the token's Transfer from the payer to the witness's payee in its receipt. A seller's
// reported transaction is checked that way; without one, the payer's recent Transfers to
// the payee are searched, a bounded number.

const PROXY_ABI = parseAbi([
  'struct TokenPermissions { address token; uint256 amount; }',
  'struct PermitTransferFrom { TokenPermissions permitted; uint256 nonce; uint256 deadline; }',
  'struct ExactWitness { address to; uint256 validAfter; }',
  'struct UptoWitness { address to; address facilitator; uint256 validAfter; }',
  'function settle(PermitTransferFrom permit, address owner, ExactWitness witness, bytes signature)',
  'function settle(PermitTransferFrom permit, uint256 amount, address owner, UptoWitness witness, bytes signature)',
]);
const TRANSFER_ABI = parseAbi(['event Transfer(address indexed from, address indexed to, uint256 value)']);
const PROXIES: readonly Address[] = [X402_EXACT_PERMIT2_PROXY_ADDRESS, X402_UPTO_PERMIT2_PROXY_ADDRESS];
/** Transfers from the payer to the payee looked at, newest first, when no transaction was reported. */
const CANDIDATES_MAX = 32;

export async function observePermit2(client: PublicClient, query: AuthorizationQuery, lookbackBlocks: bigint): Promise<ChainObservation> {
  const block = await client.getBlock({ blockTag: 'latest' });
  const blockNumber = block.number;
  const nonce = BigInt(query.nonce);
  const word = await client.readContract({ ...permit2NonceBitmapRead(query.payer, nonce), blockNumber });
  const observation: ChainObservation = { blockNumber, blockTimeSec: Number(block.timestamp), authorizationUsed: permit2NonceUsed(word, nonce), transfer: null };
  if (!observation.authorizationUsed) return observation;
  if (query.reportedTransaction !== null) {
    const found = await permit2TransferIn(client, query.reportedTransaction, query, nonce);
    if (found !== null) return { ...observation, transfer: found };
  }
  if (query.payTo === undefined) return observation;
  const logs = await client.getLogs({
    address: query.asset,
    event: TRANSFER_ABI[0],
    args: { from: query.payer, to: query.payTo },
    fromBlock: blockNumber > lookbackBlocks ? blockNumber - lookbackBlocks : 0n,
    toBlock: blockNumber,
  });
  const hashes = [...new Set(logs.map((log) => log.transactionHash))].reverse().slice(0, CANDIDATES_MAX);
  for (const hash of hashes) {
    const found = await permit2TransferIn(client, hash, query, nonce);
    if (found !== null) return { ...observation, transfer: found };
  }
  return observation;
}

/** The amount this nonce moved in the transaction, when the transaction is its proxy settlement. */
async function permit2TransferIn(client: PublicClient, hash: Hex, query: AuthorizationQuery, nonce: bigint): Promise<{ transaction: string; amountAtomic: bigint } | null> {
  let receipt: TransactionReceipt;
  let input: Hex;
  let to: Address | null;
  try {
    const [transaction, mined] = await Promise.all([client.getTransaction({ hash }), client.getTransactionReceipt({ hash })]);
    receipt = mined;
    input = transaction.input;
    to = transaction.to;
  } catch {
    return null;
  }
  if (receipt.status !== 'success' || to === null || !PROXIES.includes(getAddress(to))) return null;
  let payee: Address;
  try {
    const call = decodeFunctionData({ abi: PROXY_ABI, data: input });
    const [permit] = call.args;
    const owner = call.args.length === 4 ? call.args[1] : call.args[2];
    const witness = call.args.length === 4 ? call.args[2] : call.args[3];
    if (permit.nonce !== nonce || getAddress(owner) !== getAddress(query.payer) || getAddress(permit.permitted.token) !== getAddress(query.asset)) return null;
    payee = getAddress(witness.to);
  } catch {
    return null;
  }
  const asset = getAddress(query.asset);
  const moved = parseEventLogs({ abi: TRANSFER_ABI, logs: receipt.logs.filter((log) => getAddress(log.address) === asset) }).filter(
    (log) => getAddress(log.args.from) === getAddress(query.payer) && getAddress(log.args.to) === payee,
  );
  if (moved.length !== 1 || moved[0] === undefined) return null;
  return { transaction: receipt.transactionHash, amountAtomic: moved[0].args.value };
}
