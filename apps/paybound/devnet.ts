import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { X402Kit } from '../../test/support/x402-kit/index.js';

// The only place `npm start` reaches into the x402 test kit (a local chain, the test dollar
// token, the official @x402 seller and facilitator). When the kit moves to libs/devnet/,
// the import below is the one line to change.
export type { X402Kit } from '../../test/support/x402-kit/index.js';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The kit finds the anvil binary and its Solidity sources relative to its own file, which
 * is right under vitest (source tree) but not once compiled into dist/. Until the kit
 * resolves them from the repository root itself, two links make dist/ look like the source
 * tree for it: dist/node_modules and dist/test/support/x402-kit/contracts.
 */
function linkKitFiles(repoRoot: string): void {
  const distRoot = join(repoRoot, 'dist');
  if (!here.startsWith(distRoot)) return;
  const links: [string, string][] = [
    [join(distRoot, 'node_modules'), join(repoRoot, 'node_modules')],
    [join(distRoot, 'test', 'support', 'x402-kit', 'contracts'), join(repoRoot, 'test', 'support', 'x402-kit', 'contracts')],
  ];
  for (const [link, target] of links) {
    if (existsSync(link)) continue;
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(relative(dirname(link), target), link, 'dir');
  }
}

export async function startDevnet(repoRoot: string): Promise<X402Kit> {
  linkKitFiles(resolve(repoRoot));
  const { startX402Kit } = await import('../../test/support/x402-kit/index.js');
  return startX402Kit();
}
