import { x402Facilitator } from '@x402/core/facilitator';
import { SettleError, VerifyError, type PaymentPayload, type PaymentRequirements } from '@x402/core/types';
import { toFacilitatorEvmSigner } from '@x402/evm';
import { ExactEvmScheme } from '@x402/evm/exact/facilitator';
import { UptoEvmScheme } from '@x402/evm/upto/facilitator';
import express, { type Request, type Response } from 'express';
import { createWalletClient, http, nonceManager, publicActions, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

import { ANVIL_CHAIN_ID } from './anvil.js';
import { kitChain } from './deploy.js';
import { listenLoopback } from './http-server.js';

const BODY_LIMIT = '64kb';
const CONFIRMATION_TIMEOUT_MS = 30_000;
const DISCOVERY_PAGE_MAX = 100;

export interface DiscoveryItem {
  readonly resource: string;
  readonly type: 'http';
  readonly x402Version: number;
  readonly accepts: readonly unknown[];
  readonly lastUpdated: string;
  readonly metadata?: Record<string, unknown>;
  readonly description?: string;
}

export interface FacilitatorHandle {
  readonly url: string;
  readonly address: Address;
  /** Adds a resource to GET /discovery/resources. */
  addDiscoveryItem(item: DiscoveryItem): void;
  close(): Promise<void>;
}

/**
 * The official x402Facilitator with the EVM `exact` scheme, behind the HTTP routes that
 * HTTPFacilitatorClient (@x402/core 2.27) calls: POST /verify and POST /settle with
 * `{x402Version, paymentPayload, paymentRequirements}`, GET /supported. It answers 200 with
 * the VerifyResponse / SettleResponse, and a non-2xx with the same shape when the library
 * throws VerifyError / SettleError, which the client turns back into those errors.
 */
export async function startFacilitator(options: {
  rpcUrl: string;
  privateKey: Hex;
  /** Schemes to serve besides `exact` (EIP-3009 and Permit2): `upto` needs canonical Permit2 and its proxy on chain. */
  extraSchemes?: readonly 'upto'[];
}): Promise<FacilitatorHandle> {
  const chain = kitChain(options.rpcUrl);
  // nonceManager hands out transaction nonces locally, so two settlements in flight do
  // not both take the pending nonce from the node and have one of them rejected.
  const account = privateKeyToAccount(options.privateKey, { nonceManager });
  // Anvil mines on demand, so a short receipt poll keeps settlement latency honest; the
  // viem default of 4 s would dominate any measured figure whenever the first poll misses.
  const client = createWalletClient({ account, chain, transport: http(options.rpcUrl), pollingInterval: 100 }).extend(
    publicActions,
  );
  // viem's typed-data generics are stricter than the signer interface's loose records, so
  // verifyTypedData needs the one cast at this seam.
  const signer = toFacilitatorEvmSigner(
    {
      address: account.address,
      readContract: (args) => client.readContract(args),
      verifyTypedData: (args) => client.verifyTypedData(args as Parameters<typeof client.verifyTypedData>[0]),
      writeContract: (args) => client.writeContract(args),
      sendTransaction: (args) => client.sendTransaction(args),
      waitForTransactionReceipt: (args) => client.waitForTransactionReceipt(args),
      getCode: (args) => client.getCode(args),
    },
    { confirmationTimeoutMs: CONFIRMATION_TIMEOUT_MS },
  );
  const facilitator = new x402Facilitator().register(`eip155:${ANVIL_CHAIN_ID}`, new ExactEvmScheme(signer));
  if (options.extraSchemes?.includes('upto') === true) facilitator.register(`eip155:${ANVIL_CHAIN_ID}`, new UptoEvmScheme(signer));
  const discovery: DiscoveryItem[] = [];

  const app = express();
  app.use(express.json({ limit: BODY_LIMIT }));

  const readRequest = (req: Request): { payload: PaymentPayload; requirements: PaymentRequirements } | undefined => {
    const body = req.body as { paymentPayload?: unknown; paymentRequirements?: unknown } | undefined;
    if (typeof body?.paymentPayload !== 'object' || typeof body.paymentRequirements !== 'object') return undefined;
    return { payload: body.paymentPayload as PaymentPayload, requirements: body.paymentRequirements as PaymentRequirements };
  };
  const badRequest = (res: Response) =>
    res.status(400).json({ error: 'body must be {x402Version, paymentPayload, paymentRequirements}' });

  app.post('/verify', async (req, res) => {
    const request = readRequest(req);
    if (request === undefined) return badRequest(res);
    try {
      res.json(await facilitator.verify(request.payload, request.requirements));
    } catch (error) {
      if (error instanceof VerifyError) {
        res.status(400).json({
          isValid: false,
          invalidReason: error.invalidReason,
          invalidMessage: error.invalidMessage,
          payer: error.payer,
        });
        return;
      }
      res.status(500).json({ error: error instanceof Error ? error.message : String(error) });
    }
  });

  app.post('/settle', async (req, res) => {
    const request = readRequest(req);
    if (request === undefined) return badRequest(res);
    try {
      res.json(await facilitator.settle(request.payload, request.requirements));
    } catch (error) {
      if (error instanceof SettleError) {
        res.status(400).json({
          success: false,
          errorReason: error.errorReason,
          errorMessage: error.errorMessage,
          payer: error.payer,
          transaction: error.transaction,
          network: error.network,
        });
        return;
      }
      res.status(500).json({ error: error instanceof Error ? error.message : String(error) });
    }
  });

  app.get('/supported', (_req, res) => {
    res.json(facilitator.getSupported());
  });

  app.get('/discovery/resources', (req, res) => {
    const limit = Math.min(Math.max(Number(req.query['limit'] ?? 20) || 20, 1), DISCOVERY_PAGE_MAX);
    const offset = Math.max(Number(req.query['offset'] ?? 0) || 0, 0);
    const type = typeof req.query['type'] === 'string' ? req.query['type'] : undefined;
    const matching = discovery.filter((item) => type === undefined || item.type === type);
    res.json({
      x402Version: 2,
      items: matching.slice(offset, offset + limit),
      pagination: { limit, offset, total: matching.length },
    });
  });

  const listening = await listenLoopback(app);
  return {
    url: listening.url,
    address: account.address,
    addDiscoveryItem: (item) => {
      if (discovery.length >= DISCOVERY_PAGE_MAX * 10) throw new Error('addDiscoveryItem: too many items');
      discovery.push(item);
    },
    close: () => listening.close(),
  };
}
