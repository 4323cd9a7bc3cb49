import { HTTPFacilitatorClient, x402ResourceServer } from '@x402/core/server';
import { ExactEvmScheme } from '@x402/evm/exact/server';
import { paymentMiddleware } from '@x402/express';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Address } from 'viem';

import { ANVIL_CHAIN_ID } from './anvil.js';
import { listenLoopback } from './http-server.js';

/**
 * What the seller does once a request carries a payment header. The `*_before_settle`
 * modes answer before the facilitator is called, so nothing is paid; the `*_after_settle`
 * modes let settlement land on chain and then fail the answer, which is the case where
 * the buyer cannot tell from HTTP whether it paid.
 */
export type SellerMode =
  | 'normal'
  | 'fail_502_before_settle'
  | 'hang_before_settle'
  | 'fail_502_after_settle'
  | 'hang_after_settle';

export interface SellerOptions {
  readonly facilitatorUrl: string;
  readonly token: Address;
  readonly payTo: Address;
  readonly priceAtomic?: string;
  readonly maxTimeoutSeconds?: number;
  /** A hanging answer is cut (socket destroyed) after this long, so no test waits forever. */
  readonly hangMaxMs?: number;
}

export interface SellerHandle {
  readonly url: string;
  readonly network: `eip155:${number}`;
  setMode(mode: SellerMode): void;
  setPrice(priceAtomic: string): void;
  setPayTo(payTo: Address): void;
  /** Requests that arrived with a payment header, whatever the mode did with them. */
  paidRequestCount(): number;
  close(): Promise<void>;
}

const PAYMENT_HEADERS = ['payment-signature', 'x-payment'] as const;
const DEFAULT_HANG_MAX_MS = 120_000;

export async function startSeller(options: SellerOptions): Promise<SellerHandle> {
  const network = `eip155:${ANVIL_CHAIN_ID}` as const;
  const state = {
    mode: 'normal' as SellerMode,
    priceAtomic: options.priceAtomic ?? '10000',
    payTo: options.payTo,
    paidRequests: 0,
  };
  const hangMaxMs = options.hangMaxMs ?? DEFAULT_HANG_MAX_MS;
  const hanging = new Set<ReturnType<typeof setTimeout>>();

  const resourceServer = new x402ResourceServer(
    new HTTPFacilitatorClient({ url: options.facilitatorUrl, timeoutMs: 30_000 }),
  ).register(network, new ExactEvmScheme());

  const routes = {
    'GET /data': {
      accepts: {
        scheme: 'exact',
        network,
        // Functions, so tests can change price and payee between requests.
        price: () => ({
          amount: state.priceAtomic,
          asset: options.token,
          extra: { name: 'Test USD', version: '1' },
        }),
        payTo: () => state.payTo,
        maxTimeoutSeconds: options.maxTimeoutSeconds ?? 300,
      },
      description: 'Paid test data',
      mimeType: 'application/json',
    },
  };

  const hang = (res: Response) => {
    const timer = setTimeout(() => {
      hanging.delete(timer);
      res.socket?.destroy();
    }, hangMaxMs);
    hanging.add(timer);
  };

  // Runs before the payment middleware: counts paid requests and applies the
  // before-settle modes, and wraps res.end so the after-settle modes act on the final,
  // settled answer (the payment middleware buffers the handler's answer until settlement
  // succeeds and then replays it through the res.end it captured, which is this one).
  const modeSwitch = (req: Request, res: Response, next: NextFunction) => {
    if (!PAYMENT_HEADERS.some((name) => req.headers[name] !== undefined)) return next();
    state.paidRequests += 1;
    const mode = state.mode;
    if (mode === 'fail_502_before_settle') {
      res.status(502).json({ error: 'bad_gateway' });
      return;
    }
    if (mode === 'hang_before_settle') {
      hang(res);
      return;
    }
    if (mode === 'fail_502_after_settle' || mode === 'hang_after_settle') {
      const end = res.end.bind(res) as (...args: unknown[]) => Response;
      res.end = ((...args: unknown[]) => {
        const settled = res.statusCode < 400 && res.getHeader('PAYMENT-RESPONSE') !== undefined;
        if (!settled) return end(...args);
        if (mode === 'hang_after_settle') {
          hang(res);
          return res;
        }
        res.removeHeader('PAYMENT-RESPONSE');
        // The replacement body is not the original's length; a stale Content-Length would never complete.
        res.removeHeader('Content-Length');
        res.statusCode = 502;
        res.setHeader('content-type', 'application/json');
        return end(JSON.stringify({ error: 'bad_gateway' }));
      }) as Response['end'];
    }
    next();
  };

  const app = express();
  app.use(modeSwitch);
  app.use(paymentMiddleware(routes, resourceServer));
  app.get('/data', (_req, res) => {
    res.json({ data: 'paid content', price: state.priceAtomic, at: new Date().toISOString() });
  });
  app.get('/health', (_req, res) => {
    res.json({ ok: true });
  });

  const listening = await listenLoopback(app);
  return {
    url: listening.url,
    network,
    setMode: (mode) => {
      state.mode = mode;
    },
    setPrice: (priceAtomic) => {
      if (!/^[1-9][0-9]{0,77}$/.test(priceAtomic)) throw new RangeError('setPrice: atomic integer string expected');
      state.priceAtomic = priceAtomic;
    },
    setPayTo: (payTo) => {
      state.payTo = payTo;
    },
    paidRequestCount: () => state.paidRequests,
    close: async () => {
      for (const timer of hanging) clearTimeout(timer);
      hanging.clear();
      await listening.close();
    },
  };
}
