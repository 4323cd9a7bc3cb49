import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { principalOf, type AuthenticatedRequest } from '../http/auth.guard.js';
import { parseBody } from '../http/input.js';
import { idempotencyKeyHeader } from '../payments/idempotency.js';
import { openSessionInput, Sessions } from '../payments/sessions.js';
import type { SessionView } from './read-models.js';

@Controller('v1/sessions')
export class SessionsController {
  constructor(@Inject(Sessions) private readonly sessions: Sessions) {}

  @Post()
  @HttpCode(201)
  open(@Req() request: AuthenticatedRequest, @Body() body: unknown): Promise<SessionView> {
    return this.sessions.open(principalOf(request), parseBody(openSessionInput, body), idempotencyKeyHeader(request.headers));
  }

  @Get(':id')
  get(@Req() request: AuthenticatedRequest, @Param('id') id: string): Promise<SessionView> {
    return this.sessions.get(principalOf(request), id);
  }

  /** Closes the session to new payments; payments under way finish. Idempotent. */
  @Post(':id/close')
  @HttpCode(200)
  close(@Req() request: AuthenticatedRequest, @Param('id') id: string): Promise<SessionView> {
    return this.sessions.close(principalOf(request), id);
  }
}
