// How upstream tools are named for the agent, and how a paid tool is named as a resource.
//
// MCP tool names are 1 to 128 characters of [A-Za-z0-9_.-] (MCP 2025-11-25, "Tool names";
// the TypeScript SDK's toolNameValidation). The gateway shows `<server>__<tool>`:
// - no dot, because the function-calling APIs that agents' models use accept only
//   [A-Za-z0-9_-] in a tool name, so a dotted name would be unusable there;
// - a server name has no underscore at all, so the first `__` always ends it, whatever
//   the upstream tool's own name contains;
// - Paybound's own tools (`paid_fetch`, `session_balance`, `search_catalog`) never contain
//   `__`, so they cannot collide with an upstream's.

export const TOOL_NAMESPACE_SEPARATOR = '__';
export const TOOL_NAME_CHARS_MAX = 128;
export const SERVER_NAME_CHARS_MAX = 32;

const MCP_TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;
/** Lowercase letters, digits and inner hyphens; starts with a letter. */
const SERVER_NAME = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export function isMcpToolName(name: string): boolean {
  return MCP_TOOL_NAME.test(name);
}

export function isServerName(name: string): boolean {
  return SERVER_NAME.test(name);
}

/**
 * The name an agent sees for an upstream's tool, or undefined when the upstream's name is
 * not a valid MCP tool name or the two together exceed 128 characters: such a tool is not
 * offered (the caller says which and why), rather than renamed into something ambiguous.
 */
export function namespacedToolName(server: string, tool: string): string | undefined {
  if (!isServerName(server) || !isMcpToolName(tool)) return undefined;
  const name = `${server}${TOOL_NAMESPACE_SEPARATOR}${tool}`;
  return name.length <= TOOL_NAME_CHARS_MAX ? name : undefined;
}

/**
 * An upstream's tools as an agent sees them: renamed `<server>__<tool>`, limited to the
 * admin's pick when there is one, and without tools whose name does not fit; those are
 * returned with the reason so the gateway can say which were left out.
 */
export function namespaceTools<T extends { readonly name: string }>(
  server: string,
  tools: readonly T[],
  allowed?: readonly string[],
): { tools: Array<T & { upstreamName: string }>; skipped: Array<{ name: string; reason: 'not_allowed' | 'name_does_not_fit' }> } {
  const pick = allowed === undefined ? undefined : new Set(allowed);
  const offered: Array<T & { upstreamName: string }> = [];
  const skipped: Array<{ name: string; reason: 'not_allowed' | 'name_does_not_fit' }> = [];
  for (const tool of tools) {
    if (pick !== undefined && !pick.has(tool.name)) {
      skipped.push({ name: tool.name, reason: 'not_allowed' });
      continue;
    }
    const name = namespacedToolName(server, tool.name);
    if (name === undefined) skipped.push({ name: tool.name, reason: 'name_does_not_fit' });
    else offered.push({ ...tool, name, upstreamName: tool.name });
  }
  return { tools: offered, skipped };
}

/** The server and the upstream's own tool name, or undefined when the name is not namespaced. */
export function splitNamespacedToolName(name: string): { server: string; tool: string } | undefined {
  if (!isMcpToolName(name)) return undefined;
  const at = name.indexOf(TOOL_NAMESPACE_SEPARATOR);
  if (at <= 0) return undefined;
  const server = name.slice(0, at);
  const tool = name.slice(at + TOOL_NAMESPACE_SEPARATOR.length);
  if (!isServerName(server) || !isMcpToolName(tool)) return undefined;
  return { server, tool };
}

/**
 * The resource a payment for a tool is recorded under, and the catalog's key for it: the
 * upstream's URL with the tool as fragment, `https://tools.example/mcp#financial_analysis`.
 * The bazaar spec identifies an MCP tool by (resource URL, tool name); keeping the URL
 * whole lets domain rules read the host as they do for HTTP resources, and a fragment is
 * never sent to the server. Tool names need no escaping in a fragment.
 */
export function mcpToolResource(serverUrl: string, tool: string): string {
  if (!isMcpToolName(tool)) throw new RangeError('mcpToolResource: not an MCP tool name');
  const url = new URL(serverUrl);
  url.hash = '';
  return `${url.href}#${tool}`;
}

/** The inverse of mcpToolResource; undefined for anything it did not make. */
export function parseMcpToolResource(resource: string): { serverUrl: string; tool: string } | undefined {
  const at = resource.lastIndexOf('#');
  if (at < 0) return undefined;
  const tool = resource.slice(at + 1);
  if (!isMcpToolName(tool)) return undefined;
  let url: URL;
  try {
    url = new URL(resource.slice(0, at));
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return url.href === resource.slice(0, at) ? { serverUrl: url.href, tool } : undefined;
}
