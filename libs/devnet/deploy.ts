import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  toHex,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem';
import { mnemonicToAccount, privateKeyToAccount } from 'viem/accounts';

import { ANVIL_CHAIN_ID } from './anvil.js';
import type { KitArtifacts } from './compile.js';

// Anvil's public development mnemonic. Every key derived from it is published in the
// Foundry docs and prefunded on every anvil chain; they must never hold real value.
const ANVIL_DEV_MNEMONIC = 'test test test test test test test test test test test junk';

/** Roles by anvil dev account index, so each process signs with its own key. */
export const KIT_ACCOUNT_INDEX = { deployer: 0, payer: 1, facilitator: 2, seller: 3 } as const;

export const MULTICALL3_ADDRESS: Address = '0xcA11bde05977b3631167028862bE2a173976CA11';
const RECEIPT_TIMEOUT_MS = 30_000;

export function anvilDevKey(addressIndex: number): Hex {
  const privateKey = mnemonicToAccount(ANVIL_DEV_MNEMONIC, { addressIndex }).getHdKey().privateKey;
  if (privateKey === null) throw new Error(`anvilDevKey: no private key at index ${addressIndex}`);
  return toHex(privateKey);
}

export function kitChain(rpcUrl: string) {
  return defineChain({
    id: ANVIL_CHAIN_ID,
    name: 'Anvil (x402 kit)',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
    contracts: { multicall3: { address: MULTICALL3_ADDRESS } },
  });
}

export interface Deployment {
  readonly token: Address;
  readonly deployer: Address;
  readonly payer: { readonly address: Address; readonly privateKey: Hex };
  readonly payTo: Address;
  readonly facilitatorKey: Hex;
}

/**
 * Deploys TestUSD, mints `payerFundsAtomic` to the payer, and places Multicall3Lite's
 * runtime code at the canonical Multicall3 address so viem and the facilitator find it.
 */
export async function deployKit(
  rpcUrl: string,
  artifacts: KitArtifacts,
  options: { payerFundsAtomic?: bigint } = {},
): Promise<Deployment> {
  const chain = kitChain(rpcUrl);
  const transport = http(rpcUrl);
  const publicClient: PublicClient = createPublicClient({ chain, transport });
  const deployer = privateKeyToAccount(anvilDevKey(KIT_ACCOUNT_INDEX.deployer));
  const wallet = createWalletClient({ account: deployer, chain, transport });

  const deployHash = await wallet.deployContract({ abi: artifacts.TestUSD.abi, bytecode: artifacts.TestUSD.bytecode });
  const deployReceipt = await publicClient.waitForTransactionReceipt({ hash: deployHash, timeout: RECEIPT_TIMEOUT_MS });
  const token = deployReceipt.contractAddress;
  if (deployReceipt.status !== 'success' || token === null || token === undefined) {
    throw new Error('deployKit: TestUSD deployment failed');
  }

  const payerKey = anvilDevKey(KIT_ACCOUNT_INDEX.payer);
  const payer = privateKeyToAccount(payerKey);
  const mintHash = await wallet.writeContract({
    address: token,
    abi: artifacts.TestUSD.abi,
    functionName: 'mint',
    args: [payer.address, options.payerFundsAtomic ?? 1_000_000_000n],
  });
  const mintReceipt = await publicClient.waitForTransactionReceipt({ hash: mintHash, timeout: RECEIPT_TIMEOUT_MS });
  if (mintReceipt.status !== 'success') throw new Error('deployKit: mint failed');

  const testClient = createTestClient({ chain, transport, mode: 'anvil' });
  await testClient.setCode({ address: MULTICALL3_ADDRESS, bytecode: artifacts.Multicall3Lite.deployedBytecode });

  return {
    token,
    deployer: deployer.address,
    payer: { address: payer.address, privateKey: payerKey },
    payTo: privateKeyToAccount(anvilDevKey(KIT_ACCOUNT_INDEX.seller)).address,
    facilitatorKey: anvilDevKey(KIT_ACCOUNT_INDEX.facilitator),
  };
}
