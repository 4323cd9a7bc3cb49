// The upstream MCP servers an admin registers for the gateway, as a pure decider over one
// server's stream. A server belongs to no org (it is shared with the orgs it names), so its
// events are in their own stream, `mcp-server-<name>`, with the admin as actor and the
// definition before and after each change: the audit trail of who let which org use what.

export interface McpServerDefinition {
  /** The streamable-HTTP endpoint, in the URL parser's form. */
  url: string;
  orgIds: string[];
  /** The tools offered to agents; null for every tool the server lists. */
  tools: string[] | null;
  description: string | null;
  enabled: boolean;
}

export interface McpServerRegistered {
  type: 'McpServerRegistered';
  data: { name: string } & McpServerDefinition;
}

export interface McpServerChanged {
  type: 'McpServerChanged';
  data: { name: string; before: McpServerDefinition; after: McpServerDefinition };
}

export interface McpServerRemoved {
  type: 'McpServerRemoved';
  data: { name: string; before: McpServerDefinition };
}

export type McpServerEvent = McpServerRegistered | McpServerChanged | McpServerRemoved;

export type McpServerCommand =
  | { type: 'RegisterMcpServer'; name: string; definition: Omit<McpServerDefinition, 'enabled'> & { enabled?: boolean } }
  | { type: 'ChangeMcpServer'; name: string; change: Partial<McpServerDefinition> }
  | { type: 'RemoveMcpServer'; name: string };

/** null: never registered, or removed (the name may be registered again). */
export interface McpServerState {
  current: McpServerDefinition | null;
}

export type McpServerErrorCode = 'mcp_server_not_found' | 'mcp_server_already_registered';

export class McpServerError extends Error {
  constructor(
    readonly code: McpServerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'McpServerError';
  }
}

export const INITIAL_MCP_SERVER_STATE: McpServerState = { current: null };

export function mcpServerStreamId(name: string): string {
  return `mcp-server-${name}`;
}

/** A change that changes nothing records nothing. */
export function decideMcpServer(command: McpServerCommand, state: McpServerState): McpServerEvent[] {
  switch (command.type) {
    case 'RegisterMcpServer': {
      if (state.current !== null) throw new McpServerError('mcp_server_already_registered', `an MCP server named ${command.name} is registered`);
      const { definition } = command;
      return [{ type: 'McpServerRegistered', data: { name: command.name, ...definition, enabled: definition.enabled ?? true } }];
    }
    case 'ChangeMcpServer': {
      const before = state.current;
      if (before === null) throw new McpServerError('mcp_server_not_found', `no MCP server named ${command.name}`);
      const after: McpServerDefinition = { ...before };
      for (const key of Object.keys(command.change) as (keyof McpServerDefinition)[]) {
        const value = command.change[key];
        if (value !== undefined) (after as unknown as Record<string, unknown>)[key] = value;
      }
      if (JSON.stringify(after) === JSON.stringify(before)) return [];
      return [{ type: 'McpServerChanged', data: { name: command.name, before, after } }];
    }
    case 'RemoveMcpServer': {
      if (state.current === null) throw new McpServerError('mcp_server_not_found', `no MCP server named ${command.name}`);
      return [{ type: 'McpServerRemoved', data: { name: command.name, before: state.current } }];
    }
    default: {
      const _never: never = command;
      return [];
    }
  }
}

export function evolveMcpServer(state: McpServerState, event: McpServerEvent): McpServerState {
  switch (event.type) {
    case 'McpServerRegistered': {
      const { name: _name, ...definition } = event.data;
      return { current: definition };
    }
    case 'McpServerChanged':
      return { current: event.data.after };
    case 'McpServerRemoved':
      return { current: null };
    default: {
      const _never: never = event;
      return state;
    }
  }
}
