import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import type { Abi, Hex } from 'viem';

import { repoRoot } from './repo-root.js';

const require = createRequire(import.meta.url);
const contractsDir = join(repoRoot, 'libs', 'devnet', 'contracts');
const cacheDir = join(repoRoot, '.cache', 'x402-kit');

// Pinned so the bytecode is reproducible and the cache key stays meaningful; prague is
// what the kit's anvil runs.
const EVM_VERSION = 'prague';
const SOURCES = ['TestUSD.sol', 'Multicall3Lite.sol'] as const;
export type ContractName = 'TestUSD' | 'Multicall3Lite';

export interface ContractArtifact {
  readonly abi: Abi;
  readonly bytecode: Hex;
  readonly deployedBytecode: Hex;
}

export type KitArtifacts = Readonly<Record<ContractName, ContractArtifact>>;

interface SolcOutput {
  errors?: Array<{ severity: string; formattedMessage: string }>;
  contracts?: Record<
    string,
    Record<string, { abi: Abi; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>
  >;
}

interface Solc {
  version(): string;
  compile(input: string, callbacks: { import: (path: string) => { contents: string } | { error: string } }): string;
}

/**
 * Compiles the kit's contracts offline with the solc npm package and caches the result
 * under .cache/x402-kit, keyed by a hash of the sources, the compiler version and the
 * settings; compiling OpenZeppelin with solc-js takes several seconds, a cache hit none.
 */
export async function compileKitContracts(): Promise<KitArtifacts> {
  const sources: Record<string, { content: string }> = {};
  for (const file of SOURCES) {
    sources[file] = { content: await readFile(join(contractsDir, file), 'utf8') };
  }
  const solc = require('solc') as Solc;
  const settings = {
    evmVersion: EVM_VERSION,
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  };
  const key = createHash('sha256')
    .update(JSON.stringify({ sources, settings, compiler: solc.version() }))
    .digest('hex')
    .slice(0, 16);
  const cachePath = join(cacheDir, `artifacts-${key}.json`);
  try {
    return JSON.parse(await readFile(cachePath, 'utf8')) as KitArtifacts;
  } catch {
    // A missing or unreadable cache entry just means compiling again.
  }

  const input = JSON.stringify({ language: 'Solidity', sources, settings });
  const output = JSON.parse(solc.compile(input, { import: resolveImport })) as SolcOutput;
  const errors = (output.errors ?? []).filter((entry) => entry.severity === 'error');
  if (errors.length > 0) {
    throw new Error(`solc failed:\n${errors.map((entry) => entry.formattedMessage).join('\n')}`);
  }
  const pick = (file: string, name: ContractName): ContractArtifact => {
    const contract = output.contracts?.[file]?.[name];
    if (contract === undefined) throw new Error(`solc produced no ${name}`);
    return {
      abi: contract.abi,
      bytecode: `0x${contract.evm.bytecode.object}`,
      deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
    };
  };
  const artifacts: KitArtifacts = {
    TestUSD: pick('TestUSD.sol', 'TestUSD'),
    Multicall3Lite: pick('Multicall3Lite.sol', 'Multicall3Lite'),
  };
  await mkdir(cacheDir, { recursive: true });
  // Write then rename so a concurrent reader never sees a half-written artifact.
  const temporary = `${cachePath}.${process.pid}.tmp`;
  await writeFile(temporary, JSON.stringify(artifacts));
  await rename(temporary, cachePath);
  // The name the brief promises, for humans and other tools; the keyed file is what we read.
  await writeFile(join(cacheDir, 'TestUSD.json'), JSON.stringify({ key, ...artifacts.TestUSD }));
  return artifacts;
}

// Only OpenZeppelin imports are resolved, from node_modules; anything else is an error so
// the build never silently picks up a file from outside the repository.
function resolveImport(path: string): { contents: string } | { error: string } {
  if (!path.startsWith('@openzeppelin/contracts/') || path.includes('..')) {
    return { error: `import not allowed: ${path}` };
  }
  try {
    const file = require.resolve(path);
    return { contents: readFileSync(file, 'utf8') };
  } catch {
    return { error: `import not found: ${path}` };
  }
}
