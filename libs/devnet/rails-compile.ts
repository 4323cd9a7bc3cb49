import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, normalize } from 'node:path';

import type { Abi } from 'viem';

import type { ContractArtifact } from './compile.js';
import { repoRoot } from './repo-root.js';

// Compiles the contracts the payment rails need on a local chain: canonical Permit2, x402's
// exact and upto Permit2 proxies, and a plain ERC-20. The sources are the published files
// kept under libs/devnet/contracts (see its README); the result is cached under
// .cache/x402-kit keyed by sources, settings and compiler, because Permit2 needs the IR
// pipeline, which takes solc-js tens of seconds.

const require = createRequire(import.meta.url);
const contractsDir = join(repoRoot, 'libs', 'devnet', 'contracts');
const cacheDir = join(repoRoot, '.cache', 'x402-kit');
const EVM_VERSION = 'prague';

export type RailsContractName = 'Permit2' | 'X402ExactPermit2Proxy' | 'X402UptoPermit2Proxy' | 'PlainUSD';
export type RailsArtifacts = Readonly<Record<RailsContractName, ContractArtifact>>;

interface Unit {
  readonly file: string;
  readonly contract: string;
  readonly name: RailsContractName;
}

interface Build {
  /** Permit2's own build uses the IR pipeline (its foundry.toml: via_ir = true); without it, it is "stack too deep". */
  readonly viaIR: boolean;
  readonly units: readonly Unit[];
}

const BUILDS: readonly Build[] = [
  { viaIR: true, units: [{ file: 'permit2/src/Permit2.sol', contract: 'Permit2', name: 'Permit2' }] },
  {
    // x402's foundry.toml: optimizer on, 200 runs, no IR.
    viaIR: false,
    units: [
      { file: 'x402/src/x402ExactPermit2Proxy.sol', contract: 'x402ExactPermit2Proxy', name: 'X402ExactPermit2Proxy' },
      { file: 'x402/src/x402UptoPermit2Proxy.sol', contract: 'x402UptoPermit2Proxy', name: 'X402UptoPermit2Proxy' },
      { file: 'PlainUSD.sol', contract: 'PlainUSD', name: 'PlainUSD' },
    ],
  },
];

interface SolcOutput {
  errors?: Array<{ severity: string; formattedMessage: string }>;
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>>;
}

interface Solc {
  version(): string;
  compile(input: string, callbacks: { import: (path: string) => { contents: string } | { error: string } }): string;
}

/**
 * Permit2 pins `pragma solidity 0.8.17;`. The published files stay untouched on disk; the
 * pin is widened in memory so the bundled (newer) compiler builds them unchanged otherwise.
 */
function readSource(path: string): string {
  const text = readFileSync(join(contractsDir, path), 'utf8');
  return path.startsWith('permit2/') ? text.replace(/^pragma solidity 0\.8\.17;$/m, 'pragma solidity ^0.8.17;') : text;
}

// Imports resolve to the vendored folders (Permit2 imports `solmate/src/…`) or to
// OpenZeppelin in node_modules; anything else is refused so nothing outside the repository
// is ever compiled in.
function resolveImport(path: string): { contents: string } | { error: string } {
  if (path.includes('..') || normalize(path) !== path) return { error: `import not allowed: ${path}` };
  try {
    if (path.startsWith('@openzeppelin/contracts/')) return { contents: readFileSync(require.resolve(path), 'utf8') };
    if (path.startsWith('solmate/src/') || path.startsWith('permit2/src/') || path.startsWith('x402/src/')) return { contents: readSource(path) };
  } catch {
    return { error: `import not found: ${path}` };
  }
  return { error: `import not allowed: ${path}` };
}

export async function compileRailsContracts(): Promise<RailsArtifacts> {
  const solc = require('solc') as Solc;
  const artifacts: Partial<Record<RailsContractName, ContractArtifact>> = {};
  for (const build of BUILDS) {
    const sources = Object.fromEntries(build.units.map((unit) => [unit.file, { content: readSource(unit.file) }]));
    const settings = {
      viaIR: build.viaIR,
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
    };
    // The key covers every file a build reads, imports included, so an edited dependency recompiles.
    const key = createHash('sha256')
      .update(JSON.stringify({ sources, settings, compiler: solc.version(), vendored: vendoredDigest() }))
      .digest('hex')
      .slice(0, 16);
    const cachePath = join(cacheDir, `rails-${key}.json`);
    let built: Record<string, ContractArtifact> | undefined;
    try {
      built = JSON.parse(await readFile(cachePath, 'utf8')) as Record<string, ContractArtifact>;
    } catch {
      // A missing or unreadable cache entry just means compiling again.
    }
    if (built === undefined) {
      const output = JSON.parse(solc.compile(JSON.stringify({ language: 'Solidity', sources, settings }), { import: resolveImport })) as SolcOutput;
      const errors = (output.errors ?? []).filter((entry) => entry.severity === 'error');
      if (errors.length > 0) throw new Error(`solc failed:\n${errors.map((entry) => entry.formattedMessage).join('\n')}`);
      built = {};
      for (const unit of build.units) {
        const contract = output.contracts?.[unit.file]?.[unit.contract];
        if (contract === undefined) throw new Error(`solc produced no ${unit.contract}`);
        built[unit.name] = {
          abi: contract.abi,
          bytecode: `0x${contract.evm.bytecode.object}`,
          deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
        };
      }
      await mkdir(cacheDir, { recursive: true });
      // Write then rename so a concurrent reader never sees a half-written artifact.
      const temporary = `${cachePath}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify(built));
      await rename(temporary, cachePath);
    }
    for (const unit of build.units) {
      const artifact = built[unit.name];
      if (artifact === undefined) throw new Error(`cached build lacks ${unit.name}`);
      artifacts[unit.name] = artifact;
    }
  }
  const { Permit2, X402ExactPermit2Proxy, X402UptoPermit2Proxy, PlainUSD } = artifacts;
  if (Permit2 === undefined || X402ExactPermit2Proxy === undefined || X402UptoPermit2Proxy === undefined || PlainUSD === undefined) {
    throw new Error('compileRailsContracts: a contract is missing');
  }
  return { Permit2, X402ExactPermit2Proxy, X402UptoPermit2Proxy, PlainUSD };
}

let vendoredDigestMemo: string | undefined;
function vendoredDigest(): string {
  if (vendoredDigestMemo !== undefined) return vendoredDigestMemo;
  const hash = createHash('sha256');
  for (const file of VENDORED_FILES) hash.update(file).update(readSource(file));
  vendoredDigestMemo = hash.digest('hex');
  return vendoredDigestMemo;
}

const VENDORED_FILES = [
  'permit2/src/AllowanceTransfer.sol',
  'permit2/src/EIP712.sol',
  'permit2/src/Permit2.sol',
  'permit2/src/PermitErrors.sol',
  'permit2/src/SignatureTransfer.sol',
  'permit2/src/interfaces/IAllowanceTransfer.sol',
  'permit2/src/interfaces/IEIP712.sol',
  'permit2/src/interfaces/IERC1271.sol',
  'permit2/src/interfaces/ISignatureTransfer.sol',
  'permit2/src/libraries/Allowance.sol',
  'permit2/src/libraries/PermitHash.sol',
  'permit2/src/libraries/SafeCast160.sol',
  'permit2/src/libraries/SignatureVerification.sol',
  'solmate/src/tokens/ERC20.sol',
  'solmate/src/utils/SafeTransferLib.sol',
  'x402/src/interfaces/ISignatureTransfer.sol',
  'x402/src/x402BasePermit2Proxy.sol',
  'x402/src/x402ExactPermit2Proxy.sol',
  'x402/src/x402UptoPermit2Proxy.sol',
] as const;
