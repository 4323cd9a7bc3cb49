import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Req } from '@nestjs/common';
import { mcpServerChangeSchema, mcpServerRegistrationSchema } from '../../../libs/mcp-pay/upstream-registration.js';
import { adminActorOf, Audience, type AuthenticatedRequest } from '../http/auth.guard.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';
import type { GovernorConfig } from '../config.js';
import { parseBody } from '../http/input.js';
import { McpServers } from './mcp-servers.js';
import { McpUpstreams } from './mcp-upstreams.js';

/**
 * Upstream MCP servers the gateway offers to agents: registered, changed and removed by
 * admins, each change an event on the server's stream with the admin as actor.
 */
@Controller('admin/v1/mcp-servers')
@Audience('admin')
export class McpServersController {
  constructor(
    @Inject(McpServers) private readonly servers: McpServers,
    @Inject(McpUpstreams) private readonly upstreams: McpUpstreams,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
  ) {}

  @Post()
  @HttpCode(201)
  async register(@Req() request: AuthenticatedRequest, @Body() raw: unknown) {
    const body = parseBody(mcpServerRegistrationSchema(this.config.fetchPrivateAddresses), raw);
    const { server } = await this.servers.decide(
      { type: 'RegisterMcpServer', name: body.name, definition: { url: body.url, orgIds: body.orgIds, tools: body.tools ?? null, description: body.description ?? null } },
      adminActorOf(request),
    );
    return server;
  }

  @Get()
  async list() {
    return { items: await this.servers.list() };
  }

  @Get(':name')
  get(@Param('name') name: string) {
    return this.servers.get(name);
  }

  @Patch(':name')
  async change(@Req() request: AuthenticatedRequest, @Param('name') name: string, @Body() raw: unknown) {
    const change = parseBody(mcpServerChangeSchema(this.config.fetchPrivateAddresses), raw);
    const { server } = await this.servers.decide({ type: 'ChangeMcpServer', name, change }, adminActorOf(request));
    // The gateway's connection and tool list of the old definition are not used again.
    this.upstreams.forget(name);
    return server ?? this.servers.get(name);
  }

  @Delete(':name')
  @HttpCode(200)
  async remove(@Req() request: AuthenticatedRequest, @Param('name') name: string) {
    await this.servers.decide({ type: 'RemoveMcpServer', name }, adminActorOf(request));
    this.upstreams.forget(name);
    return { name, removed: true };
  }
}
