// The TypeScript client an agent runtime uses to spend within a Paybound session.
//
// It depends on nothing but `fetch`, so it runs in Node 20+, Deno, Bun, workers and
// browsers; it imports nothing from the governor, because the wire contract (API.md and
// the OpenAPI document at /docs) is what it relies on, not the server's code.

/** A USD amount as a decimal string, such as "2.00" or "0.005". Never a float. */
export type Usd = string;

export interface Session {
  id: string;
  agentId: string;
  limit: Usd;
  reserved: Usd;
  spent: Usd;
  remaining: Usd;
  status: 'open' | 'expired' | 'closed';
  expiresAt: string;
  payments: number;
  maxPayments: number | null;
  metadata: Record<string, string>;
  createdAt: string;
}

export type PaymentStatus = 'awaiting_approval' | 'reserved' | 'signed' | 'settled' | 'refunded' | 'rejected' | 'unknown';

export interface Payment {
  id: string;
  sessionId: string;
  status: PaymentStatus;
  amount: Usd;
  amountAtomic: string | null;
  asset: string | null;
  network: string | null;
  payTo: string | null;
  resource: string | null;
  validBefore: string | null;
  transaction: string | null;
  reason: string | null;
  createdAt: string;
}

/** A sign-only payment: `header` is set once the settlement worker has signed. */
export interface PaymentRequest extends Payment {
  header: { name: string; value: string } | null;
}

/** A paid endpoint Paybound knows, from facilitator discovery or a paid fetch that settled. */
export interface CatalogItem {
  resource: string;
  description: string;
  serviceName: string | null;
  tags: string[];
  network: string;
  scheme: string;
  asset: string;
  payTo: string;
  /** USD, or null when the asset is not one Paybound can value. */
  price: Usd | null;
  priceAtomic: string;
  x402Version: number;
  source: string;
  lastUpdated: string;
}

export interface CatalogQuery {
  /** Words to search for, such as "weather forecast". */
  q?: string;
  /** Only endpoints at most this price, in USD. */
  maxPrice?: Usd;
  /** A CAIP-2 network, such as `eip155:8453`. */
  network?: string;
  limit?: number;
  offset?: number;
}

export interface OpenSessionInput {
  limit: Usd;
  expiresInMinutes?: number;
  maxPayments?: number;
  metadata?: Record<string, string>;
}

export interface RequestPaymentInput {
  /** The raw `PAYMENT-REQUIRED` header value (x402 v2) or the JSON body of a v1 402 answer. */
  paymentRequired: string | Record<string, unknown>;
  url: string;
  method?: string;
}

export interface ReportResultInput {
  /** The seller's HTTP status code. */
  status: number;
  /** The seller's `PAYMENT-RESPONSE` / `X-PAYMENT-RESPONSE` header value, if any. */
  paymentResponse?: string;
}

/** A tool of an upstream MCP server, as Paybound's MCP gateway offers it to the agent's org. */
export interface McpGatewayTool {
  /** `<server>__<tool>`. */
  name: string;
  server: string;
  tool: string;
  title?: string;
  description?: string;
  inputSchema: Record<string, unknown>;
  outputSchema?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  /** What one call costs when known (USD), with the atomic amount and network. */
  price: Usd | null;
  priceAtomic: string | null;
  network: string | null;
}

export interface McpCallInput {
  server: string;
  tool: string;
  arguments?: Record<string, unknown>;
  /** The most Paybound may pay for this call, in USD. */
  maxPrice?: Usd;
  meta?: Record<string, unknown>;
}

/** An upstream tool's answer through the gateway, with what it cost. */
export interface McpCallResult {
  server: string;
  tool: string;
  /** The MCP tool result (`content`, `isError`, `structuredContent`, `meta`); null for a JSON-RPC error or a payment awaiting approval. */
  result: { content: Record<string, unknown>[]; isError: boolean; structuredContent?: Record<string, unknown>; meta?: Record<string, unknown> } | null;
  error: { code: number; message: string } | null;
  payment: { id: string; status: PaymentStatus; amount: Usd; remaining: Usd | null; transaction: string | null } | null;
}

export interface CallOptions {
  /** Makes a spending call safe to retry: a repeat answers the first result. */
  idempotencyKey?: string;
  signal?: AbortSignal;
}

export interface PaidFetchInit extends Omit<RequestInit, 'body'> {
  body?: string | URLSearchParams | null;
  /** The most Paybound may pay for this request, in USD; a dearer offer is refused. */
  maxPrice?: Usd;
}

/**
 * Any answer of Paybound that is not a success: the RFC 9457 problem's stable `code`, its
 * `detail`, and its figures (`limit`, `requested`, `remaining`, `level`, `field`, …).
 * `status` 0 means Paybound could not be reached or did not answer in time.
 */
export class PayboundError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly figures: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(`${code}: ${detail}`, options);
    this.name = 'PayboundError';
  }
}

export interface PayboundOptions {
  /** The governor's base URL, such as `http://127.0.0.1:8080`. */
  url: string;
  /** An agent key (`pb_agent_…`). */
  apiKey: string;
  /** A fetch implementation; the global one by default. */
  fetch?: typeof globalThis.fetch;
  /** Per call, except paid fetches. */
  timeoutMs?: number;
  /** Paid fetches include the seller's answer and the settlement, so they get longer. */
  fetchTimeoutMs?: number;
}

export interface Paybound {
  openSession(input: OpenSessionInput, options?: CallOptions): Promise<Session>;
  getSession(sessionId: string, options?: CallOptions): Promise<Session>;
  /** Closes the session to new payments; payments under way finish. Closing it again answers it again. */
  closeSession(sessionId: string, options?: CallOptions): Promise<Session>;
  /** Paid endpoints Paybound knows, with their prices. */
  searchCatalog(query?: CatalogQuery, options?: CallOptions): Promise<{ items: CatalogItem[]; hasMore: boolean }>;
  requestPayment(sessionId: string, input: RequestPaymentInput, options?: CallOptions): Promise<PaymentRequest>;
  reportResult(paymentId: string, input: ReportResultInput, options?: CallOptions): Promise<Payment>;
  getPayment(paymentId: string, options?: CallOptions): Promise<Payment>;
  /**
   * Like `fetch`, but a 402 is paid through Paybound within the session's budget. The
   * answer is the seller's, with `Paybound-Payment-Id`, `Paybound-Amount` and
   * `Paybound-Remaining` headers when a payment was made, and `Paybound-Idempotent-Replay:
   * true` when an `Idempotency-Key` retry was answered with the first answer. A refusal by
   * Paybound (budget, policy, hostile offer) throws a PayboundError; the seller's own
   * errors, problem+json included, are answers.
   */
  fetch(sessionId: string, url: string | URL, init?: PaidFetchInit): Promise<Response>;
  /** The tools of the upstream MCP servers the agent's org may use, with their prices when known. */
  listMcpTools(options?: CallOptions): Promise<{ tools: McpGatewayTool[]; unavailable: { server: string; code: string }[] }>;
  /**
   * Calls an upstream MCP tool through Paybound: a payment it asks for is decided under the
   * session and paid by Paybound. A refusal throws a PayboundError with the code and figures.
   */
  callMcpTool(sessionId: string, input: McpCallInput, options?: CallOptions): Promise<McpCallResult>;
}

const TIMEOUT_MS_DEFAULT = 30_000;
const FETCH_TIMEOUT_MS_DEFAULT = 120_000;
/** Paybound's JSON answers are small; a larger one is a fault, not something to buffer. */
const JSON_ANSWER_BYTES_MAX = 1024 * 1024;
/** An MCP tool's answer: the upstream's result (up to 4 MiB on the wire) with Paybound's figures. */
const MCP_ANSWER_BYTES_MAX = 6 * 1024 * 1024;
/** The governor bounds request bodies at 128 KiB; fail early and clearly instead. */
const FETCH_BODY_CHARS_MAX = 96 * 1024;
const FETCH_HEADERS_MAX = 50;
/**
 * Set on Paybound's own problem answers only: pay-and-fetch drops every `Paybound-*` header
 * of a seller's answer, so a seller's problem+json (whatever its `type`) never carries it.
 */
const PAYBOUND_PROBLEM_HEADER = 'paybound-problem';

export function createPaybound(options: PayboundOptions): Paybound {
  const base = options.url.replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const timeoutMs = options.timeoutMs ?? TIMEOUT_MS_DEFAULT;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? FETCH_TIMEOUT_MS_DEFAULT;

  async function send(method: string, path: string, body: unknown, call: CallOptions | undefined, limitMs: number): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${options.apiKey}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (call?.idempotencyKey !== undefined) headers['idempotency-key'] = call.idempotencyKey;
    const signals = [AbortSignal.timeout(limitMs), ...(call?.signal === undefined ? [] : [call.signal])];
    try {
      return await doFetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.any(signals) });
    } catch (error) {
      if (call?.signal?.aborted === true) throw error;
      throw new PayboundError(0, 'unreachable', `Paybound at ${base} did not answer: ${(error as Error).message}`, {}, { cause: error });
    }
  }

  async function json<T>(method: string, path: string, body?: unknown, call?: CallOptions, limits = { timeoutMs, bytesMax: JSON_ANSWER_BYTES_MAX }): Promise<T> {
    const response = await send(method, path, body, call, limits.timeoutMs);
    const text = await boundedText(response, limits.bytesMax);
    if (!response.ok) throw problemError(response.status, text);
    return JSON.parse(text) as T;
  }

  const id = (value: string): string => encodeURIComponent(value);

  return {
    openSession: (input, call) => json<Session>('POST', '/v1/sessions', input, call),
    getSession: (sessionId, call) => json<Session>('GET', `/v1/sessions/${id(sessionId)}`, undefined, call),
    closeSession: (sessionId, call) => json<Session>('POST', `/v1/sessions/${id(sessionId)}/close`, undefined, call),
    searchCatalog: (query = {}, call) => {
      const params = new URLSearchParams();
      if (query.q !== undefined && query.q.trim() !== '') params.set('q', query.q);
      if (query.maxPrice !== undefined) params.set('maxPrice', query.maxPrice);
      if (query.network !== undefined) params.set('network', query.network);
      if (query.limit !== undefined) params.set('limit', String(query.limit));
      if (query.offset !== undefined) params.set('offset', String(query.offset));
      const search = params.toString();
      return json<{ items: CatalogItem[]; hasMore: boolean }>('GET', `/v1/catalog${search === '' ? '' : `?${search}`}`, undefined, call);
    },
    requestPayment: (sessionId, input, call) => json<PaymentRequest>('POST', `/v1/sessions/${id(sessionId)}/payments`, input, call),
    reportResult: (paymentId, input, call) => json<Payment>('POST', `/v1/payments/${id(paymentId)}/result`, input, call),
    getPayment: (paymentId, call) => json<Payment>('GET', `/v1/payments/${id(paymentId)}`, undefined, call),
    listMcpTools: (call) => json('GET', '/v1/mcp/tools', undefined, call),
    // A tool call includes the upstream's work and the settlement, and its result may be large.
    callMcpTool: (sessionId, input, call) => json<McpCallResult>('POST', `/v1/sessions/${id(sessionId)}/mcp/call`, input, call, { timeoutMs: fetchTimeoutMs, bytesMax: MCP_ANSWER_BYTES_MAX }),

    async fetch(sessionId, url, init = {}) {
      const headers: Record<string, string> = {};
      let count = 0;
      new Headers(init.headers).forEach((value, name) => {
        count += 1;
        headers[name] = value;
      });
      if (count > FETCH_HEADERS_MAX) throw new TypeError(`paybound.fetch: at most ${FETCH_HEADERS_MAX} headers`);
      const body = init.body === undefined || init.body === null ? undefined : String(init.body);
      if (body !== undefined && body.length > FETCH_BODY_CHARS_MAX) throw new TypeError(`paybound.fetch: the body is limited to ${FETCH_BODY_CHARS_MAX} characters`);
      const request = {
        url: String(url),
        ...(init.method === undefined ? {} : { method: init.method.toUpperCase() }),
        ...(count === 0 ? {} : { headers }),
        ...(body === undefined ? {} : { body }),
        ...(init.maxPrice === undefined ? {} : { maxPrice: init.maxPrice }),
      };
      const idempotencyKey = new Headers(init.headers).get('idempotency-key') ?? undefined;
      const answer = await send('POST', `/v1/sessions/${id(sessionId)}/fetch`, request, { idempotencyKey, signal: init.signal ?? undefined }, fetchTimeoutMs);
      // Only Paybound's own problems are errors; a seller's problem+json is its answer.
      if (!answer.ok && answer.headers.has(PAYBOUND_PROBLEM_HEADER)) throw problemError(answer.status, await boundedText(answer, JSON_ANSWER_BYTES_MAX));
      // A fresh Response so that callers get a standard object whatever fetch was injected.
      return new Response(answer.status === 204 || answer.status === 304 ? null : answer.body, { status: answer.status, statusText: answer.statusText, headers: answer.headers });
    },
  };
}

async function boundedText(response: Response, bytesMax: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > bytesMax) throw new PayboundError(response.status, 'answer_too_large', `Paybound answered ${declared} bytes; at most ${bytesMax} are read`);
  const buffer = await response.arrayBuffer();
  if (buffer.byteLength > bytesMax) throw new PayboundError(response.status, 'answer_too_large', `Paybound answered ${buffer.byteLength} bytes; at most ${bytesMax} are read`);
  return new TextDecoder().decode(buffer);
}

function problemError(status: number, text: string): PayboundError {
  let problem: Record<string, unknown>;
  try {
    problem = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return new PayboundError(status, 'unparseable_problem', `HTTP ${status}: ${text.slice(0, 200)}`);
  }
  const { code, detail, status: _status, title: _title, ...figures } = problem;
  return new PayboundError(status, typeof code === 'string' ? code : `http_${status}`, typeof detail === 'string' ? detail : `HTTP ${status}`, figures);
}
