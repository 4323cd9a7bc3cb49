import { assertSafeJson, DecodeError, decodeBase64Json, encodeBase64Json, parseJsonText } from '../x402/encoding.js';
import { X402OfferError, X402ResponseError } from '../x402/errors.js';
import { parsePaymentResponse, type PaymentResponse } from '../x402/headers.js';
import {
  parsePaymentRequired,
  PAYMENT_REQUIRED_BODY_BYTES_MAX,
  type PaymentOffer,
  type PaymentRequirement,
} from '../x402/offer.js';
import { McpToolResultError } from './errors.js';
import { isPlainObject, safeText } from './untrusted.js';

// The x402 MCP transport (x402 specs/transports-v2/mcp.md and transports-v1/mcp.md), pure.
// A paid tool call is answered in one of three ways, all read here into one outcome:
//
// - tool result (current): `result.isError: true`, `result.structuredContent` is the
//   PaymentRequired and `result.content[0].text` the same JSON;
// - JSON-RPC error (the spec before x402 commit b74dd052, still served): `error.code: 402`
//   and the PaymentRequired in `error.data`, on failure with `data["x402/payment-response"]`;
// - extension result (MCP 2026-07-28, `org.x402/payment`, only for requests that advertise
//   it): `result.resultType: "payment_required"` and `result.paymentRequired`.
//
// The paid retry carries the PaymentPayload in `params._meta["x402/payment"]`, and the
// server's settlement comes back in `result._meta["x402/payment-response"]`, both as plain
// JSON objects (not base64 as over HTTP). The offer and the settlement are validated by
// the same parsers as their HTTP forms, so the limits and refusals are the same.

export const X402_PAYMENT_META_KEY = 'x402/payment';
export const X402_PAYMENT_RESPONSE_META_KEY = 'x402/payment-response';
/** The JSON-RPC error code of the older signaling form. */
export const MCP_PAYMENT_REQUIRED_ERROR_CODE = 402;
/** The MCP extension id of the extension binding. */
export const X402_MCP_EXTENSION_ID = 'org.x402/payment';
/** Where an MCP 2026-07-28 request carries its per-request client capabilities. */
export const MCP_CLIENT_CAPABILITIES_META_KEY = 'io.modelcontextprotocol/clientCapabilities';
/** A `payment_required` result type defined by the extension binding. */
export const PAYMENT_REQUIRED_RESULT_TYPE = 'payment_required';

// Limits on a tool result we forward to an agent. The bytes on the wire are capped by the
// upstream client; these bound the work of walking what it parsed.
export const TOOL_RESULT_CONTENT_BLOCKS_MAX = 1_000;
export const TOOL_RESULT_DEPTH_MAX = 64;
export const TOOL_RESULT_NODES_MAX = 200_000;
const CONTENT_TYPE_CHARS_MAX = 64;
const MESSAGE_CHARS_MAX = 200;
/** A signed payment payload: a signature and an authorization, with the seller's requirement echoed. */
const PAYMENT_PAYLOAD_BYTES_MAX = 64 * 1024;
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** One JSON-RPC answer to `tools/call`: its `result`, or its `error`. */
export type ToolCallAnswer =
  | { readonly result: unknown }
  | { readonly error: { readonly code: number; readonly message: string; readonly data?: unknown } };

/** How the server said that the call needs payment. */
export type PaymentSignal = 'tool_result' | 'jsonrpc_error' | 'extension_result';

/** What `result._meta["x402/payment-response"]` (or the older `error.data`) said. */
export type SettlementReading =
  | { readonly status: 'absent' }
  | { readonly status: 'read'; readonly response: PaymentResponse }
  /** Present but unreadable: the outcome of the payment is unknown and is reconciled on chain. */
  | { readonly status: 'malformed'; readonly detail: string };

export interface ToolResult {
  readonly content: readonly Readonly<Record<string, unknown>>[];
  readonly isError: boolean;
  readonly structuredContent?: Readonly<Record<string, unknown>>;
  readonly meta?: Readonly<Record<string, unknown>>;
}

export type ToolCallOutcome =
  /** The unpaid call needs payment; nothing ran. */
  | { readonly kind: 'payment_required'; readonly signal: PaymentSignal; readonly offer: PaymentOffer }
  /**
   * The paid call was answered with a payment signal again: verification or settlement
   * failed. Never pay again for the same intent; the chain tells whether money moved.
   */
  | {
      readonly kind: 'payment_rejected';
      readonly signal: PaymentSignal;
      /** The server's stated reason, shortened and without control characters. */
      readonly reason: string;
      readonly settlement: SettlementReading;
    }
  /** The tool ran (its own error, if any, is `result.isError`). */
  | { readonly kind: 'completed'; readonly result: ToolResult; readonly settlement: SettlementReading }
  /** A JSON-RPC error that is not about payment (unknown tool, bad arguments, ...). */
  | { readonly kind: 'failed'; readonly code: number; readonly message: string };

export interface ClassifyOptions {
  /** The request carried `_meta["x402/payment"]`. */
  readonly paymentSent?: boolean;
  /** The request advertised `org.x402/payment`, so the extension result is allowed. */
  readonly extensionAdvertised?: boolean;
}

/**
 * Reads one answer to `tools/call`. Throws X402OfferError when the answer signals payment
 * with an offer that cannot be vouched for (so nothing is reserved or signed), and
 * McpToolResultError when the result cannot be forwarded.
 */
export function classifyToolCallAnswer(answer: ToolCallAnswer, options: ClassifyOptions = {}): ToolCallOutcome {
  if ('error' in answer) {
    const { error } = answer;
    if (error.code !== MCP_PAYMENT_REQUIRED_ERROR_CODE) {
      return { kind: 'failed', code: error.code, message: safeText(String(error.message), MESSAGE_CHARS_MAX) };
    }
    if (!isPlainObject(error.data)) throw new X402OfferError('JSON-RPC error 402 carries no PaymentRequired in error.data');
    const settlement = readSettlement(error.data[X402_PAYMENT_RESPONSE_META_KEY]);
    return paymentOutcome('jsonrpc_error', error.data, settlement, options);
  }

  const { result } = answer;
  if (!isPlainObject(result)) throw new McpToolResultError('result is not a JSON object');
  const settlement = readSettlementMeta(result['_meta']);
  const resultType = result['resultType'];
  if (resultType === PAYMENT_REQUIRED_RESULT_TYPE) {
    if (options.extensionAdvertised !== true) {
      throw new X402OfferError('payment_required result for a request that did not advertise org.x402/payment');
    }
    const document = result['paymentRequired'];
    if (!isPlainObject(document)) throw new X402OfferError('paymentRequired: must be a PaymentRequired object');
    if (document['x402Version'] !== 2) throw new X402OfferError('paymentRequired.x402Version: the extension carries x402 v2 only');
    return paymentOutcome('extension_result', document, settlement, options);
  }
  if (resultType !== undefined && resultType !== 'complete') {
    throw new McpToolResultError('resultType: not one this client understands');
  }
  if (result['isError'] === true) {
    const document = paymentDocumentOfToolError(result);
    if (document !== undefined) return paymentOutcome('tool_result', document, settlement, options);
  }
  return { kind: 'completed', result: toolResultOf(result), settlement };
}

function paymentOutcome(
  signal: PaymentSignal,
  document: Record<string, unknown>,
  settlement: SettlementReading,
  options: ClassifyOptions,
): ToolCallOutcome {
  if (options.paymentSent === true) {
    const stated = document['error'];
    return { kind: 'payment_rejected', signal, reason: typeof stated === 'string' ? safeText(stated, MESSAGE_CHARS_MAX) : '', settlement };
  }
  // parsePaymentRequired copies plain data through JSON, so the offer shares nothing with the answer.
  return { kind: 'payment_required', signal, offer: parsePaymentRequired({ body: document }) };
}

/** The spec's client rule: an object with `x402Version` and `accepts` is a PaymentRequired. */
function looksLikePaymentRequired(value: unknown): value is Record<string, unknown> {
  return isPlainObject(value) && Object.hasOwn(value, 'x402Version') && Object.hasOwn(value, 'accepts');
}

/**
 * The PaymentRequired of an `isError` tool result: `structuredContent` first, as the spec
 * asks, else `content[0].text` parsed as JSON, either bare (v2) or inside the
 * `{"x402/error": {code: 402, data}}` wrapper that the v1 transport spec shows.
 */
function paymentDocumentOfToolError(result: Record<string, unknown>): Record<string, unknown> | undefined {
  const structured = result['structuredContent'];
  if (looksLikePaymentRequired(structured)) return structured;
  const content = result['content'];
  const first: unknown = Array.isArray(content) ? content[0] : undefined;
  if (!isPlainObject(first) || first['type'] !== 'text' || typeof first['text'] !== 'string') return undefined;
  const text = first['text'].trim();
  if (!text.startsWith('{')) return undefined;
  const mentionsX402 = text.includes('"x402Version"') || text.includes('"x402/error"');
  let parsed: unknown;
  try {
    parsed = parseJsonText(text, PAYMENT_REQUIRED_BODY_BYTES_MAX);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    // A tool's own error text may be anything; only one that claims to be an offer and
    // cannot be read safely is a bad offer rather than an ordinary tool error.
    if (mentionsX402 && error.failure !== 'bad_json') throw new X402OfferError(`content[0].text: ${error.detail}`);
    return undefined;
  }
  if (looksLikePaymentRequired(parsed)) return parsed;
  const wrapped = isPlainObject(parsed) ? parsed['x402/error'] : undefined;
  if (isPlainObject(wrapped) && wrapped['code'] === MCP_PAYMENT_REQUIRED_ERROR_CODE && looksLikePaymentRequired(wrapped['data'])) {
    return wrapped['data'];
  }
  return undefined;
}

/** A result to forward, checked whole: the payment paths above read only their own parts. */
function toolResultOf(result: Record<string, unknown>): ToolResult {
  assertForwardableJson(result);
  const content = result['content'] ?? [];
  if (!Array.isArray(content)) throw new McpToolResultError('content: must be an array');
  if (content.length > TOOL_RESULT_CONTENT_BLOCKS_MAX) {
    throw new McpToolResultError(`content: more than ${TOOL_RESULT_CONTENT_BLOCKS_MAX} blocks`);
  }
  content.forEach((block: unknown, index) => {
    if (!isPlainObject(block)) throw new McpToolResultError(`content.${index}: must be an object`);
    const type = block['type'];
    if (typeof type !== 'string' || type.length === 0 || type.length > CONTENT_TYPE_CHARS_MAX) {
      throw new McpToolResultError(`content.${index}.type: must be a short string`);
    }
  });
  const isError = result['isError'];
  if (isError !== undefined && typeof isError !== 'boolean') throw new McpToolResultError('isError: must be a boolean');
  const structuredContent = result['structuredContent'];
  if (structuredContent !== undefined && !isPlainObject(structuredContent)) {
    throw new McpToolResultError('structuredContent: must be an object');
  }
  const meta = result['_meta'];
  if (meta !== undefined && !isPlainObject(meta)) throw new McpToolResultError('_meta: must be an object');
  return {
    content: content as Record<string, unknown>[],
    isError: isError === true,
    ...(structuredContent === undefined ? {} : { structuredContent }),
    ...(meta === undefined ? {} : { meta }),
  };
}

function readSettlementMeta(meta: unknown): SettlementReading {
  if (meta === undefined) return { status: 'absent' };
  if (!isPlainObject(meta)) return { status: 'malformed', detail: '_meta: must be an object' };
  return readSettlement(meta[X402_PAYMENT_RESPONSE_META_KEY]);
}

/**
 * Reads a SettlementResponse object. Over HTTP it travels as base64 in PAYMENT-RESPONSE;
 * here it is the same JSON as an object, so it is encoded and read by the HTTP parser,
 * which keeps one validator (fields, sizes, the transaction hash rule) for both.
 */
export function readSettlement(value: unknown): SettlementReading {
  if (value === undefined) return { status: 'absent' };
  try {
    if (!isPlainObject(value)) throw new X402ResponseError('x402/payment-response: must be an object');
    assertSafeJson(value);
    return { status: 'read', response: parsePaymentResponse(encodeBase64Json(value)) };
  } catch (error) {
    if (error instanceof X402ResponseError) return { status: 'malformed', detail: error.detail };
    if (error instanceof DecodeError) return { status: 'malformed', detail: error.detail };
    throw error;
  }
}

/** `tools/call` params as the MCP SDK takes them. */
export interface ToolCallParams {
  readonly name: string;
  readonly arguments?: Readonly<Record<string, unknown>>;
  readonly _meta?: Readonly<Record<string, unknown>>;
}

/**
 * The PaymentPayload for `_meta["x402/payment"]`. For v2, `accepted` is the seller's
 * requirement and `resource` its resource object, both verbatim: servers built on
 * x402ResourceServer find the requirement by deep equality. For v1 it is
 * `{x402Version: 1, scheme, network, payload}` with the seller's own network name.
 */
export function paymentPayloadDocument(input: {
  readonly offer: PaymentOffer;
  readonly requirement: PaymentRequirement;
  /** The scheme's payload, e.g. `{signature, authorization}` for `exact` on EVM. */
  readonly payload: unknown;
  readonly extensions?: Readonly<Record<string, unknown>>;
}): Record<string, unknown> {
  const { offer, requirement } = input;
  if (offer.requirements[requirement.index] !== requirement) {
    throw new RangeError('paymentPayloadDocument: the requirement is not from this offer');
  }
  assertSafeJson(input.payload);
  if (offer.x402Version === 1) {
    const network = requirement.raw['network'];
    if (typeof network !== 'string') throw new RangeError('paymentPayloadDocument: the requirement has no v1 network name');
    return { x402Version: 1, scheme: requirement.scheme, network, payload: input.payload };
  }
  return {
    x402Version: 2,
    ...(offer.resourceRaw === undefined ? {} : { resource: offer.resourceRaw }),
    accepted: requirement.raw,
    payload: input.payload,
    ...(input.extensions === undefined ? {} : { extensions: input.extensions }),
  };
}

/**
 * The PaymentPayload of a signed x402 payment header (`PAYMENT-SIGNATURE` or `X-PAYMENT`):
 * over HTTP it is base64 JSON, over MCP the same document as an object. The worker signs
 * one payload whichever transport carries it.
 */
export function paymentPayloadFromHeader(value: string): Record<string, unknown> {
  const document = decodeBase64Json(value, PAYMENT_PAYLOAD_BYTES_MAX);
  if (!isPlainObject(document) || (document['x402Version'] !== 1 && document['x402Version'] !== 2)) {
    throw new RangeError('paymentPayloadFromHeader: not an x402 payment payload');
  }
  return document;
}

/** The same call with the payment in `_meta["x402/payment"]`; other `_meta` keys are kept. */
export function withPayment(params: ToolCallParams, paymentPayload: Readonly<Record<string, unknown>>): ToolCallParams {
  return { ...params, _meta: { ...(params._meta ?? {}), [X402_PAYMENT_META_KEY]: paymentPayload } };
}

/**
 * An agent's own `_meta` without any x402 keys: what an agent sends through the gateway
 * must never carry a payment (or a forged settlement) that Paybound did not decide.
 */
export function withoutPaymentMeta(meta: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> | undefined {
  if (meta === undefined) return undefined;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta)) {
    if (key.startsWith('x402/') || key.startsWith('org.x402/')) continue;
    kept[key] = value;
  }
  return kept;
}

/**
 * Adds `org.x402/payment` to the per-request client capabilities of an MCP 2026-07-28
 * request. Only for upstreams that negotiated that protocol: the extension result is then
 * allowed (`extensionAdvertised` in classifyToolCallAnswer).
 */
export function advertisingPaymentExtension(meta: Readonly<Record<string, unknown>> | undefined): Record<string, unknown> {
  const capabilities = isPlainObject(meta?.[MCP_CLIENT_CAPABILITIES_META_KEY]) ? meta[MCP_CLIENT_CAPABILITIES_META_KEY] : {};
  const extensions = isPlainObject(capabilities['extensions']) ? capabilities['extensions'] : {};
  return {
    ...(meta ?? {}),
    [MCP_CLIENT_CAPABILITIES_META_KEY]: { ...capabilities, extensions: { ...extensions, [X402_MCP_EXTENSION_ID]: {} } },
  };
}

/**
 * Bounds depth and size of a parsed result before it is walked or forwarded, and refuses
 * keys that reach a prototype once the object is spread or merged downstream.
 */
function assertForwardableJson(root: unknown): void {
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 0 }];
  let nodes = 0;
  for (let item = stack.pop(); item !== undefined; item = stack.pop()) {
    nodes += 1;
    if (nodes > TOOL_RESULT_NODES_MAX) throw new McpToolResultError(`result has more than ${TOOL_RESULT_NODES_MAX} values`);
    if (item.depth > TOOL_RESULT_DEPTH_MAX) throw new McpToolResultError(`result is nested deeper than ${TOOL_RESULT_DEPTH_MAX} levels`);
    const { value, depth } = item;
    if (Array.isArray(value)) {
      for (const element of value) stack.push({ value: element, depth: depth + 1 });
    } else if (isPlainObject(value)) {
      for (const key of Object.keys(value)) {
        if (FORBIDDEN_KEYS.has(key)) throw new McpToolResultError(`result holds a forbidden key "${key}"`);
        stack.push({ value: value[key], depth: depth + 1 });
      }
    } else if (value !== null && typeof value === 'object') {
      throw new McpToolResultError('result holds an object that is not plain JSON');
    }
  }
}
