import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { principalOf, type AuthenticatedRequest } from '../http/auth.guard.js';
import { parseBody } from '../http/input.js';
import { idempotencyKeyHeader } from '../payments/idempotency.js';
import { McpGateway, mcpCallInput, type GatewayToolList, type McpCallAnswer } from './mcp-gateway.js';

/** The MCP gateway for runtimes without MCP: the tools their org may use, and a call under a session. */
@Controller('v1')
export class McpGatewayController {
  constructor(@Inject(McpGateway) private readonly gateway: McpGateway) {}

  @Get('mcp/tools')
  tools(@Req() request: AuthenticatedRequest): Promise<GatewayToolList> {
    return this.gateway.tools(principalOf(request));
  }

  /** 200 with the tool's result (its own errors are `result.isError`); 202 while the payment awaits an admin's approval. */
  @Post('sessions/:id/mcp/call')
  @HttpCode(200)
  async call(@Req() request: AuthenticatedRequest, @Param('id') sessionId: string, @Body() body: unknown, @Res({ passthrough: true }) response: Response): Promise<McpCallAnswer> {
    const answer = await this.gateway.call(principalOf(request), sessionId, parseBody(mcpCallInput, body), idempotencyKeyHeader(request.headers));
    if (answer.payment?.status === 'awaiting_approval') response.status(202);
    return answer;
  }
}
