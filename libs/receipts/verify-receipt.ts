import { readFileSync } from 'node:fs';
import { createPublicClient, decodeEventLog, http, isAddressEqual, parseAbi, recoverTypedDataAddress, type Address, type Hex } from 'viem';

// `npm run receipt:verify -- receipt.json` (RPC_URL=<the chain's JSON-RPC URL>): checks a
// Paybound receipt (receiptVersion 1) without trusting Paybound. It uses viem and the chain
// only: the EIP-3009 authorization's signature recovers to its `from`; the settlement
// transaction succeeded and its logs show the token moving `value` from the payer to the
// payee and the authorization's nonce being used. Exit 0 when every check holds, 1 otherwise.

interface Receipt {
  receiptVersion: number;
  paymentId: string;
  authorization: {
    typedData: {
      domain: { name: string; version: string; chainId: number; verifyingContract: Address };
      primaryType: 'TransferWithAuthorization';
      types: { TransferWithAuthorization: { name: string; type: string }[] };
      message: { from: Address; to: Address; value: string; validAfter: string; validBefore: string; nonce: Hex };
    };
    signature: Hex;
  } | null;
  settlement: { transaction: Hex } | null;
}

const EIP3009_EVENTS = parseAbi(['event Transfer(address indexed from, address indexed to, uint256 value)', 'event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)']);

const file = process.argv[2];
const rpcUrl = process.env.RPC_URL;
if (file === undefined || rpcUrl === undefined || rpcUrl === '') {
  console.error('usage: RPC_URL=http://127.0.0.1:8545 npm run receipt:verify -- <receipt.json> (the receipt from GET /admin/v1/payments/{id}/receipt)');
  process.exit(2);
}
const receipt = JSON.parse(readFileSync(file, 'utf8')) as Receipt;
const checks: { name: string; ok: boolean; detail: string }[] = [];
const check = (name: string, ok: boolean, detail: string) => checks.push({ name, ok, detail });

check('receiptVersion', receipt.receiptVersion === 1, `receiptVersion ${receipt.receiptVersion}`);
const auth = receipt.authorization;
const settlement = receipt.settlement;
if (auth === null || settlement === null) {
  check('settled', false, 'the receipt has no authorization or settlement: the payment is not settled');
} else {
  const { domain, message } = auth.typedData;
  const typed = {
    domain: { ...domain, chainId: BigInt(domain.chainId) },
    types: auth.typedData.types,
    primaryType: 'TransferWithAuthorization' as const,
    message: { ...message, value: BigInt(message.value), validAfter: BigInt(message.validAfter), validBefore: BigInt(message.validBefore) },
  };
  const signer = await recoverTypedDataAddress({ ...typed, signature: auth.signature });
  check('signature', isAddressEqual(signer, message.from), `the EIP-712 signature recovers to ${signer}; the authorization's from is ${message.from}`);

  const client = createPublicClient({ transport: http(rpcUrl) });
  const chainId = await client.getChainId();
  check('chain', chainId === domain.chainId, `the RPC serves chain ${chainId}; the authorization is for chain ${domain.chainId}`);
  const mined = await client.getTransactionReceipt({ hash: settlement.transaction });
  check('transaction', mined.status === 'success', `transaction ${settlement.transaction} is ${mined.status} in block ${mined.blockNumber}`);
  const block = await client.getBlock({ blockNumber: mined.blockNumber });
  let transferred = false;
  let nonceUsed = false;
  for (const log of mined.logs) {
    if (!isAddressEqual(log.address, domain.verifyingContract)) continue;
    try {
      const decoded = decodeEventLog({ abi: EIP3009_EVENTS, data: log.data, topics: log.topics });
      if (decoded.eventName === 'Transfer') {
        transferred ||= isAddressEqual(decoded.args.from, message.from) && isAddressEqual(decoded.args.to, message.to) && decoded.args.value === BigInt(message.value);
      } else {
        nonceUsed ||= isAddressEqual(decoded.args.authorizer, message.from) && decoded.args.nonce.toLowerCase() === message.nonce.toLowerCase();
      }
    } catch {
      // Another event of the token; not one of these.
    }
  }
  check('transfer', transferred, `the token ${domain.verifyingContract} logged Transfer(${message.from} → ${message.to}, ${message.value})`);
  check('nonce', nonceUsed, `the token logged AuthorizationUsed(${message.from}, ${message.nonce})`);
  console.log(`block ${mined.blockNumber} at ${new Date(Number(block.timestamp) * 1000).toISOString()}`);
}
for (const c of checks) console.log(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`);
const failed = checks.filter((c) => !c.ok).length;
console.log(failed === 0 ? `receipt ${receipt.paymentId} verified` : `receipt ${receipt.paymentId}: ${failed} check(s) failed`);
process.exitCode = failed === 0 ? 0 : 1;
