import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  McpError,
  type CallToolRequest,
  type CallToolResult,
  type Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { HTTPFacilitatorClient, x402ResourceServer } from '@x402/core/server';
import { SettleError, type PaymentPayload, type PaymentRequired, type PaymentRequirements, type SettleResponse } from '@x402/core/types';
import { ExactEvmScheme } from '@x402/evm/exact/server';
import express, { type Request, type Response } from 'express';
import type { Address } from 'viem';

import { ANVIL_CHAIN_ID } from './anvil.js';
import { listenLoopback } from './http-server.js';

// A paid MCP server built from the x402 MCP transport spec (specs/transports-v2/mcp.md)
// with the official pieces: the MCP SDK's low-level Server over streamable HTTP, and
// x402ResourceServer with the EVM `exact` scheme verifying and settling through the kit's
// facilitator. It follows the reference wrapper of @x402/mcp (createPaymentWrapper):
// verify, run the tool, and settle only when the tool succeeded.
//
// The low-level Server is used rather than McpServer because McpServer turns every error a
// tool throws into an `isError` result, and the older signaling form is a JSON-RPC error.

/** How the server says "payment required". */
export type McpPaymentSignaling =
  /** `isError` result with the PaymentRequired in structuredContent and content[0].text (current). */
  | 'tool_result'
  /** JSON-RPC error 402 with the PaymentRequired in error.data (the spec before late 2025's change). */
  | 'jsonrpc_error';

export const MCP_FREE_TOOL = 'echo';
export const MCP_PAID_TOOL = 'premium_quote';
/** Paid, and fails after the payment is verified: it never settles, so nothing moves. */
export const MCP_FAILING_TOOL = 'flaky_report';

export interface McpSellerOptions {
  readonly facilitatorUrl: string;
  readonly token: Address;
  readonly payTo: Address;
  /** Price of each paid tool in atomic units; default 20000 (0.02 of the 6-decimal test dollar). */
  readonly priceAtomic?: string;
  readonly maxTimeoutSeconds?: number;
  readonly signaling?: McpPaymentSignaling;
  /**
   * Answer with the `org.x402/payment` extension result (`resultType: "payment_required"`)
   * to requests that advertise the extension in `_meta["io.modelcontextprotocol/clientCapabilities"]`.
   */
  readonly extensionBinding?: boolean;
  /** Answer tool calls as one JSON body instead of an SSE stream. */
  readonly jsonResponse?: boolean;
}

export interface McpSellerStats {
  /** Calls that carried `_meta["x402/payment"]`. */
  readonly paidCalls: number;
  readonly verified: number;
  readonly settled: number;
  /** Paid calls whose tool failed after verification, so nothing was settled. */
  readonly failedAfterVerify: number;
}

export interface McpSellerHandle {
  /** The streamable-HTTP endpoint. */
  readonly url: string;
  readonly network: `eip155:${number}`;
  readonly priceAtomic: string;
  setSignaling(signaling: McpPaymentSignaling): void;
  stats(): McpSellerStats;
  close(): Promise<void>;
}

const X402_PAYMENT = 'x402/payment';
const X402_PAYMENT_RESPONSE = 'x402/payment-response';
const CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';
const EXTENSION_ID = 'org.x402/payment';
const BODY_LIMIT = '64kb';
const FACILITATOR_TIMEOUT_MS = 30_000;

const TOOLS: readonly Tool[] = [
  {
    name: MCP_FREE_TOOL,
    description: 'Echoes its text back. Free.',
    inputSchema: { type: 'object', properties: { text: { type: 'string', maxLength: 1000 } }, required: ['text'] },
  },
  {
    name: MCP_PAID_TOOL,
    description: 'A premium quote for a ticker. Paid per call.',
    inputSchema: { type: 'object', properties: { ticker: { type: 'string', maxLength: 12 } }, required: ['ticker'] },
  },
  {
    name: MCP_FAILING_TOOL,
    description: 'A premium report whose backend is down: it fails after the payment is verified.',
    inputSchema: { type: 'object', properties: { ticker: { type: 'string', maxLength: 12 } }, required: ['ticker'] },
  },
];

export async function startMcpSeller(options: McpSellerOptions): Promise<McpSellerHandle> {
  const network = `eip155:${ANVIL_CHAIN_ID}` as const;
  const priceAtomic = options.priceAtomic ?? '20000';
  if (!/^[1-9][0-9]{0,77}$/.test(priceAtomic)) throw new RangeError('startMcpSeller: priceAtomic must be an atomic integer string');
  const state = { signaling: options.signaling ?? 'tool_result', paidCalls: 0, verified: 0, settled: 0, failedAfterVerify: 0 };

  const resourceServer = new x402ResourceServer(
    new HTTPFacilitatorClient({ url: options.facilitatorUrl, timeoutMs: FACILITATOR_TIMEOUT_MS }),
  ).register(network, new ExactEvmScheme());
  // Reads the facilitator's /supported, without which requirements cannot be built.
  await resourceServer.initialize();
  const accepts = await resourceServer.buildPaymentRequirements({
    scheme: 'exact',
    network,
    payTo: options.payTo,
    price: { amount: priceAtomic, asset: options.token, extra: { name: 'Test USD', version: '1' } },
    maxTimeoutSeconds: options.maxTimeoutSeconds ?? 120,
  });

  const paymentRequired = (tool: string, error: string): Promise<PaymentRequired> =>
    resourceServer.createPaymentRequiredResponse(accepts, {
      url: `mcp://tool/${tool}`,
      description: TOOLS.find((t) => t.name === tool)?.description ?? tool,
      mimeType: 'application/json',
    }, error);

  /** The payment signal in the form this request gets. */
  const signal = async (request: CallToolRequest, error: string, settlement?: SettleResponse): Promise<CallToolResult> => {
    const document = await paymentRequired(request.params.name, error);
    if (options.extensionBinding === true && advertisesExtension(request)) {
      return {
        resultType: 'payment_required',
        paymentRequired: document,
        ...(settlement === undefined ? {} : { _meta: { [X402_PAYMENT_RESPONSE]: settlement } }),
      } as unknown as CallToolResult;
    }
    if (state.signaling === 'jsonrpc_error') {
      throw new McpError(402, error, settlement === undefined ? document : { ...document, [X402_PAYMENT_RESPONSE]: settlement });
    }
    return {
      isError: true,
      structuredContent: document as unknown as Record<string, unknown>,
      content: [{ type: 'text', text: JSON.stringify(document) }],
    };
  };

  const callTool = async (request: CallToolRequest): Promise<CallToolResult> => {
    const { name } = request.params;
    const args = request.params.arguments ?? {};
    if (name === MCP_FREE_TOOL) {
      return { content: [{ type: 'text', text: typeof args['text'] === 'string' ? args['text'] : '' }] };
    }
    if (name !== MCP_PAID_TOOL && name !== MCP_FAILING_TOOL) throw new McpError(-32602, `Unknown tool: ${name}`);

    const payment = request.params._meta?.[X402_PAYMENT];
    if (typeof payment !== 'object' || payment === null || !('x402Version' in payment) || !('payload' in payment)) {
      return signal(request, 'Payment required to access this tool');
    }
    state.paidCalls += 1;
    const payload = payment as PaymentPayload;
    const requirements: PaymentRequirements | undefined = resourceServer.findMatchingRequirements(accepts, payload);
    if (requirements === undefined) return signal(request, 'No matching payment requirements found');
    let verification: { isValid: boolean; invalidReason?: string };
    try {
      verification = await resourceServer.verifyPayment(payload, requirements);
    } catch (error) {
      verification = { isValid: false, invalidReason: error instanceof Error ? error.message : 'verification failed' };
    }
    if (!verification.isValid) return signal(request, verification.invalidReason ?? 'Payment verification failed');
    state.verified += 1;

    if (name === MCP_FAILING_TOOL) {
      // The reference wrapper settles only after the tool succeeded; a failed tool leaves
      // the signed authorization unused, to expire at its validBefore.
      state.failedAfterVerify += 1;
      return { isError: true, content: [{ type: 'text', text: 'report backend unavailable; you were not charged' }] };
    }
    const ticker = typeof args['ticker'] === 'string' ? args['ticker'].slice(0, 12) : 'N/A';
    const output = { ticker, priceUsd: '187.42', source: 'devnet' };
    let settlement: SettleResponse;
    try {
      settlement = await resourceServer.settlePayment(payload, requirements);
    } catch (error) {
      const failed: SettleResponse | undefined =
        error instanceof SettleError
          ? {
              success: false,
              transaction: error.transaction,
              network: error.network,
              ...(error.errorReason === undefined ? {} : { errorReason: error.errorReason }),
              ...(error.payer === undefined ? {} : { payer: error.payer }),
            }
          : undefined;
      return signal(request, `Payment settlement failed: ${failed?.errorReason ?? 'unknown'}`, failed);
    }
    if (!settlement.success) return signal(request, `Payment settlement failed: ${settlement.errorReason ?? 'unknown'}`, settlement);
    state.settled += 1;
    return {
      content: [{ type: 'text', text: JSON.stringify(output) }],
      structuredContent: output,
      _meta: { [X402_PAYMENT_RESPONSE]: settlement },
    };
  };

  const app = express();
  app.use(express.json({ limit: BODY_LIMIT }));
  app.post('/mcp', async (req: Request, res: Response) => {
    // Stateless: one Server and transport per request, as the SDK's stateless example does.
    const server = new Server({ name: 'paybound-devnet-mcp-seller', version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [...TOOLS] }));
    server.setRequestHandler(CallToolRequestSchema, callTool);
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      ...(options.jsonResponse === true ? { enableJsonResponse: true } : {}),
    });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch {
      if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null });
    }
  });
  // Stateless: no server-initiated stream and no session to delete.
  const methodNotAllowed = (_req: Request, res: Response) => {
    res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null });
  };
  app.get('/mcp', methodNotAllowed);
  app.delete('/mcp', methodNotAllowed);

  const listening = await listenLoopback(app);
  return {
    url: `${listening.url}/mcp`,
    network,
    priceAtomic,
    setSignaling: (signaling) => {
      state.signaling = signaling;
    },
    stats: () => ({ paidCalls: state.paidCalls, verified: state.verified, settled: state.settled, failedAfterVerify: state.failedAfterVerify }),
    close: () => listening.close(),
  };
}

function advertisesExtension(request: CallToolRequest): boolean {
  const capabilities = request.params._meta?.[CLIENT_CAPABILITIES];
  if (typeof capabilities !== 'object' || capabilities === null) return false;
  const extensions = (capabilities as { extensions?: unknown }).extensions;
  return typeof extensions === 'object' && extensions !== null && Object.hasOwn(extensions, EXTENSION_ID);
}
