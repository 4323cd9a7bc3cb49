import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { x402Client } from '@x402/core/client';
import type { PaymentPayload, PaymentRequired } from '@x402/core/types';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { createTestClient, getAddress, http, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startX402Kit, type X402Kit } from '../devnet/index.js';
import { MCP_FAILING_TOOL, MCP_FREE_TOOL, MCP_PAID_TOOL, startMcpSeller, type McpPaymentSignaling, type McpSellerHandle } from '../devnet/mcp-seller.js';
import { deriveNonce, exactEvmPayload, transferWithAuthorizationTypedData } from '../x402/eip3009.js';
import { X402OfferError } from '../x402/errors.js';
import { evmChainId } from '../x402/networks.js';
import type { PaymentOffer } from '../x402/offer.js';
import { selectRequirement } from '../x402/select.js';
import { McpUpstreamError } from './errors.js';
import { namespacedToolName } from './tool-names.js';
import {
  advertisingPaymentExtension,
  classifyToolCallAnswer,
  paymentPayloadDocument,
  withPayment,
  type ToolCallOutcome,
} from './transport.js';
import { connectUpstreamMcp, type UpstreamMcpConnection } from './upstream-client.js';

const PRICE_ATOMIC = 20_000n;
const CALL_TIMEOUT_MS = 30_000;
const LATENCY_SAMPLES = 5;
const FORMS: readonly McpPaymentSignaling[] = ['tool_result', 'jsonrpc_error'];

let kit: X402Kit;
let seller: McpSellerHandle;
let hostile: HostileMcpServer;

beforeAll(async () => {
  kit = await startX402Kit();
  seller = await startMcpSeller({ facilitatorUrl: kit.facilitator.url, token: kit.token, payTo: kit.seller.payTo, extensionBinding: true });
  hostile = await startHostileMcpServer();
});

afterAll(async () => {
  await hostile?.close();
  await seller?.close();
  await kit?.stop();
});

/** The official MCP SDK client over streamable HTTP. */
async function officialClient(): Promise<Client> {
  const client = new Client({ name: 'direct-agent', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(seller.url)), { timeout: CALL_TIMEOUT_MS });
  return client;
}

/** The official x402 client with the EVM exact scheme, paying from the kit's payer. */
function officialPayer(): x402Client {
  const payer = new x402Client();
  registerExactEvmScheme(payer, { signer: privateKeyToAccount(kit.payer.privateKey) });
  // TestUSD is not one of the SDK's default assets, which it refuses unless opted in.
  payer.setSpendControls({ allowedAssets: [{ network: kit.network, asset: kit.token }] });
  return payer;
}

/**
 * Calls a tool without payment the way an x402 MCP client does, and returns the
 * PaymentRequired as the official types have it, with the raw answer for the classifier.
 */
async function unpaidCall(client: Client, name: string): Promise<{ paymentRequired: PaymentRequired; outcome: ToolCallOutcome }> {
  const params = { name, arguments: { ticker: 'ACME' } };
  try {
    const result = await client.callTool(params, undefined, { timeout: CALL_TIMEOUT_MS });
    expect(result.isError).toBe(true);
    return { paymentRequired: result.structuredContent as PaymentRequired, outcome: classifyToolCallAnswer({ result }) };
  } catch (error) {
    if (!(error instanceof McpError) || error.code !== 402) throw error;
    const answer = { error: { code: error.code, message: error.message, data: error.data } };
    return { paymentRequired: error.data as PaymentRequired, outcome: classifyToolCallAnswer(answer) };
  }
}

function settlementOf(result: { _meta?: Record<string, unknown> }): { success: boolean; transaction: Hex; payer?: string } {
  return result._meta?.['x402/payment-response'] as { success: boolean; transaction: Hex; payer?: string };
}

describe('a paid MCP tool, paid directly: the official MCP SDK client with the official x402 client', () => {
  it('calls the free tool without any payment', async () => {
    const client = await officialClient();
    try {
      const payerBefore = await kit.balanceOf(kit.payer.address);
      const result = await client.callTool({ name: MCP_FREE_TOOL, arguments: { text: 'hello' } }, undefined, { timeout: CALL_TIMEOUT_MS });
      expect(result).toEqual({ content: [{ type: 'text', text: 'hello' }] });
      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore);
      expect(seller.stats().paidCalls).toBe(0);
    } finally {
      await client.close();
    }
  });

  it.each(FORMS)('pays the paid tool signalled as %s: exactly 20000 atomic move on chain and the settlement is read', async (form) => {
    seller.setSignaling(form);
    const client = await officialClient();
    const payer = officialPayer();
    try {
      const { paymentRequired, outcome } = await unpaidCall(client, MCP_PAID_TOOL);
      expect(outcome.kind).toBe('payment_required');
      if (outcome.kind !== 'payment_required') throw new Error('unreachable');
      expect(outcome.signal).toBe(form);
      expect(outcome.offer.requirements[0]).toMatchObject({ amountAtomic: PRICE_ATOMIC, network: kit.network, asset: getAddress(kit.token), payTo: getAddress(kit.seller.payTo) });

      const payerBefore = await kit.balanceOf(kit.payer.address);
      const payeeBefore = await kit.balanceOf(kit.seller.payTo);
      const payment: PaymentPayload = await payer.createPaymentPayload(paymentRequired);
      const paid = await client.callTool(
        { name: MCP_PAID_TOOL, arguments: { ticker: 'ACME' }, _meta: { 'x402/payment': payment } },
        undefined,
        { timeout: CALL_TIMEOUT_MS },
      );
      expect(paid.isError).not.toBe(true);
      expect(paid.structuredContent).toMatchObject({ ticker: 'ACME' });
      const settlement = settlementOf(paid);
      expect(settlement).toMatchObject({ success: true, network: kit.network });
      expect(getAddress(settlement.payer ?? '0x0')).toBe(kit.payer.address);
      const receipt = await kit.publicClient.getTransactionReceipt({ hash: settlement.transaction });
      expect(receipt.status).toBe('success');

      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
      expect(await kit.balanceOf(kit.seller.payTo)).toBe(payeeBefore + PRICE_ATOMIC);

      // Paybound's reader agrees with what the official client saw.
      const read = classifyToolCallAnswer({ result: paid }, { paymentSent: true });
      expect(read).toMatchObject({ kind: 'completed', settlement: { status: 'read', response: { success: true, transaction: settlement.transaction } } });
    } finally {
      await client.close();
    }
  });

  it('measures one paid call (unpaid call, sign, paid call), the baseline for the gateway', async () => {
    seller.setSignaling('tool_result');
    const client = await officialClient();
    const payer = officialPayer();
    try {
      const oneCall = async () => {
        const started = performance.now();
        const { paymentRequired } = await unpaidCall(client, MCP_PAID_TOOL);
        const payment = await payer.createPaymentPayload(paymentRequired);
        const paid = await client.callTool({ name: MCP_PAID_TOOL, arguments: { ticker: 'ACME' }, _meta: { 'x402/payment': payment } }, undefined, {
          timeout: CALL_TIMEOUT_MS,
        });
        const elapsedMs = performance.now() - started;
        expect(settlementOf(paid).success).toBe(true);
        return elapsedMs;
      };
      const payerBefore = await kit.balanceOf(kit.payer.address);
      await oneCall(); // warm-up: connections and the signer's first use
      const samplesMs: number[] = [];
      for (let sample = 0; sample < LATENCY_SAMPLES; sample++) samplesMs.push(await oneCall());
      const sorted = [...samplesMs].sort((a, b) => a - b);
      console.log(
        `[mcp latency] one paid tool call paid directly (official MCP client + x402Client, anvil mining on demand): ` +
          `first ${samplesMs[0]?.toFixed(1)} ms; median ${sorted[Math.floor(LATENCY_SAMPLES / 2)]?.toFixed(1)} ms ` +
          `(min ${sorted[0]?.toFixed(1)}, max ${sorted.at(-1)?.toFixed(1)}) over ${LATENCY_SAMPLES}`,
      );
      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC * BigInt(LATENCY_SAMPLES + 1));
    } finally {
      await client.close();
    }
  });
});

/** Signs an `exact` EIP-3009 payment for a requirement the way the settlement worker does. */
async function signExact(offer: PaymentOffer, intentId: string) {
  const selection = selectRequirement(offer, { supportedSchemes: ['exact'], supportedNetworks: [kit.network], maxAmountAtomic: PRICE_ATOMIC, allowedAssets: [kit.token] });
  if (!selection.ok) throw new Error(`selection refused: ${selection.code}`);
  const { requirement } = selection;
  const chainId = evmChainId(requirement.network);
  const { name, version } = requirement.extra ?? {};
  if (chainId === undefined || name === undefined || version === undefined) throw new Error('not an EVM exact offer');
  const account = privateKeyToAccount(kit.payer.privateKey);
  const nonce = deriveNonce(account.address, intentId);
  const typedData = transferWithAuthorizationTypedData({
    chainId,
    asset: getAddress(requirement.asset),
    name,
    version,
    from: account.address,
    to: getAddress(requirement.payTo),
    valueAtomic: requirement.amountAtomic,
    validAfterSec: 0,
    validBeforeSec: Math.floor(Date.now() / 1000) + requirement.maxTimeoutSeconds,
    nonce,
  });
  const signature = await account.signTypedData(typedData);
  return { requirement, nonce, payload: exactEvmPayload(signature, typedData.message) };
}

describe('the gateway’s upstream client against the same server', () => {
  let upstream: UpstreamMcpConnection;

  beforeAll(async () => {
    upstream = await connectUpstreamMcp({ url: seller.url, privateAddresses: 'allow' });
  });

  afterAll(async () => {
    await upstream?.close();
  });

  it('lists the tools, which the gateway namespaces by server', async () => {
    const listing = await upstream.listTools();
    expect(listing.truncated).toBe(false);
    expect(listing.skipped).toEqual([]);
    expect(listing.tools.map((tool) => namespacedToolName('devnet', tool.name))).toEqual(['devnet__echo', 'devnet__premium_quote', 'devnet__flaky_report']);
    expect(listing.tools[1]?.inputSchema).toMatchObject({ type: 'object', required: ['ticker'] });
    expect(upstream.serverInfo).toEqual({ name: 'paybound-devnet-mcp-seller', version: '1.0.0' });
  });

  it.each(FORMS)('reads %s, retries with _meta["x402/payment"] built from the offer, and reads the settlement', async (form) => {
    seller.setSignaling(form);
    const params = { name: MCP_PAID_TOOL, arguments: { ticker: 'ACME' } };
    const unpaid = await upstream.callTool(params);
    if (unpaid.kind !== 'payment_required') throw new Error(`expected payment_required, got ${unpaid.kind}`);
    expect(unpaid.signal).toBe(form);

    const { requirement, nonce, payload } = await signExact(unpaid.offer, `mcp-gateway-${form}-${Date.now()}`);
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const paid = await upstream.callTool(withPayment(params, paymentPayloadDocument({ offer: unpaid.offer, requirement, payload })), { paymentSent: true });
    if (paid.kind !== 'completed') throw new Error(`expected completed, got ${paid.kind}`);
    expect(paid.result.structuredContent).toMatchObject({ ticker: 'ACME' });
    if (paid.settlement.status !== 'read') throw new Error(`expected a settlement, got ${paid.settlement.status}`);
    expect(paid.settlement.response).toMatchObject({ success: true, network: kit.network });
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect(await kit.authorizationState(kit.payer.address, nonce)).toBe(true);
  });

  it('reads the extension result when the call advertises org.x402/payment, and pays it', async () => {
    const params = { name: MCP_PAID_TOOL, arguments: { ticker: 'ACME' }, _meta: advertisingPaymentExtension(undefined) };
    const unpaid = await upstream.callTool(params, { extensionAdvertised: true });
    if (unpaid.kind !== 'payment_required') throw new Error(`expected payment_required, got ${unpaid.kind}`);
    expect(unpaid.signal).toBe('extension_result');
    const { requirement, payload } = await signExact(unpaid.offer, `mcp-gateway-extension-${Date.now()}`);
    const paid = await upstream.callTool(withPayment(params, paymentPayloadDocument({ offer: unpaid.offer, requirement, payload })), {
      paymentSent: true,
      extensionAdvertised: true,
    });
    expect(paid).toMatchObject({ kind: 'completed', settlement: { status: 'read', response: { success: true } } });
  });

  it('answers a replayed authorization as payment_rejected, and nothing moves twice', async () => {
    seller.setSignaling('tool_result');
    const params = { name: MCP_PAID_TOOL, arguments: { ticker: 'ACME' } };
    const unpaid = await upstream.callTool(params);
    if (unpaid.kind !== 'payment_required') throw new Error(`expected payment_required, got ${unpaid.kind}`);
    const { requirement, payload } = await signExact(unpaid.offer, `mcp-gateway-replay-${Date.now()}`);
    const paidParams = withPayment(params, paymentPayloadDocument({ offer: unpaid.offer, requirement, payload }));
    expect((await upstream.callTool(paidParams, { paymentSent: true })).kind).toBe('completed');
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const replay = await upstream.callTool(paidParams, { paymentSent: true });
    expect(replay.kind).toBe('payment_rejected');
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore);
  });

  it('returns the free tool’s result as completed, with no settlement', async () => {
    expect(await upstream.callTool({ name: MCP_FREE_TOOL, arguments: { text: 'hi' } })).toEqual({
      kind: 'completed',
      result: { content: [{ type: 'text', text: 'hi' }], isError: false },
      settlement: { status: 'absent' },
    });
  });

  it('reports an unknown tool as failed, from the JSON-RPC error the server sends', async () => {
    const failed = await upstream.callTool({ name: 'nope', arguments: {} });
    if (failed.kind !== 'failed') throw new Error(`expected failed, got ${failed.kind}`);
    expect(failed.code).toBe(-32602);
    // The SDK server puts its own "MCP error -32602: " before the text; it is the server's message.
    expect(failed.message).toMatch(/Unknown tool: nope$/);
  });
});

describe('the upstream client’s bounds', () => {
  const failure = async (run: () => Promise<unknown>): Promise<McpUpstreamError> => {
    const error = await run().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(McpUpstreamError);
    return error as McpUpstreamError;
  };

  it('refuses a private upstream when private addresses are denied: a literal at once, a name when connecting', async () => {
    const literal = await failure(() => connectUpstreamMcp({ url: seller.url, privateAddresses: 'deny' }));
    expect(literal).toMatchObject({ failure: 'destination_not_allowed', code: 'destination_not_allowed' });
    const named = await failure(() => connectUpstreamMcp({ url: seller.url.replace('127.0.0.1', 'localhost'), privateAddresses: 'deny' }));
    expect(named.failure).toBe('destination_not_allowed');
    expect(named.detail).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), which is not a public address$/);
    expect(seller.stats().paidCalls).toBeGreaterThan(0); // the seller is up; the guard refused
  });

  it('refuses URLs with credentials or another scheme', async () => {
    expect((await failure(() => connectUpstreamMcp({ url: 'https://user:secret@tools.example/mcp', privateAddresses: 'deny' }))).detail).toMatch(/credentials/);
    expect((await failure(() => connectUpstreamMcp({ url: 'file:///etc/passwd', privateAddresses: 'allow' }))).detail).toMatch(/http/);
  });

  it('cuts an answer larger than the byte limit and does not use the connection again', async () => {
    const small = await connectUpstreamMcp({ url: seller.url, privateAddresses: 'allow', responseBytesMax: 16 * 1024 });
    try {
      const tooLarge = await failure(() => small.callTool({ name: MCP_FREE_TOOL, arguments: { text: 'x'.repeat(40_000) } }));
      expect(tooLarge).toMatchObject({ failure: 'too_large', code: 'upstream_response_too_large' });
      expect((await failure(() => small.callTool({ name: MCP_FREE_TOOL, arguments: { text: 'small' } }))).failure).toBe('too_large');
    } finally {
      await small.close();
    }
  });

  it('gives up on an upstream that does not answer, within the request timeout', async () => {
    const slow = await connectUpstreamMcp({ url: hostile.url, privateAddresses: 'allow', requestTimeoutMs: 500 });
    try {
      const started = performance.now();
      const timedOut = await failure(() => slow.callTool({ name: 'hang', arguments: {} }));
      expect(timedOut).toMatchObject({ failure: 'timeout', code: 'upstream_timeout' });
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await slow.close();
    }
  });

  it('refuses hostile offers before anything could be reserved: oversized requirements, a zero price', async () => {
    const connection = await connectUpstreamMcp({ url: hostile.url, privateAddresses: 'allow' });
    try {
      for (const name of ['offer_seventeen_requirements', 'offer_zero_price']) {
        const error = await connection.callTool({ name, arguments: {} }).then(() => undefined, (caught: unknown) => caught);
        expect(error).toBeInstanceOf(X402OfferError);
      }
      // An unknown scheme is read, and the selection refuses it with its reason.
      const unknownScheme = await connection.callTool({ name: 'offer_unknown_scheme', arguments: {} });
      if (unknownScheme.kind !== 'payment_required') throw new Error(`expected payment_required, got ${unknownScheme.kind}`);
      expect(selectRequirement(unknownScheme.offer, { supportedSchemes: ['exact'], supportedNetworks: [kit.network] })).toMatchObject({ ok: false, code: 'scheme_not_supported' });
    } finally {
      await connection.close();
    }
  });

  it('stops a tools/list whose cursor loops', async () => {
    const connection = await connectUpstreamMcp({ url: hostile.url, privateAddresses: 'allow' });
    try {
      expect((await failure(() => connection.listTools())).detail).toMatch(/nextCursor/);
    } finally {
      await connection.close();
    }
  });
});

describe('a paid tool that fails after payment', () => {
  it('settles nothing, and the authorization can never execute once validBefore has passed', async () => {
    seller.setSignaling('tool_result');
    const client = await officialClient();
    const payer = officialPayer();
    try {
      const { paymentRequired } = await unpaidCall(client, MCP_FAILING_TOOL);
      const payment = await payer.createPaymentPayload(paymentRequired);
      const authorization = (payment.payload as { authorization: { from: Hex; nonce: Hex; validBefore: string } }).authorization;
      const payerBefore = await kit.balanceOf(kit.payer.address);
      const payeeBefore = await kit.balanceOf(kit.seller.payTo);
      const before = seller.stats();

      const failed = await client.callTool({ name: MCP_FAILING_TOOL, arguments: { ticker: 'ACME' }, _meta: { 'x402/payment': payment } }, undefined, {
        timeout: CALL_TIMEOUT_MS,
      });
      expect(failed.isError).toBe(true);
      expect(failed._meta?.['x402/payment-response']).toBeUndefined();
      expect(classifyToolCallAnswer({ result: failed }, { paymentSent: true })).toMatchObject({ kind: 'completed', result: { isError: true }, settlement: { status: 'absent' } });
      expect(seller.stats()).toMatchObject({ verified: before.verified + 1, settled: before.settled, failedAfterVerify: before.failedAfterVerify + 1 });
      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore);
      expect(await kit.balanceOf(kit.seller.payTo)).toBe(payeeBefore);
      expect(await kit.authorizationState(authorization.from, authorization.nonce)).toBe(false);

      // Move the chain past validBefore: the authorization is still unused, and settling it
      // now is refused, so nothing can ever be spent from it. (Last in the file: the chain
      // clock stays ahead of the wall clock afterwards.)
      const latest = await kit.publicClient.getBlock();
      const testClient = createTestClient({ mode: 'anvil', transport: http(kit.rpcUrl) });
      await testClient.increaseTime({ seconds: Number(BigInt(authorization.validBefore) - latest.timestamp) + 10 });
      await testClient.mine({ blocks: 1 });
      expect((await kit.publicClient.getBlock()).timestamp).toBeGreaterThan(BigInt(authorization.validBefore));
      expect(await kit.authorizationState(authorization.from, authorization.nonce)).toBe(false);
      const late = await fetch(`${kit.facilitator.url}/settle`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ x402Version: 2, paymentPayload: payment, paymentRequirements: payment.accepted }),
        signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
      });
      expect(await late.json()).toMatchObject({ success: false });
      expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore);
      expect(await kit.authorizationState(authorization.from, authorization.nonce)).toBe(false);
    } finally {
      await client.close();
    }
  });
});

interface HostileMcpServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * A minimal MCP server over plain HTTP that misbehaves on purpose: it initializes like any
 * server, then hangs, loops its cursor, or answers with offers no one should pay.
 */
async function startHostileMcpServer(): Promise<HostileMcpServer> {
  const requirement = { scheme: 'exact', network: 'eip155:31337', amount: '20000', asset: getAddress('0x5FbDB2315678afecb367f032d93F642f64180aa3'), payTo: getAddress('0x70997970C51812dc3A010C7d01b50e0d17dc79C8'), maxTimeoutSeconds: 60, extra: { name: 'Test USD', version: '1' } };
  const offer = (accepts: unknown[]) => ({ x402Version: 2, error: 'Payment required', resource: { url: 'mcp://tool/x' }, accepts });
  const paymentResult = (document: unknown) => ({ isError: true, structuredContent: document, content: [{ type: 'text', text: JSON.stringify(document) }] });
  const offers: Record<string, unknown> = {
    offer_seventeen_requirements: paymentResult(offer(Array.from({ length: 17 }, () => requirement))),
    offer_zero_price: paymentResult(offer([{ ...requirement, amount: '0' }])),
    offer_unknown_scheme: paymentResult(offer([{ ...requirement, scheme: 'teleport' }])),
  };
  const hanging = new Set<ServerResponse>();
  const answer = (res: ServerResponse, id: unknown, result: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id, result }));
  };
  const server: HttpServer = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST') return void res.writeHead(405).end();
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
    });
    req.on('end', () => {
      const message = JSON.parse(body) as { id?: unknown; method: string; params?: Record<string, unknown> };
      if (message.id === undefined) return void res.writeHead(202).end();
      switch (message.method) {
        case 'initialize':
          return answer(res, message.id, { protocolVersion: message.params?.['protocolVersion'], capabilities: { tools: {} }, serverInfo: { name: 'hostile', version: '0' } });
        case 'tools/list':
          return answer(res, message.id, { tools: [{ name: 'hang', inputSchema: { type: 'object' } }], nextCursor: 'again' });
        case 'tools/call': {
          const name = String(message.params?.['name']);
          if (name === 'hang') {
            hanging.add(res);
            return;
          }
          return answer(res, message.id, offers[name] ?? { content: [] });
        }
        default:
          return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: message.id, error: { code: -32601, message: 'no' } }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
