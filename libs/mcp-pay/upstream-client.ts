import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, McpError, ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { fetch as undiciFetch, type Agent } from 'undici';

import {
  assertPublicLiteral,
  destinationRefusal,
  DestinationNotAllowedError,
  outboundDispatcher,
  type PrivateAddressPolicy,
} from '../platform/outbound-guard.js';
import { McpUpstreamError } from './errors.js';
import { isMcpToolName } from './tool-names.js';
import { classifyToolCallAnswer, type ToolCallOutcome, type ToolCallParams } from './transport.js';
import { isPlainObject, safeText } from './untrusted.js';

// The gateway's client of one upstream MCP server over streamable HTTP, built on the
// official SDK client. A registered upstream is an address an admin typed, called with
// arguments an agent chose, so every request goes through the outbound guard (private
// addresses refused unless the operator allows them, checked on the address actually
// connected to), and every answer is bounded in time and size. The gateway listens to no
// server-initiated stream: it asks and reads the answer, nothing else.

export const UPSTREAM_CONNECT_TIMEOUT_MS = 10_000;
export const UPSTREAM_REQUEST_TIMEOUT_MS = 30_000;
/** One HTTP answer of the upstream (a JSON body or the SSE stream of one request). */
export const UPSTREAM_RESPONSE_BYTES_MAX = 4 * 1024 * 1024;
/** tools/list is read up to this many pages, and keeps at most this many tools. */
export const TOOL_LIST_PAGES_MAX = 20;
export const TOOLS_MAX = 500;
const CURSOR_CHARS_MAX = 1_024;
const TOOL_TITLE_CHARS_MAX = 256;
/** Descriptions are shown to the agent's model; longer ones are cut, not passed whole. */
const TOOL_DESCRIPTION_CHARS_MAX = 4_096;
const TOOL_SCHEMA_CHARS_MAX = 64 * 1024;
const DETAIL_CHARS_MAX = 200;

export interface UpstreamMcpOptions {
  /** The streamable-HTTP endpoint, `https://…/mcp`. */
  readonly url: string;
  /** `deny` in production: the upstream must be on a public address. */
  readonly privateAddresses: PrivateAddressPolicy;
  /** Extra request headers, e.g. the upstream's own credentials; never logged here. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly responseBytesMax?: number;
  readonly clientInfo?: { readonly name: string; readonly version: string };
}

export interface UpstreamTool {
  /** The upstream's own name (namespacing is the gateway's: see namespacedToolName). */
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly inputSchema: Readonly<Record<string, unknown>>;
  readonly outputSchema?: Readonly<Record<string, unknown>>;
  readonly annotations?: Readonly<Record<string, unknown>>;
}

export type SkippedToolReason = 'invalid_name' | 'duplicate_name' | 'invalid_input_schema' | 'schema_too_large' | 'over_limit';

export interface ToolListing {
  readonly tools: readonly UpstreamTool[];
  /** Tools the upstream listed that are not offered, with why (names cut to 128 characters). */
  readonly skipped: readonly { readonly name: string; readonly reason: SkippedToolReason }[];
  /** The upstream had more pages or tools than the bounds allow. */
  readonly truncated: boolean;
}

export interface CallOptions {
  /** The call carries `_meta["x402/payment"]` (see classifyToolCallAnswer). */
  readonly paymentSent?: boolean;
  readonly extensionAdvertised?: boolean;
  readonly signal?: AbortSignal;
}

export interface UpstreamMcpConnection {
  readonly serverInfo: { readonly name: string; readonly version: string } | undefined;
  /** The MCP protocol version the upstream agreed to. */
  readonly protocolVersion: string | undefined;
  listTools(options?: { signal?: AbortSignal }): Promise<ToolListing>;
  /**
   * Calls a tool and reads the answer into an outcome. Throws McpUpstreamError when there
   * is no answer (a timeout after a payment was sent means the outcome is unknown), and
   * the classifier's errors for an answer that cannot be vouched for.
   */
  callTool(params: ToolCallParams, options?: CallOptions): Promise<ToolCallOutcome>;
  close(): Promise<void>;
}

/** Connects (MCP initialize) within the connect timeout, or throws McpUpstreamError. */
export async function connectUpstreamMcp(options: UpstreamMcpOptions): Promise<UpstreamMcpConnection> {
  const url = parseUpstreamUrl(options.url, options.privateAddresses);
  const requestTimeoutMs = options.requestTimeoutMs ?? UPSTREAM_REQUEST_TIMEOUT_MS;
  // A connection that broke a bound (an answer too large, a refused address) is not used
  // again: the failure is kept, every request in flight is aborted with it, and later
  // requests fail with it at once.
  const broken = new AbortController();
  const breakWith = (failure: McpUpstreamError) => {
    if (!broken.signal.aborted) broken.abort(failure);
  };
  const transport = new StreamableHTTPClientTransport(url, {
    fetch: guardedFetch({
      policy: options.privateAddresses,
      responseBytesMax: options.responseBytesMax ?? UPSTREAM_RESPONSE_BYTES_MAX,
      timeoutMs: requestTimeoutMs,
      headers: options.headers ?? {},
      onFailure: breakWith,
    }),
    // The SDK would reconnect a dropped SSE stream by itself; here a drop is an answer lost.
    reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 1_000, maxReconnectionDelay: 1_000, reconnectionDelayGrowFactor: 1 },
  });
  // No capabilities: the upstream may not ask the gateway for sampling, roots or elicitation.
  const client = new Client(options.clientInfo ?? { name: 'paybound-gateway', version: '1.0.0' }, { capabilities: {} });
  const requestOptions = (signal: AbortSignal | undefined, timeoutMs: number) => ({
    timeout: timeoutMs,
    maxTotalTimeout: timeoutMs,
    // A signal per request: the SDK adds an abort listener to the signal it is given and
    // never removes it, which on the connection's own signal would pile up call after call.
    signal: AbortSignal.any(signal === undefined ? [broken.signal] : [broken.signal, signal]),
  });
  const failureOf = (error: unknown): McpUpstreamError => {
    if (broken.signal.aborted && broken.signal.reason instanceof McpUpstreamError) return broken.signal.reason;
    return upstreamFailureOf(error);
  };

  try {
    await client.connect(transport, requestOptions(undefined, options.connectTimeoutMs ?? UPSTREAM_CONNECT_TIMEOUT_MS));
  } catch (error) {
    await client.close().catch(() => undefined);
    throw failureOf(error);
  }
  if (client.getServerCapabilities()?.tools === undefined) {
    await client.close().catch(() => undefined);
    throw new McpUpstreamError('protocol', 'the server does not offer tools');
  }
  const version = client.getServerVersion();

  return {
    serverInfo: version === undefined ? undefined : { name: safeText(version.name, DETAIL_CHARS_MAX), version: safeText(version.version, DETAIL_CHARS_MAX) },
    protocolVersion: transport.protocolVersion,

    async listTools(listOptions = {}) {
      const tools: UpstreamTool[] = [];
      const skipped: { name: string; reason: SkippedToolReason }[] = [];
      const seenNames = new Set<string>();
      const seenCursors = new Set<string>();
      let cursor: string | undefined;
      for (let page = 0; page < TOOL_LIST_PAGES_MAX; page++) {
        let answer: Record<string, unknown>;
        try {
          answer = await client.request(
            { method: 'tools/list', params: cursor === undefined ? {} : { cursor } },
            ResultSchema,
            requestOptions(listOptions.signal, requestTimeoutMs),
          );
        } catch (error) {
          throw failureOf(error);
        }
        const listed = answer['tools'];
        if (!Array.isArray(listed)) throw new McpUpstreamError('protocol', 'tools/list: tools must be an array');
        for (const raw of listed) {
          const reading = readTool(raw);
          if ('reason' in reading) {
            skipped.push(reading);
          } else if (seenNames.has(reading.tool.name)) {
            skipped.push({ name: reading.tool.name, reason: 'duplicate_name' });
          } else if (tools.length >= TOOLS_MAX) {
            return { tools, skipped, truncated: true };
          } else {
            seenNames.add(reading.tool.name);
            tools.push(reading.tool);
          }
        }
        const next = answer['nextCursor'];
        if (next === undefined || next === null) return { tools, skipped, truncated: false };
        // A cursor seen before would loop forever; a strange one is not sent back.
        if (typeof next !== 'string' || next.length === 0 || next.length > CURSOR_CHARS_MAX || seenCursors.has(next)) {
          throw new McpUpstreamError('protocol', 'tools/list: nextCursor is not a usable cursor');
        }
        seenCursors.add(next);
        cursor = next;
      }
      return { tools, skipped, truncated: true };
    },

    async callTool(params, callOptions = {}) {
      let result: Record<string, unknown>;
      try {
        result = await client.request({ method: 'tools/call', params: { ...params } }, ResultSchema, requestOptions(callOptions.signal, requestTimeoutMs));
      } catch (error) {
        const answered = serverError(error, broken.signal);
        if (answered === undefined) throw failureOf(error);
        return classifyToolCallAnswer({ error: answered }, callOptions);
      }
      return classifyToolCallAnswer({ result }, callOptions);
    },

    async close() {
      // A stateful upstream keeps a session per client until told; the DELETE is bounded
      // by the same fetch timeout and its failure changes nothing here.
      if (transport.sessionId !== undefined && !broken.signal.aborted) await transport.terminateSession().catch(() => undefined);
      await client.close().catch(() => undefined);
    },
  };
}

/**
 * An upstream URL as the client accepts it: http(s) and no credentials in it. With private
 * addresses denied, a literal private address is refused here, without a lookup; a name is
 * judged on the addresses it resolves to when connecting, as pay-and-fetch does.
 */
export function parseUpstreamUrl(value: string, policy: PrivateAddressPolicy): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new McpUpstreamError('protocol', 'url: not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new McpUpstreamError('protocol', 'url: must be http(s)');
  if (url.username !== '' || url.password !== '') throw new McpUpstreamError('protocol', 'url: must not carry credentials');
  if (policy === 'deny') {
    try {
      assertPublicLiteral(url);
    } catch (error) {
      if (error instanceof DestinationNotAllowedError) throw new McpUpstreamError('destination_not_allowed', error.message, { cause: error });
      throw error;
    }
  }
  return url;
}

/** The JSON-RPC error the server answered with, or undefined when the error is the client's own. */
function serverError(error: unknown, broken: AbortSignal): { code: number; message: string; data?: unknown } | undefined {
  if (!(error instanceof McpError) || broken.aborted) return undefined;
  // The SDK makes these itself for a timeout or a closed connection; a server sending them
  // is treated the same, as no answer.
  if (error.code === (ErrorCode.RequestTimeout as number) || error.code === (ErrorCode.ConnectionClosed as number)) return undefined;
  // McpError prefixes its message; the server's own text is what follows.
  const message = error.message.replace(/^MCP error -?\d+: /, '');
  return { code: error.code, message, ...(error.data === undefined ? {} : { data: error.data }) };
}

function upstreamFailureOf(error: unknown): McpUpstreamError {
  if (error instanceof McpUpstreamError) return error;
  const refused = destinationRefusal(error);
  if (refused !== undefined) return new McpUpstreamError('destination_not_allowed', refused.message, { cause: refused });
  if (error instanceof McpError && error.code === (ErrorCode.RequestTimeout as number)) {
    return new McpUpstreamError('timeout', 'the upstream did not answer in time', { cause: error });
  }
  if (error instanceof StreamableHTTPError) {
    return new McpUpstreamError('protocol', `the upstream answered HTTP ${error.code ?? 'error'}`, { cause: error });
  }
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return new McpUpstreamError('timeout', 'the upstream did not answer in time', { cause: error });
  }
  if (error instanceof McpError) return new McpUpstreamError('unreachable', 'the connection to the upstream closed', { cause: error });
  if (error instanceof TypeError) return new McpUpstreamError('unreachable', 'the connection to the upstream failed', { cause: error });
  return new McpUpstreamError('protocol', 'the upstream did not answer as an MCP server', { cause: error });
}

function readTool(raw: unknown): { tool: UpstreamTool } | { name: string; reason: SkippedToolReason } {
  if (!isPlainObject(raw) || typeof raw['name'] !== 'string') return { name: '', reason: 'invalid_name' };
  const name = raw['name'];
  if (!isMcpToolName(name)) return { name: safeText(name, 128), reason: 'invalid_name' };
  const inputSchema = raw['inputSchema'];
  if (!isPlainObject(inputSchema) || inputSchema['type'] !== 'object') return { name, reason: 'invalid_input_schema' };
  const outputSchema = isPlainObject(raw['outputSchema']) ? raw['outputSchema'] : undefined;
  const annotations = isPlainObject(raw['annotations']) ? raw['annotations'] : undefined;
  if (JSON.stringify([inputSchema, outputSchema ?? null, annotations ?? null]).length > TOOL_SCHEMA_CHARS_MAX) return { name, reason: 'schema_too_large' };
  const title = typeof raw['title'] === 'string' ? safeText(raw['title'], TOOL_TITLE_CHARS_MAX) : undefined;
  const description = typeof raw['description'] === 'string' ? safeText(raw['description'], TOOL_DESCRIPTION_CHARS_MAX, { keepNewlines: true }) : undefined;
  return {
    tool: {
      name,
      ...(title === undefined ? {} : { title }),
      ...(description === undefined ? {} : { description }),
      inputSchema,
      ...(outputSchema === undefined ? {} : { outputSchema }),
      ...(annotations === undefined ? {} : { annotations }),
    },
  };
}

interface GuardedFetchOptions {
  readonly policy: PrivateAddressPolicy;
  readonly responseBytesMax: number;
  readonly timeoutMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly onFailure: (failure: McpUpstreamError) => void;
}

/**
 * The fetch the SDK transport uses: through the outbound guard's dispatcher, no redirects,
 * each exchange bounded by the timeout, each answer's body cut at the byte limit. GET (the
 * server-initiated SSE stream) is answered 405 locally, which the SDK reads as "no stream".
 */
function guardedFetch(options: GuardedFetchOptions): FetchLike {
  let dispatcher: Agent | undefined;
  return async (input, init) => {
    if ((init?.method ?? 'GET').toUpperCase() === 'GET') return new Response(null, { status: 405, statusText: 'Method Not Allowed' });
    dispatcher ??= outboundDispatcher(options.policy);
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(options.headers)) headers.set(name, value);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    let response: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      response = await undiciFetch(input instanceof URL ? input.href : input, {
        method: init?.method,
        headers,
        body: init?.body as string | undefined,
        redirect: 'error',
        signal,
        dispatcher,
      });
    } catch (error) {
      const refused = destinationRefusal(error);
      if (refused !== undefined) {
        const failure = new McpUpstreamError('destination_not_allowed', refused.message, { cause: refused });
        options.onFailure(failure);
        throw failure;
      }
      if (timeout.aborted) throw new McpUpstreamError('timeout', 'the upstream did not answer in time', { cause: error });
      throw error;
    }
    const declaredBytes = Number(response.headers.get('content-length') ?? '0');
    if (declaredBytes > options.responseBytesMax) {
      await response.body?.cancel().catch(() => undefined);
      const failure = tooLarge(options.responseBytesMax);
      options.onFailure(failure);
      throw failure;
    }
    // These statuses have no body, and Response refuses one for them.
    const bodiless = response.body === null || [101, 204, 205, 304].includes(response.status);
    if (bodiless) await response.body?.cancel().catch(() => undefined);
    const body = bodiless || response.body === null ? null : capped(response.body as ReadableStream<Uint8Array>, options.responseBytesMax, options.onFailure);
    return new Response(body, { status: response.status, statusText: response.statusText, headers: new Headers([...response.headers.entries()]) });
  };
}

function tooLarge(bytesMax: number): McpUpstreamError {
  return new McpUpstreamError('too_large', `an answer of the upstream exceeds ${bytesMax} bytes`);
}

function capped(body: ReadableStream<Uint8Array>, bytesMax: number, onFailure: (failure: McpUpstreamError) => void): ReadableStream<Uint8Array> {
  let total = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        total += chunk.byteLength;
        if (total > bytesMax) {
          const failure = tooLarge(bytesMax);
          onFailure(failure);
          controller.error(failure);
          return;
        }
        controller.enqueue(chunk);
      },
    }),
  );
}
