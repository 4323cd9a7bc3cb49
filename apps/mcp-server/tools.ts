import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { CatalogItem, CatalogQuery, Session } from '../../libs/client/paybound.js';

// Paybound's own MCP tools. They call a backend, not a transport: this server's backend is
// the REST API through the TypeScript client (rest-backend.ts); the governor's MCP gateway
// (issue #20) can register the same tools over its use cases, in process.

/** What a tool hands back to the model is bounded; a larger body is cut and says so. */
export const BODY_CHARS_MAX = 64 * 1024;

const usd = z.string().regex(/^(0|[1-9][0-9]{0,12})(\.[0-9]{1,6})?$/, 'a USD amount such as "0.01"');

export interface PaidFetchRequest {
  url: string;
  method?: string;
  maxPrice?: string;
  body?: string;
  contentType?: string;
}

/** The seller's answer and what it cost, as the model reads it. */
export interface PaidFetchResult {
  status: number;
  contentType: string | null;
  paymentId: string | null;
  amount: string | null;
  remaining: string | null;
  /** The first answer to an Idempotency-Key, answered again: nothing was paid this time. */
  replayed: boolean;
  body: string;
}

/**
 * Paybound as the tools use it, for one session. A refusal is thrown as an error carrying
 * Paybound's stable `code`, its `detail` and its figures (the client's PayboundError, or the
 * governor's ApiProblem): the tools turn it into a result the model can act on.
 */
export interface PayboundToolBackend {
  paidFetch(request: PaidFetchRequest): Promise<PaidFetchResult>;
  session(): Promise<Session>;
  closeSession(): Promise<Session>;
  searchCatalog(query: CatalogQuery): Promise<{ items: CatalogItem[]; hasMore: boolean }>;
}

export interface ToolDeps {
  backend: PayboundToolBackend;
  sessionId: string;
}

export const SERVER_INFO = { name: 'paybound', version: '0.1.0' } as const;

/**
 * An MCP server whose tools spend from one Paybound session. Each transport connection
 * gets its own McpServer; they share the session and so its budget.
 */
export function createPayboundMcpServer(deps: ToolDeps): McpServer {
  const server = new McpServer(SERVER_INFO, {
    instructions:
      'Paid HTTP within a hard budget: use search_catalog to find paid endpoints, paid_fetch to call one (x402 payments are made by Paybound within the session limit), session_balance to see what is left, close_session when the task is done.',
  });
  registerPayboundTools(server, deps);
  return server;
}

/** Registers paid_fetch, session_balance, search_catalog and close_session on a server. */
export function registerPayboundTools(server: McpServer, { backend, sessionId }: ToolDeps): void {
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
    async (request): Promise<CallToolResult> => {
      try {
        const answer = await backend.paidFetch(request);
        const result = { ...answer, truncated: answer.body.length > BODY_CHARS_MAX, body: answer.body.slice(0, BODY_CHARS_MAX) };
        return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result, isError: answer.status >= 400 };
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
        const result = sessionResult(await backend.session());
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
    async (query): Promise<CallToolResult> => {
      try {
        const answer = await backend.searchCatalog(query);
        return { content: [{ type: 'text', text: JSON.stringify(answer) }], structuredContent: { ...answer } };
      } catch (error) {
        return failure(error);
      }
    },
  );

  server.registerTool(
    'close_session',
    {
      title: 'Close the session',
      description: `Closes the Paybound session this server spends from (${sessionId}): every later paid_fetch is refused with session_closed; payments under way finish. Use it when the task is done. Closing it again changes nothing.`,
      inputSchema: {},
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async (): Promise<CallToolResult> => {
      try {
        const result = sessionResult(await backend.closeSession());
        return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result };
      } catch (error) {
        return failure(error);
      }
    },
  );
}

function sessionResult(session: Session) {
  return {
    sessionId: session.id,
    limit: session.limit,
    reserved: session.reserved,
    spent: session.spent,
    remaining: session.remaining,
    status: session.status,
    expiresAt: session.expiresAt,
    payments: session.payments,
  };
}

/** An error that carries Paybound's code: the client's PayboundError or the governor's ApiProblem. */
interface CodedError {
  code: string;
  detail: string;
  status?: number;
  figures?: Readonly<Record<string, unknown>>;
}

function isCodedError(error: unknown): error is CodedError {
  return error instanceof Error && typeof (error as Partial<CodedError>).code === 'string' && typeof (error as Partial<CodedError>).detail === 'string';
}

/** A tool error the model can act on: Paybound's stable code, its detail and figures. */
export function failure(error: unknown): CallToolResult {
  const result = isCodedError(error)
    ? { code: error.code, detail: error.detail, ...(error.status === undefined ? {} : { status: error.status }), ...pickFigures(error.figures ?? {}) }
    : { code: 'tool_failed', detail: (error as Error).message };
  return { content: [{ type: 'text', text: JSON.stringify(result) }], structuredContent: result, isError: true };
}

function pickFigures(figures: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const name of ['limit', 'requested', 'remaining', 'level', 'field', 'paymentId', 'paymentStatus', 'reason']) {
    if (figures[name] !== undefined) kept[name] = figures[name];
  }
  return kept;
}
