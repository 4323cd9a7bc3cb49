import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { PayboundError, type Paybound } from '../../libs/client/paybound.js';

/** What a tool hands back to the model is bounded; a larger body is cut and says so. */
export const BODY_CHARS_MAX = 64 * 1024;
const CATALOG_TIMEOUT_MS = 15_000;
const CATALOG_ANSWER_BYTES_MAX = 1024 * 1024;

const usd = z.string().regex(/^(0|[1-9][0-9]{0,12})(\.[0-9]{1,6})?$/, 'a USD amount such as "0.01"');

export interface ToolDeps {
  paybound: Paybound;
  sessionId: string;
  /** For the catalog, which the client SDK does not cover. */
  payboundUrl: string;
  apiKey: string;
}

export const SERVER_INFO = { name: 'paybound', version: '0.1.0' } as const;

/**
 * An MCP server whose tools spend from one Paybound session. Each transport connection
 * gets its own McpServer; they share the session and so its budget.
 */
export function createPayboundMcpServer(deps: ToolDeps): McpServer {
  const server = new McpServer(SERVER_INFO, {
    instructions: 'Paid HTTP within a hard budget: use search_catalog to find paid endpoints, paid_fetch to call one (x402 payments are made by Paybound within the session limit), session_balance to see what is left.',
  });

  server.registerTool(
    'paid_fetch',
    {
      title: 'Paid fetch',
      description:
        'Fetches a URL through Paybound. If the server asks for an x402 payment (HTTP 402), Paybound pays it from the session budget, within maxPrice if given, and answers with the server response. Refusals (budget, policy, price) come back as errors with a code.',
      inputSchema: {
        url: z.string().url().max(2048).describe('http(s) URL to fetch'),
        method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).optional().describe('HTTP method, GET by default'),
        maxPrice: usd.optional().describe('The most to pay for this request, in USD'),
        body: z.string().max(96 * 1024).optional().describe('Request body, sent as is'),
        contentType: z.string().max(256).optional().describe('Content-Type of the body'),
      },
      annotations: { readOnlyHint: false, openWorldHint: true, idempotentHint: false },
    },
    async ({ url, method, maxPrice, body, contentType }): Promise<CallToolResult> => {
      try {
        const response = await deps.paybound.fetch(deps.sessionId, url, {
          ...(method === undefined ? {} : { method }),
          ...(maxPrice === undefined ? {} : { maxPrice }),
          ...(body === undefined ? {} : { body }),
          ...(contentType === undefined ? {} : { headers: { 'content-type': contentType } }),
        });
        const text = await response.text();
        const result = {
          status: response.status,
          contentType: response.headers.get('content-type'),
          paymentId: response.headers.get('paybound-payment-id'),
          amount: response.headers.get('paybound-amount'),
          remaining: response.headers.get('paybound-remaining'),
          truncated: text.length > BODY_CHARS_MAX,
          body: text.slice(0, BODY_CHARS_MAX),
        };
        return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result, isError: response.status >= 400 };
      } catch (error) {
        return failure(error);
      }
    },
  );

  server.registerTool(
    'session_balance',
    {
      title: 'Session balance',
      description: 'The Paybound session this server spends from: limit, reserved, spent and remaining (USD), status, expiry and number of payments.',
      inputSchema: {},
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async (): Promise<CallToolResult> => {
      try {
        const session = await deps.paybound.getSession(deps.sessionId);
        const result = {
          sessionId: session.id,
          limit: session.limit,
          reserved: session.reserved,
          spent: session.spent,
          remaining: session.remaining,
          status: session.status,
          expiresAt: session.expiresAt,
          payments: session.payments,
        };
        return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
      } catch (error) {
        return failure(error);
      }
    },
  );

  server.registerTool(
    'search_catalog',
    {
      title: 'Search paid endpoints',
      description: 'Searches the paid x402 endpoints Paybound knows (from facilitator discovery and past payments), with their prices in USD.',
      inputSchema: {
        q: z.string().max(200).optional().describe('Words to search for, e.g. "weather forecast"'),
        maxPrice: usd.optional().describe('Only endpoints at most this price, in USD'),
        network: z.string().max(48).optional().describe('CAIP-2 network, e.g. eip155:8453'),
        limit: z.number().int().min(1).max(100).optional(),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ q, maxPrice, network, limit }): Promise<CallToolResult> => {
      const params = new URLSearchParams();
      if (q !== undefined && q.trim() !== '') params.set('q', q);
      if (maxPrice !== undefined) params.set('maxPrice', maxPrice);
      if (network !== undefined) params.set('network', network);
      if (limit !== undefined) params.set('limit', String(limit));
      try {
        const response = await fetch(`${deps.payboundUrl}/v1/catalog?${params.toString()}`, {
          headers: { authorization: `Bearer ${deps.apiKey}`, accept: 'application/json' },
          signal: AbortSignal.timeout(CATALOG_TIMEOUT_MS),
        });
        const buffer = await response.arrayBuffer();
        if (buffer.byteLength > CATALOG_ANSWER_BYTES_MAX) throw new PayboundError(response.status, 'answer_too_large', `the catalog answered ${buffer.byteLength} bytes`);
        const answer = JSON.parse(new TextDecoder().decode(buffer)) as Record<string, unknown>;
        if (!response.ok) {
          throw new PayboundError(response.status, typeof answer['code'] === 'string' ? answer['code'] : `http_${response.status}`, typeof answer['detail'] === 'string' ? answer['detail'] : `HTTP ${response.status}`);
        }
        return { content: [{ type: 'text', text: JSON.stringify(answer) }], structuredContent: answer };
      } catch (error) {
        return failure(error);
      }
    },
  );

  return server;
}

/** A tool error the model can act on: Paybound's stable code, its detail and figures. */
function failure(error: unknown): CallToolResult {
  const result =
    error instanceof PayboundError
      ? { code: error.code, detail: error.detail, status: error.status, ...pickFigures(error.figures) }
      : { code: 'tool_failed', detail: (error as Error).message };
  return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result, isError: true };
}

function pickFigures(figures: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const name of ['limit', 'requested', 'remaining', 'level', 'field', 'paymentId']) {
    if (figures[name] !== undefined) kept[name] = figures[name];
  }
  return kept;
}
