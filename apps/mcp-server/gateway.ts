import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Logger } from 'pino';
import type { McpCallInput, McpCallResult, McpGatewayTool } from '../../libs/client/paybound.js';
import { splitNamespacedToolName } from '../../libs/mcp-pay/tool-names.js';
import { createPayboundMcpServer, failure, SERVER_INFO, type ToolDeps } from './tools.js';

// Paybound's MCP server as a gateway: Paybound's own tools (paid_fetch, session_balance,
// search_catalog, close_session) beside the tools of every upstream MCP server the agent's
// org may use, named `<server>__<tool>`. Own tools are served by the McpServer of tools.ts,
// reached in process through an in-memory transport; an upstream tool is called through
// Paybound's gateway use case, which pays what the upstream asks for under the session.

/** The gateway as the MCP server reaches it: Paybound's REST API through the TypeScript client. */
export interface GatewayBackend {
  listTools(): Promise<{ tools: McpGatewayTool[]; unavailable: { server: string; code: string }[] }>;
  callTool(input: McpCallInput): Promise<McpCallResult>;
}

export interface GatewayDeps extends ToolDeps {
  gateway: GatewayBackend;
  logger: Pick<Logger, 'warn'>;
}

const INSTRUCTIONS =
  'Paid tools and paid HTTP within a hard budget. Tools named <server>__<tool> belong to third-party MCP servers: call them directly; when one asks for payment, Paybound pays it from the session within its limits and policies, and a refusal comes back as a tool error with a code and figures. Use search_catalog to find paid endpoints and tools, paid_fetch for paid HTTP, session_balance to see what is left, close_session when the task is done.';

/** The MCP server for one client connection; `close` ends it and its in-process half. */
export async function createGatewayMcpServer(deps: GatewayDeps): Promise<Server> {
  const own = createPayboundMcpServer(deps);
  const [ownSide, gatewaySide] = InMemoryTransport.createLinkedPair();
  await own.connect(ownSide);
  const ownClient = new Client({ name: 'paybound-gateway', version: SERVER_INFO.version });
  await ownClient.connect(gatewaySide);

  const server = new Server(SERVER_INFO, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  server.onclose = () => {
    void ownClient.close();
    void own.close();
  };

  server.setRequestHandler(ListToolsRequestSchema, async () => {
    const [mine, upstream] = await Promise.all([
      ownClient.listTools(),
      deps.gateway.listTools().catch((error: unknown) => {
        // Paybound's own tools stay usable when the upstream tools cannot be listed.
        deps.logger.warn({ err: { message: (error as Error).message } }, 'could not list the upstream MCP tools');
        return { tools: [], unavailable: [] };
      }),
    ]);
    return { tools: [...mine.tools, ...upstream.tools.map(asMcpTool)] };
  });

  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const { name } = request.params;
    const upstream = splitNamespacedToolName(name);
    if (upstream === undefined) return (await ownClient.callTool(request.params));
    let answer: McpCallResult;
    try {
      answer = await deps.gateway.callTool({ server: upstream.server, tool: upstream.tool, arguments: request.params.arguments ?? {} });
    } catch (error) {
      return failure(error);
    }
    // The upstream's own JSON-RPC error (unknown tool, bad arguments) is passed on as one.
    if (answer.error !== null) throw new McpError(answer.error.code, answer.error.message);
    const payment = answer.payment === null ? {} : { 'paybound/payment': answer.payment };
    if (answer.result === null) {
      const pending = { code: 'approval_pending', detail: 'the payment awaits an admin\'s approval; call the tool again once it is approved', paymentId: answer.payment?.id ?? null, amount: answer.payment?.amount ?? null };
      return { content: [{ type: 'text', text: JSON.stringify(pending) }], structuredContent: pending, isError: true, _meta: payment };
    }
    const { content, isError, structuredContent, meta } = answer.result;
    return {
      content: content as CallToolResult['content'],
      isError,
      ...(structuredContent === undefined ? {} : { structuredContent }),
      _meta: { ...(meta ?? {}), ...payment },
    };
  });
  return server;
}

/** An upstream tool as the agent's model sees it: its price in the description, and in `_meta`. */
function asMcpTool(tool: McpGatewayTool): Tool {
  const price = tool.price === null ? '' : `\n\nPrice: ${tool.price} USD per call, paid by Paybound from the session budget.`;
  const description = `${tool.description ?? ''}${price}`.trim();
  return {
    name: tool.name,
    ...(tool.title === undefined ? {} : { title: tool.title }),
    ...(description === '' ? {} : { description }),
    inputSchema: tool.inputSchema as Tool['inputSchema'],
    ...(tool.outputSchema === undefined ? {} : { outputSchema: tool.outputSchema as Tool['outputSchema'] }),
    ...(tool.annotations === undefined ? {} : { annotations: tool.annotations }),
    _meta: { 'paybound/server': tool.server, 'paybound/price': tool.price === null ? null : { usd: tool.price, atomic: tool.priceAtomic, network: tool.network } },
  };
}
