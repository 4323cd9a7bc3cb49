import { describe, expect, it } from 'vitest';
import { decideMcpServer, evolveMcpServer, INITIAL_MCP_SERVER_STATE, McpServerError, type McpServerCommand, type McpServerState } from './mcp-servers.js';

const definition = { url: 'https://tools.example/mcp', orgIds: ['org-1'], tools: null, description: null };

function run(commands: McpServerCommand[], state: McpServerState = INITIAL_MCP_SERVER_STATE) {
  const events = [];
  for (const command of commands) {
    for (const event of decideMcpServer(command, state)) {
      state = evolveMcpServer(state, event);
      events.push(event);
    }
  }
  return { state, events };
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof McpServerError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('upstream MCP servers', () => {
  it('registers enabled by default, records a change with before and after, and removes', () => {
    const { state, events } = run([
      { type: 'RegisterMcpServer', name: 'quotes', definition },
      { type: 'ChangeMcpServer', name: 'quotes', change: { orgIds: ['org-1', 'org-2'] } },
      { type: 'RemoveMcpServer', name: 'quotes' },
    ]);
    expect(events.map((e) => e.type)).toEqual(['McpServerRegistered', 'McpServerChanged', 'McpServerRemoved']);
    expect(events[0]?.data).toEqual({ name: 'quotes', ...definition, enabled: true });
    expect(events[1]).toMatchObject({ data: { before: { orgIds: ['org-1'] }, after: { orgIds: ['org-1', 'org-2'], url: definition.url } } });
    expect(state.current).toBeNull();
  });

  it('refuses a second registration of a name, and changes or removals of an unknown one', () => {
    const { state } = run([{ type: 'RegisterMcpServer', name: 'quotes', definition }]);
    expect(codeOf(() => decideMcpServer({ type: 'RegisterMcpServer', name: 'quotes', definition }, state))).toBe('mcp_server_already_registered');
    expect(codeOf(() => decideMcpServer({ type: 'ChangeMcpServer', name: 'quotes', change: { enabled: false } }, INITIAL_MCP_SERVER_STATE))).toBe('mcp_server_not_found');
    expect(codeOf(() => decideMcpServer({ type: 'RemoveMcpServer', name: 'quotes' }, INITIAL_MCP_SERVER_STATE))).toBe('mcp_server_not_found');
  });

  it('records nothing for a change that changes nothing, and lets a removed name be registered again', () => {
    const registered = run([{ type: 'RegisterMcpServer', name: 'quotes', definition }]).state;
    expect(decideMcpServer({ type: 'ChangeMcpServer', name: 'quotes', change: { orgIds: ['org-1'], tools: undefined } }, registered)).toEqual([]);
    const again = run([{ type: 'RemoveMcpServer', name: 'quotes' }, { type: 'RegisterMcpServer', name: 'quotes', definition: { ...definition, tools: ['premium_quote'] } }], registered);
    expect(again.state.current).toEqual({ ...definition, tools: ['premium_quote'], enabled: true });
  });
});
