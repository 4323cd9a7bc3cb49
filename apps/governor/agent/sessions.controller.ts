import { randomUUID } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { z } from 'zod';
import type { OpenSession } from '../../../libs/domain/budget/commands.js';
import { idempotencyIndex } from '../../../libs/domain/budget/state.js';
import { formatUsdMicros, parseUsdMicros } from '../../../libs/domain/money.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { principalOf, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { idempotencyClaim, parseBody } from '../http/input.js';
import { ReadModels, type SessionView } from './read-models.js';

const usdAmount = z.string().max(24).regex(/^\d+(\.\d{1,6})?$/, 'must be a USD decimal string such as "2.00"');

export const openSessionBody = z
  .object({
    limit: usdAmount,
    expiresInMinutes: z.number().int().min(1).max(10_080).default(60),
    maxPayments: z.number().int().min(1).max(1_000_000).optional(),
    metadata: z
      .record(z.string().min(1).max(64), z.string().max(256))
      .refine((m) => Object.keys(m).length <= 20, 'at most 20 metadata keys')
      .optional(),
  })
  .strict();

@Controller('v1/sessions')
export class SessionsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Post()
  @HttpCode(201)
  async open(@Req() request: AuthenticatedRequest, @Body() rawBody: unknown): Promise<SessionView> {
    const agent = principalOf(request);
    const body = parseBody(openSessionBody, rawBody);
    const limitMicros = parseUsdMicros(body.limit);
    if (limitMicros === 0n) throw new ApiProblem('invalid_request', 'limit: must be greater than zero', { field: 'limit' });
    const now = this.clock.now();
    const command: OpenSession = {
      type: 'OpenSession',
      orgId: agent.orgId,
      actor: `agent:${agent.agentId}`,
      at: now.toISOString(),
      sessionId: `ses_${randomUUID()}`,
      agentId: agent.agentId,
      limitMicros,
      expiresAt: new Date(now.getTime() + body.expiresInMinutes * 60_000).toISOString(),
      maxPayments: body.maxPayments ?? null,
      metadata: body.metadata ?? {},
      idempotency: idempotencyClaim(request, 'POST /v1/sessions', body),
    };
    const { events, view: sessionId } = await this.commands.execute(
      new DecideBudget(command, (state) =>
        command.idempotency === null ? command.sessionId : (state.idempotency.get(idempotencyIndex(agent.agentId, command.idempotency.key))?.entityId ?? command.sessionId),
      ),
    );
    if (events.length > 0) {
      return {
        id: command.sessionId,
        agentId: agent.agentId,
        limit: formatUsdMicros(limitMicros),
        reserved: '0.00',
        spent: '0.00',
        remaining: formatUsdMicros(limitMicros),
        status: 'open',
        expiresAt: command.expiresAt,
        payments: 0,
        maxPayments: command.maxPayments,
        metadata: command.metadata,
        createdAt: command.at,
      };
    }
    return this.get(request, sessionId);
  }

  @Get(':id')
  async get(@Req() request: AuthenticatedRequest, @Param('id') id: string): Promise<SessionView> {
    const agent = principalOf(request);
    const view = await this.reads.session(agent.orgId, agent.agentId, id, this.clock.now());
    if (view === undefined) throw new ApiProblem('session_not_found', `session ${id.slice(0, 80)} does not exist`);
    return view;
  }
}
