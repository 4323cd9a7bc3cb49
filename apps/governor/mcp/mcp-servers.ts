import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import type { PoolClient } from 'pg';
import {
  decideMcpServer,
  evolveMcpServer,
  INITIAL_MCP_SERVER_STATE,
  McpServerError,
  mcpServerStreamId,
  type McpServerCommand,
  type McpServerDefinition,
  type McpServerEvent,
} from '../../../libs/domain/mcp-servers/mcp-servers.js';
import { EventStore } from '../../../libs/eventstore/event-store.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { Clock } from '../http/clock.js';

// The registry of upstream MCP servers: each change decided on the server's own stream and
// appended with the admin as actor, and the `mcp_servers` row that the gateway reads
// written in the same transaction, so the row never says what no event recorded.

export interface McpServerView extends McpServerDefinition {
  name: string;
  version: number;
  createdAt: string;
  updatedAt: string;
}

interface McpServerRow {
  name: string;
  url: string;
  org_ids: string[];
  tools: string[] | null;
  description: string | null;
  enabled: boolean;
  version: number;
  created_at: Date;
  updated_at: Date;
  removed_at: Date | null;
}

const COLUMNS = 'name, url, org_ids, tools, description, enabled, version, created_at, updated_at, removed_at';
/** Servers listed in one answer at most; registrations beyond are refused by nothing but read in pages of this. */
export const MCP_SERVERS_LIST_MAX = 500;

function viewOf(row: McpServerRow): McpServerView {
  return {
    name: row.name,
    url: row.url,
    orgIds: row.org_ids,
    tools: row.tools,
    description: row.description,
    enabled: row.enabled,
    version: row.version,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

@Injectable()
export class McpServers {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /** Decides the command on the server's stream and applies it; answers the server as it now stands (null once removed). */
  async decide(command: McpServerCommand, actor: string): Promise<{ server: McpServerView | null; events: McpServerEvent[] }> {
    return this.store.transaction(async (client) => {
      const existing = await client.query<McpServerRow>(`SELECT ${COLUMNS} FROM mcp_servers WHERE name = $1 FOR UPDATE`, [command.name]);
      const row = existing.rows[0];
      const state = row === undefined || row.removed_at !== null ? INITIAL_MCP_SERVER_STATE : { current: definitionOf(row) };
      let events: McpServerEvent[];
      try {
        events = decideMcpServer(command, state);
      } catch (error) {
        if (error instanceof McpServerError) throw new ApiProblem(error.code, error.message, { field: 'name' });
        throw error;
      }
      if (events.length === 0) return { server: row === undefined ? null : viewOf(row), events };
      const at = this.clock.now();
      const version = row?.version ?? 0;
      await this.store.append(
        client,
        mcpServerStreamId(command.name),
        version,
        events.map((event) => ({ type: event.type, data: event.data, occurredAt: at.toISOString(), metadata: { actor, correlationId: command.name, orgId: '' } })),
      );
      const next = events.reduce(evolveMcpServer, state).current;
      const written = await this.write(client, command.name, next ?? state.current!, next === null, version + events.length, at);
      return { server: next === null ? null : viewOf(written), events };
    });
  }

  async list(): Promise<McpServerView[]> {
    const result = await this.pool.query<McpServerRow>(`SELECT ${COLUMNS} FROM mcp_servers WHERE removed_at IS NULL ORDER BY name LIMIT $1`, [MCP_SERVERS_LIST_MAX]);
    return result.rows.map(viewOf);
  }

  async get(name: string): Promise<McpServerView> {
    const result = await this.pool.query<McpServerRow>(`SELECT ${COLUMNS} FROM mcp_servers WHERE name = $1 AND removed_at IS NULL`, [name]);
    const row = result.rows[0];
    if (row === undefined) throw notFound(name);
    return viewOf(row);
  }

  /** The enabled servers an org may use. */
  async usableBy(orgId: string): Promise<McpServerView[]> {
    const result = await this.pool.query<McpServerRow>(
      `SELECT ${COLUMNS} FROM mcp_servers WHERE removed_at IS NULL AND enabled AND org_ids @> ARRAY[$1::text] ORDER BY name LIMIT $2`,
      [orgId, MCP_SERVERS_LIST_MAX],
    );
    return result.rows.map(viewOf);
  }

  /** One server the org may use; any other name, registered or not, is not found (its existence is not revealed). */
  async usableServer(orgId: string, name: string): Promise<McpServerView> {
    const result = await this.pool.query<McpServerRow>(
      `SELECT ${COLUMNS} FROM mcp_servers WHERE name = $1 AND removed_at IS NULL AND enabled AND org_ids @> ARRAY[$2::text]`,
      [name, orgId],
    );
    const row = result.rows[0];
    if (row === undefined) throw notFound(name);
    return viewOf(row);
  }

  /** Writes the row as the events left it; a removed server keeps its last definition, marked removed. */
  private async write(client: PoolClient, name: string, definition: McpServerDefinition, removed: boolean, version: number, at: Date): Promise<McpServerRow> {
    const result = await client.query<McpServerRow>(
      `INSERT INTO mcp_servers AS m (name, url, org_ids, tools, description, enabled, version, created_at, updated_at, removed_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
       ON CONFLICT (name) DO UPDATE SET
         url = EXCLUDED.url, org_ids = EXCLUDED.org_ids, tools = EXCLUDED.tools, description = EXCLUDED.description,
         enabled = EXCLUDED.enabled, version = EXCLUDED.version,
         -- Registered again after a removal: a new server under an old name.
         created_at = CASE WHEN m.removed_at IS NOT NULL THEN EXCLUDED.created_at ELSE m.created_at END,
         updated_at = EXCLUDED.updated_at, removed_at = EXCLUDED.removed_at
       RETURNING ${COLUMNS}`,
      [name, definition.url, definition.orgIds, definition.tools, definition.description, definition.enabled, version, at, removed ? at : null],
    );
    return result.rows[0]!;
  }
}

function definitionOf(row: McpServerRow): McpServerDefinition {
  return { url: row.url, orgIds: row.org_ids, tools: row.tools, description: row.description, enabled: row.enabled };
}

function notFound(name: string): ApiProblem {
  return new ApiProblem('mcp_server_not_found', `no MCP server named ${name.slice(0, 40)}`, { field: 'server' });
}
