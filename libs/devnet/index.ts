import { decodePaymentRequiredHeader } from '@x402/core/http';
import { createPublicClient, http, type Address, type Hex, type PublicClient } from 'viem';

import { startAnvil, type AnvilHandle } from './anvil.js';
import { compileKitContracts, type KitArtifacts } from './compile.js';
import { deployKit, kitChain } from './deploy.js';
import { startFacilitator, type FacilitatorHandle } from './facilitator.js';
import { startSeller, type SellerHandle, type SellerMode } from './seller.js';

export type { SellerMode } from './seller.js';

export interface X402KitOptions {
  /** Price of GET /data in atomic units (6 decimals); default 10000 = 0.01 USD. */
  readonly priceAtomic?: string;
  /** Payee of the seller; default anvil dev account #3. */
  readonly payTo?: Address;
  /** Token minted to the payer at start; default 1000 USD. */
  readonly payerFundsAtomic?: bigint;
  /** Mine on an interval instead of per transaction, to mimic a real chain. */
  readonly blockTimeSec?: number;
  readonly sellerHangMaxMs?: number;
  /** Called with anvil's PID as soon as it runs, before the contracts are deployed. */
  readonly onChainStarted?: (pid: number) => void;
}

export interface X402Kit {
  readonly rpcUrl: string;
  readonly chainId: 31337;
  readonly network: `eip155:${number}`;
  readonly token: Address;
  readonly payer: { readonly address: Address; readonly privateKey: Hex };
  readonly seller: {
    readonly url: string;
    /** The paid route, GET. */
    readonly dataUrl: string;
    readonly payTo: Address;
    setMode(mode: SellerMode): void;
    setPrice(priceAtomic: string): void;
    paidRequestCount(): number;
  };
  readonly facilitator: { readonly url: string; readonly address: Address };
  readonly publicClient: PublicClient;
  readonly artifacts: KitArtifacts;
  balanceOf(address: Address): Promise<bigint>;
  authorizationState(authorizer: Address, nonce: Hex): Promise<boolean>;
  stop(): Promise<void>;
}

/**
 * Starts a private x402 world from real parts: anvil, the TestUSD token, the official
 * facilitator over HTTP and an @x402/express seller. Everything listens on 127.0.0.1 on
 * free ports, so kits do not collide. Call stop() in afterAll; it is safe to call twice.
 */
export async function startX402Kit(options: X402KitOptions = {}): Promise<X402Kit> {
  const artifacts = await compileKitContracts();
  const anvil: AnvilHandle = await startAnvil(
    options.blockTimeSec === undefined ? {} : { blockTimeSec: options.blockTimeSec },
  );
  options.onChainStarted?.(anvil.pid);
  let facilitator: FacilitatorHandle | undefined;
  let seller: SellerHandle | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await seller?.close();
    await facilitator?.close();
    await anvil.stop();
  };

  try {
    const deployment = await deployKit(
      anvil.rpcUrl,
      artifacts,
      options.payerFundsAtomic === undefined ? {} : { payerFundsAtomic: options.payerFundsAtomic },
    );
    facilitator = await startFacilitator({ rpcUrl: anvil.rpcUrl, privateKey: deployment.facilitatorKey });
    const payTo = options.payTo ?? deployment.payTo;
    seller = await startSeller({
      facilitatorUrl: facilitator.url,
      token: deployment.token,
      payTo,
      ...(options.priceAtomic === undefined ? {} : { priceAtomic: options.priceAtomic }),
      ...(options.sellerHangMaxMs === undefined ? {} : { hangMaxMs: options.sellerHangMaxMs }),
    });
    const dataUrl = `${seller.url}/data`;

    // List the seller in discovery with the offer it really makes, read from its 402.
    const unpaid = await fetch(dataUrl, { signal: AbortSignal.timeout(10_000) });
    const offerHeader = unpaid.headers.get('PAYMENT-REQUIRED');
    await unpaid.arrayBuffer();
    if (unpaid.status !== 402 || offerHeader === null) {
      throw new Error(`startX402Kit: seller answered ${unpaid.status} without an offer`);
    }
    const offer = decodePaymentRequiredHeader(offerHeader);
    facilitator.addDiscoveryItem({
      resource: dataUrl,
      type: 'http',
      x402Version: 2,
      accepts: offer.accepts,
      lastUpdated: new Date().toISOString(),
      description: 'Paid test data',
    });

    const publicClient = createPublicClient({ chain: kitChain(anvil.rpcUrl), transport: http(anvil.rpcUrl) });
    const sellerHandle = seller;
    const facilitatorHandle = facilitator;
    return {
      rpcUrl: anvil.rpcUrl,
      chainId: anvil.chainId,
      network: sellerHandle.network,
      token: deployment.token,
      payer: deployment.payer,
      seller: {
        url: sellerHandle.url,
        dataUrl,
        payTo,
        setMode: (mode) => sellerHandle.setMode(mode),
        setPrice: (priceAtomic) => sellerHandle.setPrice(priceAtomic),
        paidRequestCount: () => sellerHandle.paidRequestCount(),
      },
      facilitator: { url: facilitatorHandle.url, address: facilitatorHandle.address },
      publicClient,
      artifacts,
      balanceOf: async (address) =>
        (await publicClient.readContract({
          address: deployment.token,
          abi: artifacts.TestUSD.abi,
          functionName: 'balanceOf',
          args: [address],
        })) as bigint,
      authorizationState: async (authorizer, nonce) =>
        (await publicClient.readContract({
          address: deployment.token,
          abi: artifacts.TestUSD.abi,
          functionName: 'authorizationState',
          args: [authorizer, nonce],
        })) as boolean,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

// The peers of the payment rails beyond exact/EIP-3009 (Permit2, upto, MPP).
export { startRailsKit, type RailsKit, type RailsKitOptions } from './rails-kit.js';
