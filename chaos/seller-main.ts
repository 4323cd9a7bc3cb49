import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Address } from 'viem';

import { startSeller, type SellerMode } from '../libs/devnet/seller.js';

// One seller of the chaos run, in its own process so that it can be killed mid-request: the
// official @x402/express seller of the devnet kit in one of its modes. With a settle delay,
// its calls to the facilitator's /settle wait that long first: the seller that settles late,
// after the buyer has given up waiting for its answer.

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined || value === '') throw new Error(`${name} is not set`);
  return value;
};

const facilitatorUrl = env('CHAOS_FACILITATOR_URL');
const settleDelayMs = Number(process.env.CHAOS_SETTLE_DELAY_MS ?? '0');

/** Forwards every call to the facilitator, holding /settle back by `settleDelayMs`. */
async function delayingRelay(target: string, delayMs: number): Promise<string> {
  const upstream = new URL(target);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const forward = (): void => {
      const out = httpRequest({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      out.on('error', () => res.destroy());
      req.pipe(out);
    };
    if (req.url?.startsWith('/settle') === true) setTimeout(forward, delayMs);
    else forward();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('relay: no address');
  return `http://127.0.0.1:${address.port}`;
}

const seller = await startSeller({
  facilitatorUrl: settleDelayMs > 0 ? await delayingRelay(facilitatorUrl, settleDelayMs) : facilitatorUrl,
  token: env('CHAOS_TOKEN') as Address,
  payTo: env('CHAOS_PAY_TO') as Address,
  priceAtomic: env('CHAOS_PRICE_ATOMIC'),
  hangMaxMs: Number(process.env.CHAOS_HANG_MAX_MS ?? '20000'),
  maxTimeoutSeconds: Number(process.env.CHAOS_MAX_TIMEOUT_SECONDS ?? '300'),
});
seller.setMode(env('CHAOS_SELLER_MODE') as SellerMode);
console.log(JSON.stringify({ msg: 'chaos seller ready', url: seller.url }));
const stop = (): void => void seller.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
