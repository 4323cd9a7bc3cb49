import { z } from 'zod';

import { assertSafeJson, DecodeError } from '../x402/encoding.js';
import { X402OfferError } from '../x402/errors.js';
import { parsePaymentRequired, type PaymentOffer } from '../x402/offer.js';
import { isMcpToolName, mcpToolResource } from './tool-names.js';
import { isPlainObject, safeText } from './untrusted.js';

// Paid MCP tools in the facilitators' discovery lists, pure. The bazaar extension
// (x402 specs/extensions/bazaar.md, "MCP Tools") describes a tool by `info.input`:
// `{type: "mcp", tool, description?, transport?, inputSchema, example?}`, and the tool is
// identified by the pair (resource URL, tool name) because one server URL serves many
// tools. The official SDKs write the name as `toolName` (@x402/extensions 2.27,
// bazaar/mcp/types.ts; Go and Python alike); both spellings are read, and an item that
// gives both with different values is refused as ambiguous.
//
// A discovery list item (GET /discovery/resources?type=mcp) carries the bazaar info as
// `discoveryInfo` (as the SDK's facilitator examples store it), and a PaymentRequired as
// `extensions.bazaar.info`; both are read. The catalog turns an entry into a row keyed by
// mcpToolResource(serverUrl, tool) and values the offer with its known assets.

export const MCP_TOOL_DESCRIPTION_CHARS_MAX = 2_048;
const SCHEMA_CHARS_MAX = 64 * 1024;
const EXAMPLE_CHARS_MAX = 16 * 1024;
const RESOURCE_CHARS_MAX = 2_048;

export type McpTransportName = 'streamable-http' | 'sse';

export interface McpCatalogEntry {
  /** The catalog key and payment resource: the server URL with the tool as fragment. */
  readonly resource: string;
  readonly serverUrl: string;
  readonly toolName: string;
  readonly description: string;
  /** The gateway speaks streamable HTTP; an `sse` tool is listed but cannot be called through it yet. */
  readonly transport: McpTransportName;
  readonly inputSchema: Readonly<Record<string, unknown>>;
  readonly example?: Readonly<Record<string, unknown>>;
  readonly offer: PaymentOffer;
  /** As the facilitator wrote it: unix seconds (spec) or an ISO string (SDK). */
  readonly lastUpdated?: number | string;
}

export type McpDiscoverySkip =
  | 'not_mcp'
  | 'resource_not_http'
  | 'tool_name_missing'
  | 'tool_name_ambiguous'
  | 'tool_name_invalid'
  | 'input_schema_invalid'
  | 'transport_unknown'
  | 'too_large'
  | 'offer_invalid'
  | 'item_invalid';

export type McpDiscoveryReading = { readonly ok: true; readonly entry: McpCatalogEntry } | { readonly ok: false; readonly skip: McpDiscoverySkip; readonly detail?: string };

const itemSchema = z.looseObject({
  resource: z.string().min(1).max(RESOURCE_CHARS_MAX),
  type: z.string().max(32).optional(),
  x402Version: z.union([z.literal(1), z.literal(2)]),
  accepts: z.array(z.unknown()).min(1).max(16),
  lastUpdated: z.union([z.number().finite().nonnegative(), z.string().max(64)]).optional(),
  description: z.string().optional(),
  discoveryInfo: z.unknown().optional(),
  extensions: z.unknown().optional(),
  metadata: z.unknown().optional(),
});

/** The bazaar `info.input` of an MCP tool, from wherever the item carries it. */
function mcpInputOf(item: Record<string, unknown>): Record<string, unknown> | undefined {
  const candidates = [item['discoveryInfo'], bazaarInfo(item['extensions'])];
  for (const info of candidates) {
    const input = isPlainObject(info) ? info['input'] : undefined;
    if (isPlainObject(input) && input['type'] === 'mcp') return input;
  }
  return undefined;
}

function bazaarInfo(extensions: unknown): unknown {
  if (!isPlainObject(extensions)) return undefined;
  const bazaar = extensions['bazaar'];
  return isPlainObject(bazaar) ? bazaar['info'] : undefined;
}

/**
 * Reads one item of a discovery list as a paid MCP tool. Items that are not MCP tools are
 * `not_mcp`, so the HTTP path can take them; everything else that cannot be vouched for is
 * skipped with its reason, and nothing in it reaches the catalog.
 */
export function parseMcpDiscoveryItem(raw: unknown): McpDiscoveryReading {
  const parsed = itemSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, skip: 'item_invalid' };
  const item = parsed.data;
  const input = mcpInputOf(item);
  if (input === undefined) return { ok: false, skip: 'not_mcp' };
  if (item.type !== undefined && item.type !== 'mcp' && item.type !== 'http') return { ok: false, skip: 'not_mcp' };
  let offer: PaymentOffer;
  try {
    offer = parsePaymentRequired({ body: { x402Version: item.x402Version, resource: { url: item.resource }, accepts: item.accepts } });
  } catch (error) {
    if (error instanceof X402OfferError) return { ok: false, skip: 'offer_invalid', detail: error.detail };
    throw error;
  }
  const description = item.description ?? (isPlainObject(item.metadata) && typeof item.metadata['description'] === 'string' ? item.metadata['description'] : undefined);
  return entryOf(item.resource, input, offer, description, item.lastUpdated);
}

/**
 * Reads the bazaar MCP declaration of a PaymentRequired that a registered upstream sent
 * for `serverUrl`: the upstream's own word on its tool and price, for the catalog.
 * `not_mcp` when the offer declares none.
 */
export function mcpEntryFromOffer(serverUrl: string, offer: PaymentOffer): McpDiscoveryReading {
  const input = mcpInputOf({ extensions: offer.extensions });
  if (input === undefined) return { ok: false, skip: 'not_mcp' };
  return entryOf(serverUrl, input, offer, offer.resource?.description, undefined);
}

function entryOf(
  serverUrlText: string,
  input: Record<string, unknown>,
  offer: PaymentOffer,
  fallbackDescription: string | undefined,
  lastUpdated: number | string | undefined,
): McpDiscoveryReading {
  let serverUrl: URL;
  try {
    serverUrl = new URL(serverUrlText);
  } catch {
    return { ok: false, skip: 'resource_not_http' };
  }
  if ((serverUrl.protocol !== 'https:' && serverUrl.protocol !== 'http:') || serverUrl.username !== '' || serverUrl.password !== '') {
    return { ok: false, skip: 'resource_not_http' };
  }

  const spellings = [input['tool'], input['toolName']].filter((name) => name !== undefined);
  if (spellings.length === 0) return { ok: false, skip: 'tool_name_missing' };
  if (spellings.length === 2 && spellings[0] !== spellings[1]) return { ok: false, skip: 'tool_name_ambiguous' };
  const toolName = spellings[0];
  if (typeof toolName !== 'string' || !isMcpToolName(toolName)) return { ok: false, skip: 'tool_name_invalid' };

  const inputSchema = input['inputSchema'];
  if (!isPlainObject(inputSchema)) return { ok: false, skip: 'input_schema_invalid' };
  if (inputSchema['type'] !== undefined && inputSchema['type'] !== 'object') return { ok: false, skip: 'input_schema_invalid' };
  const example = isPlainObject(input['example']) ? input['example'] : undefined;
  try {
    // The schema is shown to agents' models and stored: plain, bounded JSON only.
    assertSafeJson(inputSchema);
    if (example !== undefined) assertSafeJson(example);
  } catch (error) {
    if (error instanceof DecodeError) return { ok: false, skip: error.failure === 'too_large' ? 'too_large' : 'input_schema_invalid', detail: error.detail };
    throw error;
  }
  if (JSON.stringify(inputSchema).length > SCHEMA_CHARS_MAX) return { ok: false, skip: 'too_large' };
  if (example !== undefined && JSON.stringify(example).length > EXAMPLE_CHARS_MAX) return { ok: false, skip: 'too_large' };

  const transport = input['transport'] ?? 'streamable-http';
  if (transport !== 'streamable-http' && transport !== 'sse') return { ok: false, skip: 'transport_unknown' };

  const stated = typeof input['description'] === 'string' ? input['description'] : fallbackDescription;
  const resource = mcpToolResource(serverUrl.href, toolName);
  serverUrl.hash = '';
  return {
    ok: true,
    entry: {
      resource,
      serverUrl: serverUrl.href,
      toolName,
      description: safeText(stated ?? '', MCP_TOOL_DESCRIPTION_CHARS_MAX, { keepNewlines: true }),
      transport,
      inputSchema,
      ...(example === undefined ? {} : { example }),
      offer,
      ...(lastUpdated === undefined ? {} : { lastUpdated }),
    },
  };
}
