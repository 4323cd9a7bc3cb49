import { createPublicClient, createWalletClient, http, type Address, type Hex, type PublicClient } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

import { PERMIT2_ADDRESS, erc20AllowanceAbi, permit2ApproveCall, permit2NonceBitmapRead, permit2NonceUsed } from '../x402/permit2.js';
import { ANVIL_CHAIN_ID, startAnvil, type AnvilHandle } from './anvil.js';
import { compileKitContracts } from './compile.js';
import { deployKit, kitChain } from './deploy.js';
import { startFacilitator, type FacilitatorHandle } from './facilitator.js';
import { startMppSeller, type MppSellerHandle } from './mpp-seller.js';
import { installRailsContracts } from './permit2-peers.js';
import { compileRailsContracts } from './rails-compile.js';
import { startRailsSeller, type RailsSellerHandle } from './rails-seller.js';

// The peers Paybound's new rails are tested against, from real parts on a private anvil:
// canonical Permit2 and x402's Permit2 proxies at their canonical addresses, the EIP-3009
// test dollar and a plain ERC-20, the official x402 facilitator serving `exact` and `upto`,
// an @x402/express seller for `exact` via Permit2 and `upto`, and an mppx EVM charge seller
// whose 402 offers MPP and x402 at once.

export interface RailsKitOptions {
  /** Price of GET /mpp in the EIP-3009 token (6 decimals); default 10000 = 0.01 USD. */
  readonly mppPriceAtomic?: bigint;
  /** Price of GET /exact-permit2 in the plain token; default 20000. */
  readonly exactPermit2PriceAtomic?: bigint;
  /** The maximum of GET /upto; default 100000 = 0.10 USD. */
  readonly uptoMaxAtomic?: bigint;
  /** What GET /upto settles; default 30000 = 0.03 USD. */
  readonly uptoUsedAtomic?: bigint;
  /** Each token minted to the payer at start; default 1000 USD. */
  readonly payerFundsAtomic?: bigint;
}

export interface RailsKit {
  readonly rpcUrl: string;
  readonly chainId: typeof ANVIL_CHAIN_ID;
  readonly network: `eip155:${number}`;
  /** EIP-3009 token, EIP-712 domain ("Test USD", "1"). */
  readonly testToken: Address;
  /** Plain ERC-20: Permit2 only. */
  readonly plainToken: Address;
  readonly payer: { readonly address: Address; readonly privateKey: Hex };
  readonly payTo: Address;
  readonly facilitator: { readonly url: string; readonly address: Address };
  readonly mppUrl: string;
  readonly mppRealm: string;
  readonly exactPermit2Url: string;
  readonly uptoUrl: string;
  readonly prices: { readonly mppAtomic: bigint; readonly exactPermit2Atomic: bigint; readonly uptoMaxAtomic: bigint; readonly uptoUsedAtomic: bigint };
  readonly publicClient: PublicClient;
  setUptoUsed(usedAtomic: bigint): void;
  mppPaidRequestCount(): number;
  balanceOf(token: Address, owner: Address): Promise<bigint>;
  permit2Allowance(token: Address, owner: Address): Promise<bigint>;
  /** Whether the payer's Permit2 nonce has been spent (Permit2 `nonceBitmap`). */
  permit2NonceUsed(owner: Address, nonce: bigint): Promise<boolean>;
  /** Whether an EIP-3009 authorization of the test token has been used. */
  authorizationState(authorizer: Address, nonce: Hex): Promise<boolean>;
  /** The payer's bounded approval of Permit2, sent from the payer's own key (a test stands in for the audited grant). */
  approvePermit2(token: Address, amountAtomic: bigint): Promise<void>;
  stop(): Promise<void>;
}

const RECEIPT_TIMEOUT_MS = 30_000;
const authorizationStateAbi = [
  {
    type: 'function',
    name: 'authorizationState',
    stateMutability: 'view',
    inputs: [
      { name: 'authorizer', type: 'address' },
      { name: 'nonce', type: 'bytes32' },
    ],
    outputs: [{ type: 'bool' }],
  },
] as const;

export async function startRailsKit(options: RailsKitOptions = {}): Promise<RailsKit> {
  const kitArtifacts = await compileKitContracts();
  const railsArtifacts = await compileRailsContracts();
  const prices = {
    mppAtomic: options.mppPriceAtomic ?? 10_000n,
    exactPermit2Atomic: options.exactPermit2PriceAtomic ?? 20_000n,
    uptoMaxAtomic: options.uptoMaxAtomic ?? 100_000n,
    uptoUsedAtomic: options.uptoUsedAtomic ?? 30_000n,
  };
  const payerFundsAtomic = options.payerFundsAtomic ?? 1_000_000_000n;
  const anvil: AnvilHandle = await startAnvil();
  let facilitator: FacilitatorHandle | undefined;
  let railsSeller: RailsSellerHandle | undefined;
  let mppSeller: MppSellerHandle | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await mppSeller?.close();
    await railsSeller?.close();
    await facilitator?.close();
    await anvil.stop();
  };

  try {
    const deployment = await deployKit(anvil.rpcUrl, kitArtifacts, { payerFundsAtomic });
    const contracts = await installRailsContracts(anvil.rpcUrl, railsArtifacts, { payer: deployment.payer.address, payerFundsAtomic });
    facilitator = await startFacilitator({ rpcUrl: anvil.rpcUrl, privateKey: deployment.facilitatorKey, extraSchemes: ['upto'] });
    railsSeller = await startRailsSeller({
      facilitatorUrl: facilitator.url,
      token: contracts.plainToken,
      payTo: deployment.payTo,
      exactPriceAtomic: prices.exactPermit2Atomic.toString(),
      uptoMaxAtomic: prices.uptoMaxAtomic.toString(),
      uptoUsedAtomic: prices.uptoUsedAtomic.toString(),
    });
    mppSeller = await startMppSeller({
      facilitatorUrl: facilitator.url,
      token: deployment.token,
      tokenDomain: { name: 'Test USD', version: '1' },
      tokenDecimals: 6,
      payTo: deployment.payTo,
      priceAtomic: prices.mppAtomic,
    });

    const chain = kitChain(anvil.rpcUrl);
    const publicClient = createPublicClient({ chain, transport: http(anvil.rpcUrl) });
    const payerWallet = createWalletClient({ account: privateKeyToAccount(deployment.payer.privateKey), chain, transport: http(anvil.rpcUrl) });
    const sellers = { rails: railsSeller, mpp: mppSeller };
    return {
      rpcUrl: anvil.rpcUrl,
      chainId: ANVIL_CHAIN_ID,
      network: `eip155:${ANVIL_CHAIN_ID}`,
      testToken: deployment.token,
      plainToken: contracts.plainToken,
      payer: deployment.payer,
      payTo: deployment.payTo,
      facilitator: { url: facilitator.url, address: facilitator.address },
      mppUrl: `${mppSeller.url}/mpp`,
      mppRealm: mppSeller.realm,
      exactPermit2Url: `${railsSeller.url}/exact-permit2`,
      uptoUrl: `${railsSeller.url}/upto`,
      prices,
      publicClient,
      setUptoUsed: (usedAtomic) => sellers.rails.setUptoUsed(usedAtomic.toString()),
      mppPaidRequestCount: () => sellers.mpp.paidRequestCount(),
      balanceOf: (token, owner) =>
        publicClient.readContract({ address: token, abi: balanceOfAbi, functionName: 'balanceOf', args: [owner] }),
      permit2Allowance: (token, owner) => publicClient.readContract({ address: token, abi: erc20AllowanceAbi, functionName: 'allowance', args: [owner, PERMIT2_ADDRESS] }),
      permit2NonceUsed: async (owner, nonce) => permit2NonceUsed(await publicClient.readContract(permit2NonceBitmapRead(owner, nonce)), nonce),
      authorizationState: (authorizer, nonce) =>
        publicClient.readContract({ address: deployment.token, abi: authorizationStateAbi, functionName: 'authorizationState', args: [authorizer, nonce] }),
      approvePermit2: async (token, amountAtomic) => {
        const call = permit2ApproveCall(token, amountAtomic);
        const hash = await payerWallet.sendTransaction({ to: call.to, data: call.data });
        const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: RECEIPT_TIMEOUT_MS });
        if (receipt.status !== 'success') throw new Error('approvePermit2: the approval reverted');
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

const balanceOfAbi = [
  { type: 'function', name: 'balanceOf', stateMutability: 'view', inputs: [{ name: 'owner', type: 'address' }], outputs: [{ type: 'uint256' }] },
] as const;
