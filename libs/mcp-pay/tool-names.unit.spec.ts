import { describe, expect, it } from 'vitest';

import {
  isServerName,
  mcpToolResource,
  namespacedToolName,
  namespaceTools,
  parseMcpToolResource,
  splitNamespacedToolName,
  TOOL_NAME_CHARS_MAX,
} from './tool-names.js';

describe('namespaced tool names', () => {
  it('joins server and tool with a double underscore and splits them back', () => {
    expect(namespacedToolName('weather', 'forecast')).toBe('weather__forecast');
    expect(splitNamespacedToolName('weather__forecast')).toEqual({ server: 'weather', tool: 'forecast' });
  });

  it('splits at the first separator, so an upstream tool may contain underscores, dots and even __', () => {
    const name = namespacedToolName('fin-data', 'get__quote.v2_x');
    expect(name).toBe('fin-data__get__quote.v2_x');
    expect(splitNamespacedToolName(name ?? '')).toEqual({ server: 'fin-data', tool: 'get__quote.v2_x' });
  });

  it('never reads Paybound’s own tools or malformed names as upstream tools', () => {
    for (const name of ['paid_fetch', 'session_balance', 'search_catalog', '__tool', 'weather__', 'Weather__x', 'we_ather__x', 'a b__c', '']) {
      expect(splitNamespacedToolName(name)).toBeUndefined();
    }
  });

  it('refuses server names outside lowercase letters, digits and inner hyphens', () => {
    for (const good of ['a', 'weather', 'fin-data', 'x402-tools', 'a'.repeat(32)]) expect(isServerName(good)).toBe(true);
    for (const bad of ['', '1abc', '-a', 'a-', 'a_b', 'A', 'a.b', 'a'.repeat(33), 'wéather']) expect(isServerName(bad)).toBe(false);
  });

  it('does not offer a tool whose name is not an MCP tool name or gets too long once namespaced', () => {
    expect(namespacedToolName('weather', 'fore cast')).toBeUndefined();
    expect(namespacedToolName('weather', 'forecast/daily')).toBeUndefined();
    expect(namespacedToolName('weather', '')).toBeUndefined();
    const longest = 'x'.repeat(TOOL_NAME_CHARS_MAX - 'weather__'.length);
    expect(namespacedToolName('weather', longest)).toHaveLength(TOOL_NAME_CHARS_MAX);
    expect(namespacedToolName('weather', `${longest}x`)).toBeUndefined();
  });
});

describe('namespaceTools', () => {
  it('renames what is offered, keeps the rest of each tool, and says what it left out and why', () => {
    const tools = [
      { name: 'quote', inputSchema: { type: 'object' } },
      { name: 'admin_reset', inputSchema: { type: 'object' } },
      { name: 'x'.repeat(125), inputSchema: { type: 'object' } },
    ];
    expect(namespaceTools('fin', tools)).toEqual({
      tools: [
        { name: 'fin__quote', upstreamName: 'quote', inputSchema: { type: 'object' } },
        { name: 'fin__admin_reset', upstreamName: 'admin_reset', inputSchema: { type: 'object' } },
      ],
      skipped: [{ name: 'x'.repeat(125), reason: 'name_does_not_fit' }],
    });
    expect(namespaceTools('fin', tools, ['quote']).tools.map((tool) => tool.name)).toEqual(['fin__quote']);
    expect(namespaceTools('fin', tools, ['quote']).skipped.map((tool) => tool.reason)).toEqual(['not_allowed', 'not_allowed']);
  });
});

describe('the resource of a paid tool', () => {
  it('is the server URL with the tool as fragment, and reads back', () => {
    const resource = mcpToolResource('https://tools.example/mcp', 'financial_analysis');
    expect(resource).toBe('https://tools.example/mcp#financial_analysis');
    expect(new URL(resource).hostname).toBe('tools.example');
    expect(parseMcpToolResource(resource)).toEqual({ serverUrl: 'https://tools.example/mcp', tool: 'financial_analysis' });
  });

  it('drops a fragment the server URL had, and normalises it as URL does', () => {
    expect(mcpToolResource('HTTPS://Tools.Example:443/mcp#old', 'q')).toBe('https://tools.example/mcp#q');
  });

  it('reads back nothing it did not make', () => {
    for (const resource of ['https://tools.example/mcp', 'https://tools.example/mcp#a b', 'ftp://x/#t', 'mcp://tool/x#t', 'HTTPS://Tools.Example/mcp#t', '#t']) {
      expect(parseMcpToolResource(resource)).toBeUndefined();
    }
    expect(() => mcpToolResource('https://tools.example/mcp', 'a/b')).toThrow(RangeError);
  });
});
