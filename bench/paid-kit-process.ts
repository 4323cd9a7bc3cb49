import { startX402Kit } from '../libs/devnet/index.js';
import { KIT_READY_PREFIX, type KitFacts } from './paid-kit.js';

// The x402 world of the paid bench in a process of its own: anvil, the TestUSD token, the
// official facilitator and the @x402/express seller (libs/devnet). A seller is a service of
// its own in life; here it also keeps the seller's and facilitator's work (verifying,
// settling, polling receipts) off the event loop that drives the load and times it.
// It prints its facts on one line, and stops when told (SIGTERM) or when its parent goes
// away (stdin closes).

const priceAtomic = process.env.BENCH_KIT_PRICE_ATOMIC ?? '1000';
const kit = await startX402Kit({ priceAtomic });

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void kit.stop().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();

const facts: KitFacts = {
  rpcUrl: kit.rpcUrl,
  network: kit.network,
  token: kit.token,
  payerAddress: kit.payer.address,
  sellerDataUrl: kit.seller.dataUrl,
  payTo: kit.seller.payTo,
  facilitatorUrl: kit.facilitator.url,
  priceAtomic,
};
process.stdout.write(`${KIT_READY_PREFIX}${JSON.stringify(facts)}\n`);
