import { describe, expect, it } from 'vitest';

import { mcpServerChangeSchema, mcpServerRegistrationSchema, upstreamUrlProblem } from './upstream-registration.js';

const registration = { name: 'fin-data', url: 'https://tools.example/mcp', orgIds: ['acme'] };

function issueOf(result: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): { field: string; message: string } {
  expect(result.success).toBe(false);
  const issue = result.error?.issues[0];
  return { field: issue?.path.map(String).join('.') ?? '', message: issue?.message ?? '' };
}

describe('POST /admin/v1/mcp-servers body', () => {
  it('accepts a registration and stores the URL in its parsed form', () => {
    const parsed = mcpServerRegistrationSchema('deny').parse({ ...registration, url: 'HTTPS://Tools.Example:443/mcp', tools: ['financial_analysis'] });
    expect(parsed).toEqual({ name: 'fin-data', url: 'https://tools.example/mcp', orgIds: ['acme'], tools: ['financial_analysis'] });
  });

  it.each([
    ['name', { name: 'Fin_Data' }],
    ['name', { name: 'x'.repeat(33) }],
    ['url', { url: 'http://tools.example/mcp' }],
    ['url', { url: 'https://user:secret@tools.example/mcp' }],
    ['url', { url: 'https://tools.example/mcp?key=secret' }],
    ['url', { url: 'https://tools.example/mcp#tool' }],
    ['url', { url: 'https://127.0.0.1/mcp' }],
    ['url', { url: 'https://[::ffff:169.254.169.254]/mcp' }],
    ['url', { url: 'https://localhost/mcp' }],
    ['url', { url: 'https://api.localhost/mcp' }],
    ['url', { url: 'ftp://tools.example/mcp' }],
    ['url', { url: 'not a url' }],
    ['url', { url: `https://tools.example/${'a'.repeat(2_050)}` }],
    ['orgIds', { orgIds: [] }],
    ['orgIds', { orgIds: ['acme', 'acme'] }],
    ['orgIds.0', { orgIds: ['acme corp'] }],
    ['tools.0', { tools: ['drop table'] }],
    ['tools', { tools: ['a', 'a'] }],
    ['', { extra: true }],
  ])('refuses a bad %s', (field, change) => {
    expect(issueOf(mcpServerRegistrationSchema('deny').safeParse({ ...registration, ...change })).field).toBe(field);
  });

  it('allows a local http upstream only when private addresses are allowed', () => {
    const local = { ...registration, url: 'http://127.0.0.1:4021/mcp' };
    expect(issueOf(mcpServerRegistrationSchema('deny').safeParse(local)).message).toBe('must be https');
    expect(mcpServerRegistrationSchema('allow').parse(local).url).toBe('http://127.0.0.1:4021/mcp');
    expect(upstreamUrlProblem('http://localhost:4021/mcp', 'allow')).toBeUndefined();
  });
});

describe('PATCH /admin/v1/mcp-servers/{name} body', () => {
  it('takes any one change, and clears the tool list with null', () => {
    expect(mcpServerChangeSchema('deny').parse({ enabled: false })).toEqual({ enabled: false });
    expect(mcpServerChangeSchema('deny').parse({ tools: null })).toEqual({ tools: null });
  });

  it('refuses an empty change, a rename and a bad URL', () => {
    expect(issueOf(mcpServerChangeSchema('deny').safeParse({})).message).toBe('must change something');
    expect(issueOf(mcpServerChangeSchema('deny').safeParse({ name: 'other' })).field).toBe('');
    expect(issueOf(mcpServerChangeSchema('deny').safeParse({ url: 'https://10.0.0.8/mcp' })).message).toBe('must be a public address');
  });
});
