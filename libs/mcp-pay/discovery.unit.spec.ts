import { describe, expect, it } from 'vitest';

import { parsePaymentRequired } from '../x402/offer.js';
import { mcpEntryFromOffer, parseMcpDiscoveryItem, type McpDiscoveryReading } from './discovery.js';

// The requirement and the MCP input are the bazaar spec's "Example: MCP Tool"
// (x402 specs/extensions/bazaar.md at dd927a26), whose `accepts` is elided there and is
// filled with the transport spec's requirement.
const REQUIREMENT = {
  scheme: 'exact',
  network: 'eip155:84532',
  amount: '10000',
  asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
  payTo: '0x209693Bc6afc0C5328bA36FaF03C514EF312287C',
  maxTimeoutSeconds: 60,
  extra: { name: 'USDC', version: '2' },
};
const SPEC_INPUT = {
  type: 'mcp',
  tool: 'financial_analysis',
  description: 'Advanced AI-powered financial analysis',
  inputSchema: {
    type: 'object',
    properties: { ticker: { type: 'string' }, analysis_type: { type: 'string', enum: ['quick', 'deep'] } },
    required: ['ticker'],
  },
  example: { ticker: 'AAPL', analysis_type: 'deep' },
};
const SPEC_PAYMENT_REQUIRED = {
  x402Version: 2,
  error: 'Payment required',
  resource: { url: 'https://api.example.com/mcp', description: 'Advanced AI-powered financial tools', mimeType: 'application/json' },
  accepts: [REQUIREMENT],
  extensions: { bazaar: { info: { input: SPEC_INPUT, output: { type: 'json', example: { summary: 'Strong fundamentals...', score: 8.5 } } }, schema: {} } },
};

/** A discovery list item as the SDK's facilitator examples store it, with the SDK's `toolName`. */
function sdkItem(input: Record<string, unknown> = {}, item: Record<string, unknown> = {}): Record<string, unknown> {
  const { tool: _tool, ...rest } = SPEC_INPUT;
  return {
    resource: 'https://api.example.com/mcp',
    type: 'mcp',
    x402Version: 2,
    accepts: [REQUIREMENT],
    discoveryInfo: { input: { ...rest, toolName: 'financial_analysis', transport: 'streamable-http', ...input } },
    lastUpdated: '2026-04-01T10:00:00.000Z',
    ...item,
  };
}

function skipOf(reading: McpDiscoveryReading): string {
  if (reading.ok) throw new Error('expected the item to be skipped');
  return reading.skip;
}

describe('parseMcpDiscoveryItem', () => {
  it('reads an SDK-shaped item into a catalog entry keyed by server URL and tool', () => {
    const reading = parseMcpDiscoveryItem(sdkItem());
    if (!reading.ok) throw new Error(`skipped: ${reading.skip}`);
    const { entry } = reading;
    expect(entry).toMatchObject({
      resource: 'https://api.example.com/mcp#financial_analysis',
      serverUrl: 'https://api.example.com/mcp',
      toolName: 'financial_analysis',
      description: 'Advanced AI-powered financial analysis',
      transport: 'streamable-http',
      inputSchema: SPEC_INPUT.inputSchema,
      example: SPEC_INPUT.example,
      lastUpdated: '2026-04-01T10:00:00.000Z',
    });
    expect(entry.offer.requirements[0]).toMatchObject({ amountAtomic: 10_000n, network: 'eip155:84532' });
  });

  it('reads the spec’s `tool` spelling, and the bazaar info inside extensions', () => {
    const reading = parseMcpDiscoveryItem({ resource: 'https://api.example.com/mcp', type: 'mcp', x402Version: 2, accepts: [REQUIREMENT], extensions: SPEC_PAYMENT_REQUIRED.extensions, lastUpdated: 1743501600 });
    expect(reading).toMatchObject({ ok: true, entry: { toolName: 'financial_analysis', transport: 'streamable-http', lastUpdated: 1743501600 } });
  });

  it('gives two tools of one server two entries', () => {
    const first = parseMcpDiscoveryItem(sdkItem());
    const second = parseMcpDiscoveryItem(sdkItem({ toolName: 'risk_score' }));
    if (!first.ok || !second.ok) throw new Error('both are readable');
    expect(first.entry.resource).not.toBe(second.entry.resource);
    expect(second.entry.serverUrl).toBe(first.entry.serverUrl);
  });

  it('leaves HTTP items to the HTTP path', () => {
    expect(skipOf(parseMcpDiscoveryItem({ resource: 'https://api.example.com/weather', type: 'http', x402Version: 2, accepts: [REQUIREMENT], lastUpdated: 1 }))).toBe('not_mcp');
    expect(skipOf(parseMcpDiscoveryItem(sdkItem({}, { type: 'a2a' })))).toBe('not_mcp');
  });

  it.each([
    ['a resource that is not http(s), such as the transport spec’s mcp://tool/… URL', sdkItem({}, { resource: 'mcp://tool/financial_analysis' }), 'resource_not_http'],
    ['credentials in the resource', sdkItem({}, { resource: 'https://user:pw@api.example.com/mcp' }), 'resource_not_http'],
    ['no tool name', sdkItem({ toolName: undefined }), 'tool_name_missing'],
    ['two different tool names', sdkItem({ tool: 'other' }), 'tool_name_ambiguous'],
    ['a tool name MCP does not allow', sdkItem({ toolName: 'drop table;' }), 'tool_name_invalid'],
    ['no input schema', sdkItem({ inputSchema: undefined }), 'input_schema_invalid'],
    ['an input schema that is not an object schema', sdkItem({ inputSchema: { type: 'string' } }), 'input_schema_invalid'],
    ['a prototype key in the schema', sdkItem({ inputSchema: JSON.parse('{"type":"object","__proto__":{"x":1}}') as unknown }), 'input_schema_invalid'],
    ['a schema nested too deep', sdkItem({ inputSchema: JSON.parse(`${'{"a":'.repeat(20)}1${'}'.repeat(20)}`) as unknown }), 'too_large'],
    ['a schema too large', sdkItem({ inputSchema: { type: 'object', description: 'x'.repeat(70_000) } }), 'too_large'],
    ['an unknown transport', sdkItem({ transport: 'carrier-pigeon' }), 'transport_unknown'],
    ['a zero price', sdkItem({}, { accepts: [{ ...REQUIREMENT, amount: '0' }] }), 'offer_invalid'],
    ['seventeen requirements', sdkItem({}, { accepts: Array.from({ length: 17 }, () => REQUIREMENT) }), 'item_invalid'],
    ['no accepts', sdkItem({}, { accepts: [] }), 'item_invalid'],
    ['an item that is not an object', 'mcp', 'item_invalid'],
  ])('skips %s', (_label, item, skip) => {
    expect(skipOf(parseMcpDiscoveryItem(item))).toBe(skip);
  });

  it('keeps an sse tool, marked, for the catalog to show and the gateway to leave', () => {
    expect(parseMcpDiscoveryItem(sdkItem({ transport: 'sse' }))).toMatchObject({ ok: true, entry: { transport: 'sse' } });
  });

  it('cleans and bounds the description an agent’s model will read', () => {
    const reading = parseMcpDiscoveryItem(sdkItem({ description: `line one\nline two\u0000\u001b[31m${'y'.repeat(3_000)}` }));
    if (!reading.ok) throw new Error('readable');
    expect(reading.entry.description.startsWith('line one\nline two  [31m')).toBe(true);
    expect(reading.entry.description.length).toBeLessThanOrEqual(2_048);
  });
});

describe('mcpEntryFromOffer', () => {
  it('reads the bazaar declaration of the spec’s PaymentRequired for a registered upstream', () => {
    const offer = parsePaymentRequired({ body: SPEC_PAYMENT_REQUIRED });
    expect(mcpEntryFromOffer('https://api.example.com/mcp', offer)).toMatchObject({
      ok: true,
      entry: { resource: 'https://api.example.com/mcp#financial_analysis', toolName: 'financial_analysis', inputSchema: SPEC_INPUT.inputSchema },
    });
  });

  it('says not_mcp for an offer without an MCP declaration', () => {
    const { extensions: _extensions, ...plain } = SPEC_PAYMENT_REQUIRED;
    expect(skipOf(mcpEntryFromOffer('https://api.example.com/mcp', parsePaymentRequired({ body: plain })))).toBe('not_mcp');
  });
});
