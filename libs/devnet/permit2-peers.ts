import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  encodeAbiParameters,
  http,
  keccak256,
  stringToBytes,
  type Abi,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';

import { PERMIT2_ADDRESS, X402_EXACT_PERMIT2_PROXY_ADDRESS, X402_UPTO_PERMIT2_PROXY_ADDRESS } from '../x402/permit2.js';
import { ANVIL_CHAIN_ID } from './anvil.js';
import { KIT_ACCOUNT_INDEX, anvilDevKey, kitChain } from './deploy.js';
import type { RailsArtifacts } from './rails-compile.js';

// Places canonical Permit2 and x402's two Permit2 proxies at their canonical addresses on
// a local anvil, where the official clients sign against them, and deploys a plain ERC-20.
// A contract cannot be created at an arbitrary address, so each is deployed normally and
// its runtime code copied with anvil_setCode. Constructor-set state must follow it:
//  - Permit2 caches its EIP-712 domain separator in an immutable computed from its own
//    address; the copy would carry the deploy address's separator, so the 32 bytes are
//    replaced by the separator of the canonical address (and checked afterwards).
//  - The proxies keep PERMIT2 as an immutable (the same at any address) and a reentrancy
//    flag in storage, which is copied.

const RECEIPT_TIMEOUT_MS = 30_000;
/** OpenZeppelin 5 ReentrancyGuard's ERC-7201 slot (utils/ReentrancyGuard.sol). */
const REENTRANCY_GUARD_SLOT: Hex = '0x9b779b17422d0df92223018b32b4d1fa46e071723d6817e2486d003becc55f00';

const domainSeparatorAbi = [{ type: 'function', name: 'DOMAIN_SEPARATOR', stateMutability: 'view', inputs: [], outputs: [{ type: 'bytes32' }] }] as const;
const permit2GetterAbi = [{ type: 'function', name: 'PERMIT2', stateMutability: 'view', inputs: [], outputs: [{ type: 'address' }] }] as const;

/** Permit2's domain separator at `address`: EIP712Domain(string name,uint256 chainId,address verifyingContract). */
export function permit2DomainSeparator(chainId: number, address: Address): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
      [keccak256(stringToBytes('EIP712Domain(string name,uint256 chainId,address verifyingContract)')), keccak256(stringToBytes('Permit2')), BigInt(chainId), address],
    ),
  );
}

export interface RailsContracts {
  readonly permit2: Address;
  readonly exactProxy: Address;
  readonly uptoProxy: Address;
  /** The plain ERC-20 (no EIP-3009, no EIP-2612), 6 decimals. */
  readonly plainToken: Address;
}

export async function installRailsContracts(
  rpcUrl: string,
  artifacts: RailsArtifacts,
  options: { readonly payer: Address; readonly payerFundsAtomic: bigint },
): Promise<RailsContracts> {
  const chain = kitChain(rpcUrl);
  const transport = http(rpcUrl);
  const publicClient: PublicClient = createPublicClient({ chain, transport });
  const testClient = createTestClient({ chain, transport, mode: 'anvil' });
  const wallet = createWalletClient({ account: privateKeyToAccount(anvilDevKey(KIT_ACCOUNT_INDEX.deployer)), chain, transport });

  const deploy = async (name: string, abi: Abi, bytecode: Hex, args: readonly unknown[] = []): Promise<Address> => {
    const hash = await wallet.deployContract({ abi, bytecode, args });
    const receipt = await publicClient.waitForTransactionReceipt({ hash, timeout: RECEIPT_TIMEOUT_MS });
    if (receipt.status !== 'success' || receipt.contractAddress === null || receipt.contractAddress === undefined) {
      throw new Error(`installRailsContracts: deploying ${name} failed`);
    }
    return receipt.contractAddress;
  };
  const runtimeCode = async (address: Address): Promise<Hex> => {
    const code = await publicClient.getCode({ address });
    if (code === undefined || code === '0x') throw new Error(`installRailsContracts: no code at ${address}`);
    return code;
  };

  // Permit2, with its cached domain separator moved to the canonical address.
  const permit2Deployed = await deploy('Permit2', artifacts.Permit2.abi, artifacts.Permit2.bytecode);
  const deployedSeparator = await publicClient.readContract({ address: permit2Deployed, abi: domainSeparatorAbi, functionName: 'DOMAIN_SEPARATOR' });
  const canonicalSeparator = permit2DomainSeparator(ANVIL_CHAIN_ID, PERMIT2_ADDRESS);
  const code = await runtimeCode(permit2Deployed);
  const from = deployedSeparator.slice(2).toLowerCase();
  const occurrences = code.toLowerCase().split(from).length - 1;
  if (occurrences === 0) throw new Error('installRailsContracts: the cached domain separator is not in Permit2 code');
  await testClient.setCode({ address: PERMIT2_ADDRESS, bytecode: code.toLowerCase().replaceAll(from, canonicalSeparator.slice(2)) as Hex });
  const installedSeparator = await publicClient.readContract({ address: PERMIT2_ADDRESS, abi: domainSeparatorAbi, functionName: 'DOMAIN_SEPARATOR' });
  if (installedSeparator !== canonicalSeparator) throw new Error('installRailsContracts: Permit2 reports a wrong domain separator');

  // The proxies, bound to canonical Permit2.
  for (const [name, artifact, canonical] of [
    ['x402ExactPermit2Proxy', artifacts.X402ExactPermit2Proxy, X402_EXACT_PERMIT2_PROXY_ADDRESS],
    ['x402UptoPermit2Proxy', artifacts.X402UptoPermit2Proxy, X402_UPTO_PERMIT2_PROXY_ADDRESS],
  ] as const) {
    const deployed = await deploy(name, artifact.abi, artifact.bytecode, [PERMIT2_ADDRESS]);
    await testClient.setCode({ address: canonical, bytecode: await runtimeCode(deployed) });
    const guard = await publicClient.getStorageAt({ address: deployed, slot: REENTRANCY_GUARD_SLOT });
    if (guard !== undefined) await testClient.setStorageAt({ address: canonical, index: REENTRANCY_GUARD_SLOT, value: guard });
    const boundTo = await publicClient.readContract({ address: canonical, abi: permit2GetterAbi, functionName: 'PERMIT2' });
    if (boundTo !== PERMIT2_ADDRESS) throw new Error(`installRailsContracts: ${name} is bound to ${boundTo}`);
  }

  const plainToken = await deploy('PlainUSD', artifacts.PlainUSD.abi, artifacts.PlainUSD.bytecode);
  const mint = await wallet.writeContract({ address: plainToken, abi: artifacts.PlainUSD.abi, functionName: 'mint', args: [options.payer, options.payerFundsAtomic] });
  const minted = await publicClient.waitForTransactionReceipt({ hash: mint, timeout: RECEIPT_TIMEOUT_MS });
  if (minted.status !== 'success') throw new Error('installRailsContracts: minting PlainUSD failed');

  return { permit2: PERMIT2_ADDRESS, exactProxy: X402_EXACT_PERMIT2_PROXY_ADDRESS, uptoProxy: X402_UPTO_PERMIT2_PROXY_ADDRESS, plainToken };
}
