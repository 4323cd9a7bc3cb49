// x402 v1 named networks by short name ("base-sepolia"); v2 uses CAIP-2 ids
// ("eip155:84532"). This table mirrors EVM_NETWORK_CHAIN_ID_MAP in @x402/evm 2.27 and the
// Solana names of the v1 SVM package, so a v1 offer maps to the same chain the official
// client would sign for. A name that is not here is rejected rather than guessed.
const V1_EVM_CHAIN_IDS: Readonly<Record<string, number>> = Object.freeze({
  ethereum: 1,
  sepolia: 11155111,
  abstract: 2741,
  'abstract-testnet': 11124,
  'base-sepolia': 84532,
  base: 8453,
  'avalanche-fuji': 43113,
  avalanche: 43114,
  iotex: 4689,
  sei: 1329,
  'sei-testnet': 1328,
  polygon: 137,
  'polygon-amoy': 80002,
  peaq: 3338,
  story: 1514,
  educhain: 41923,
  'skale-base-sepolia': 324705682,
  megaeth: 4326,
  monad: 143,
  stable: 988,
  'stable-testnet': 2201,
  celo: 42220,
  flare: 14,
});

const V1_SOLANA_NETWORKS: Readonly<Record<string, string>> = Object.freeze({
  solana: 'solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp',
  'solana-devnet': 'solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1',
});

/** CAIP-2 network id for a v1 network name, or undefined if the name is not known. */
export function caip2FromV1Network(name: string): string | undefined {
  if (Object.prototype.hasOwnProperty.call(V1_EVM_CHAIN_IDS, name)) {
    return `eip155:${V1_EVM_CHAIN_IDS[name]}`;
  }
  if (Object.prototype.hasOwnProperty.call(V1_SOLANA_NETWORKS, name)) {
    return V1_SOLANA_NETWORKS[name];
  }
  return undefined;
}

/** v1 network name for a CAIP-2 id, or undefined when v1 has no name for that chain. */
export function v1NetworkFromCaip2(network: string): string | undefined {
  for (const [name, chainId] of Object.entries(V1_EVM_CHAIN_IDS)) {
    if (`eip155:${chainId}` === network) return name;
  }
  for (const [name, caip2] of Object.entries(V1_SOLANA_NETWORKS)) {
    if (caip2 === network) return name;
  }
  return undefined;
}

const CAIP2_EIP155 = /^eip155:([1-9][0-9]{0,17})$/;

/** The EVM chain id of an `eip155:<id>` network, or undefined for any other namespace. */
export function evmChainId(network: string): number | undefined {
  const match = CAIP2_EIP155.exec(network);
  if (match === null || match[1] === undefined) return undefined;
  const chainId = Number(match[1]);
  return Number.isSafeInteger(chainId) ? chainId : undefined;
}

export function isEvmNetwork(network: string): boolean {
  return evmChainId(network) !== undefined;
}
