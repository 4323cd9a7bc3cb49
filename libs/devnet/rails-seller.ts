import { HTTPFacilitatorClient, x402ResourceServer } from '@x402/core/server';
import { ExactEvmScheme } from '@x402/evm/exact/server';
import { UptoEvmScheme } from '@x402/evm/upto/server';
import { paymentMiddleware, setSettlementOverrides } from '@x402/express';
import { declarePaymentIdentifierExtension } from '@x402/extensions/payment-identifier';
import express from 'express';
import type { Address } from 'viem';

import { ANVIL_CHAIN_ID } from './anvil.js';
import { listenLoopback } from './http-server.js';

// An x402 seller built on the official packages only, for the rails Permit2 opens:
//   GET /exact-permit2  `exact` through Permit2 on a token without EIP-3009;
//   GET /upto           `upto`: the buyer signs a maximum, the route settles what it used.
// Both advertise the `payment-identifier` extension.

export interface RailsSellerOptions {
  readonly facilitatorUrl: string;
  /** The token both routes are priced in (a plain ERC-20 is the point). */
  readonly token: Address;
  readonly payTo: Address;
  readonly exactPriceAtomic: string;
  readonly uptoMaxAtomic: string;
  readonly uptoUsedAtomic: string;
}

export interface RailsSellerHandle {
  readonly url: string;
  /** What the upto route settles for the next requests, at most the maximum. */
  setUptoUsed(usedAtomic: string): void;
  close(): Promise<void>;
}

const ATOMIC = /^(0|[1-9][0-9]{0,77})$/;

export async function startRailsSeller(options: RailsSellerOptions): Promise<RailsSellerHandle> {
  const network = `eip155:${ANVIL_CHAIN_ID}` as const;
  const state = { uptoUsedAtomic: options.uptoUsedAtomic };
  const resourceServer = new x402ResourceServer(new HTTPFacilitatorClient({ url: options.facilitatorUrl, timeoutMs: 30_000 }))
    .register(network, new ExactEvmScheme())
    .register(network, new UptoEvmScheme());
  const paymentIdentifier = { 'payment-identifier': declarePaymentIdentifierExtension(false) };
  const routes = {
    'GET /exact-permit2': {
      accepts: {
        scheme: 'exact',
        network,
        price: { amount: options.exactPriceAtomic, asset: options.token, extra: { assetTransferMethod: 'permit2' } },
        payTo: options.payTo,
        maxTimeoutSeconds: 300,
      },
      description: 'Paid through Permit2',
      mimeType: 'application/json',
      extensions: paymentIdentifier,
    },
    'GET /upto': {
      accepts: {
        scheme: 'upto',
        network,
        price: { amount: options.uptoMaxAtomic, asset: options.token, extra: { assetTransferMethod: 'permit2' } },
        payTo: options.payTo,
        maxTimeoutSeconds: 300,
      },
      description: 'Metered: pay what you use, up to the maximum',
      mimeType: 'application/json',
      extensions: paymentIdentifier,
    },
  };

  const app = express();
  app.use(paymentMiddleware(routes, resourceServer));
  app.get('/exact-permit2', (_req, res) => {
    res.json({ data: 'paid through Permit2' });
  });
  app.get('/upto', (_req, res) => {
    // The official way for a route to settle less than the signed maximum.
    setSettlementOverrides(res, { amount: state.uptoUsedAtomic });
    res.json({ data: 'metered content', usedAtomic: state.uptoUsedAtomic });
  });

  const listening = await listenLoopback(app);
  return {
    url: listening.url,
    setUptoUsed: (usedAtomic) => {
      if (!ATOMIC.test(usedAtomic)) throw new RangeError('setUptoUsed: atomic integer string expected');
      state.uptoUsedAtomic = usedAtomic;
    },
    close: () => listening.close(),
  };
}
