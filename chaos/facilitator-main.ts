import type { Hex } from 'viem';

import { startFacilitator } from '../libs/devnet/facilitator.js';

// The official x402 facilitator of the devnet kit, in its own process: it submits every
// settlement of the run to anvil, and must not share an event loop with the load generator.

const rpcUrl = process.env.CHAOS_RPC_URL;
const privateKey = process.env.CHAOS_FACILITATOR_KEY;
if (rpcUrl === undefined || privateKey === undefined) throw new Error('CHAOS_RPC_URL and CHAOS_FACILITATOR_KEY must be set');
const facilitator = await startFacilitator({ rpcUrl, privateKey: privateKey as Hex });
console.log(JSON.stringify({ msg: 'chaos facilitator ready', url: facilitator.url }));
const stop = (): void => void facilitator.close().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
