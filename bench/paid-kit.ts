import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createPublicClient, http, parseAbi, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilDevKey, KIT_ACCOUNT_INDEX } from '../libs/devnet/deploy.js';
import { repoRoot } from './processes.js';

// Starts bench/paid-kit-process.ts (compiled) and reads its facts; see that file for why
// the kit runs in a process of its own.

export const KIT_READY_PREFIX = 'PAID_KIT_READY ';

export interface KitFacts {
  rpcUrl: string;
  network: string;
  token: Address;
  payerAddress: Address;
  sellerDataUrl: string;
  payTo: Address;
  facilitatorUrl: string;
  priceAtomic: string;
}

export interface KitProcess extends KitFacts {
  pid: number;
  /** The kit's payer: anvil's well-known development key #1, derived here rather than sent over a pipe. */
  payerPrivateKey: Hex;
  /** The token balance of an address, read from anvil. */
  balanceOf(address: Address): Promise<bigint>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 120_000;
const OUTPUT_CHARS_MAX = 20_000;
const ERC20_ABI = parseAbi(['function balanceOf(address) view returns (uint256)']);

export async function startKitProcess(priceAtomic: string): Promise<KitProcess> {
  const child = spawn(process.execPath, [join(repoRoot, 'dist', 'bench', 'paid-kit-process.js')], {
    env: { PATH: process.env.PATH ?? '', BENCH_KIT_PRICE_ATOMIC: priceAtomic },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const facts = await new Promise<KitFacts>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the x402 kit process was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`));
    }, READY_TIMEOUT_MS);
    const append = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-OUTPUT_CHARS_MAX);
      const line = output.split('\n').find((l) => l.startsWith(KIT_READY_PREFIX));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve(JSON.parse(line.slice(KIT_READY_PREFIX.length)) as KitFacts);
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the x402 kit process exited (${code ?? signal}) before it was ready:\n${output}`));
    });
  });
  const payerPrivateKey = anvilDevKey(KIT_ACCOUNT_INDEX.payer);
  if (privateKeyToAccount(payerPrivateKey).address.toLowerCase() !== facts.payerAddress.toLowerCase()) {
    child.kill('SIGKILL');
    throw new Error(`the kit's payer ${facts.payerAddress} is not anvil's development account #${KIT_ACCOUNT_INDEX.payer}`);
  }
  const client = createPublicClient({ transport: http(facts.rpcUrl) });
  return {
    ...facts,
    pid: child.pid ?? -1,
    payerPrivateKey,
    balanceOf: (address) => client.readContract({ address: facts.token, abi: ERC20_ABI, functionName: 'balanceOf', args: [address] }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
