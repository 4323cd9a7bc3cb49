import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { freePort, sleep } from './net.js';
import { repoRoot } from './repo-root.js';

const ANVIL_BIN = join(repoRoot, 'node_modules', '.bin', 'anvil');
const READY_TIMEOUT_MS = 15_000;
const READY_POLL_MS = 50;
const STOP_TIMEOUT_MS = 3_000;
export const ANVIL_CHAIN_ID = 31337;

export interface AnvilHandle {
  readonly rpcUrl: string;
  readonly chainId: typeof ANVIL_CHAIN_ID;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts a private anvil on loopback and waits, bounded, until it answers eth_chainId. */
export async function startAnvil(options: { blockTimeSec?: number } = {}): Promise<AnvilHandle> {
  const port = await freePort();
  const args = ['--host', '127.0.0.1', '--port', String(port), '--hardfork', 'prague', '--chain-id', String(ANVIL_CHAIN_ID), '--silent'];
  // Without --block-time anvil mines one block per transaction at once, which is what
  // the tests want; a block time makes settlement latency look like a real chain.
  if (options.blockTimeSec !== undefined) args.push('--block-time', String(options.blockTimeSec));
  const child = spawn(ANVIL_BIN, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 4_096) stderr += chunk;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('startAnvil: spawn failed');
  let exited = false;
  const exitedPromise = new Promise<void>((resolveExit) =>
    child.once('exit', () => {
      exited = true;
      resolveExit();
    }),
  );
  // If the test process dies without calling stop(), do not leave anvil running.
  const killOnExit = () => {
    if (!exited) process.kill(pid, 'SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async () => {
    process.removeListener('exit', killOnExit);
    if (exited) return;
    process.kill(pid, 'SIGTERM');
    const stopped = await Promise.race([exitedPromise.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)]);
    if (!stopped && !exited) {
      process.kill(pid, 'SIGKILL');
      await Promise.race([exitedPromise, sleep(STOP_TIMEOUT_MS)]);
    }
  };

  const rpcUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exited) throw new Error(`startAnvil: anvil exited early: ${stderr.trim()}`);
    try {
      const response = await fetch(rpcUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal: AbortSignal.timeout(1_000),
      });
      const body = (await response.json()) as { result?: string };
      if (body.result !== undefined && Number(body.result) === ANVIL_CHAIN_ID) {
        return { rpcUrl, chainId: ANVIL_CHAIN_ID, pid, stop };
      }
    } catch {
      // Not listening yet; poll again.
    }
    await sleep(READY_POLL_MS);
  }
  await stop();
  throw new Error(`startAnvil: not ready within ${READY_TIMEOUT_MS} ms: ${stderr.trim()}`);
}
