import { randomBytes } from 'node:crypto';

import express from 'express';
import { Mppx, evm } from 'mppx/server';
import { formatUnits, type Address } from 'viem';

import { ANVIL_CHAIN_ID } from './anvil.js';
import { listenLoopback } from './http-server.js';

// An MPP seller built on the official `mppx` server (mppx/server, `evm.charge`), settling
// on the local chain through the official x402 facilitator, as mppx's EVM charge does when
// given `x402.facilitator`. Its 402 carries both an MPP challenge (`WWW-Authenticate:
// Payment …`) and an x402 `exact` offer (`PAYMENT-REQUIRED`) for the same payment: mppx
// writes both for every EVM charge, so this one route is also the route whose 402 offers
// two rails, and paying both would be paying twice.
//
//   GET /mpp   evm/charge of `priceAtomic` of the EIP-3009 token to `payTo`.

export interface MppSellerOptions {
  readonly facilitatorUrl: string;
  readonly token: Address;
  readonly tokenDomain: { readonly name: string; readonly version: string };
  readonly tokenDecimals: number;
  readonly payTo: Address;
  readonly priceAtomic: bigint;
}

export interface MppSellerHandle {
  readonly url: string;
  readonly realm: string;
  /** Requests that carried a credential of either rail, whatever came of them. */
  paidRequestCount(): number;
  close(): Promise<void>;
}

export const MPP_SELLER_REALM = 'mpp-seller.devnet.paybound';

export async function startMppSeller(options: MppSellerOptions): Promise<MppSellerHandle> {
  const payments = Mppx.create({
    methods: [
      evm.charge({
        currency: options.token,
        recipient: options.payTo,
        chainId: ANVIL_CHAIN_ID,
        decimals: options.tokenDecimals,
        authorization: options.tokenDomain,
        x402: { facilitator: options.facilitatorUrl },
      }),
    ],
    // A fresh key per seller: challenges are HMAC-bound to it, so none outlives the process.
    secretKey: randomBytes(32).toString('base64'),
    realm: MPP_SELLER_REALM,
  });
  const charge = Mppx.toNodeListener(payments.charge({ amount: formatUnits(options.priceAtomic, options.tokenDecimals) }));
  let paidRequests = 0;

  const app = express();
  app.get('/mpp', async (req, res) => {
    if (req.headers['authorization'] !== undefined || req.headers['payment-signature'] !== undefined) paidRequests += 1;
    const result = await charge(req, res);
    // On 402 mppx has written the challenge; on 200 it has set the receipt header.
    if (result.status === 402) return;
    res.json({ data: 'paid with mpp or x402' });
  });

  const listening = await listenLoopback(app);
  return {
    url: listening.url,
    realm: MPP_SELLER_REALM,
    paidRequestCount: () => paidRequests,
    close: () => listening.close(),
  };
}
