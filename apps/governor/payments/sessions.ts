import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { z } from 'zod';
import type { CloseSession, OpenSession } from '../../../libs/domain/budget/commands.js';
import { idempotencyIndex } from '../../../libs/domain/budget/state.js';
import { formatUsdMicros, parseUsdMicros } from '../../../libs/domain/money.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import type { AgentPrincipal } from '../http/access-keys.js';
import { Clock } from '../http/clock.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { ReadModels, type SessionView } from '../agent/read-models.js';
import { idempotencyClaim } from './idempotency.js';
import { usdAmount } from './inputs.js';

// Opening, closing and reading an agent's sessions, alike for REST, gRPC and MCP.

/** What opening a session takes, whichever transport carried it. */
export const openSessionInput = z
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

export type OpenSessionInput = z.infer<typeof openSessionInput>;

@Injectable()
export class Sessions {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /** Opens a session under the agent; with a key, a retry answers the session first opened. */
  async open(agent: AgentPrincipal, input: OpenSessionInput, idempotencyKey: string | null): Promise<SessionView> {
    const limitMicros = parseUsdMicros(input.limit);
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
      expiresAt: new Date(now.getTime() + input.expiresInMinutes * 60_000).toISOString(),
      maxPayments: input.maxPayments ?? null,
      metadata: input.metadata ?? {},
      idempotency: idempotencyClaim(idempotencyKey, 'open_session', { ...input, limit: limitMicros.toString() }),
      openSessionsMax: this.config.sessionsOpenMaxPerAgent,
    };
    const { events, view: sessionId } = await this.commands.execute(
      new DecideBudget(command, (state) =>
        command.idempotency === null ? command.sessionId : (state.idempotency.get(idempotencyIndex(agent.agentId, command.idempotency.key))?.entityId ?? command.sessionId),
      ),
    );
    // A new session is answered from its command; a retry reads the session first opened.
    if (events.length === 0) return this.get(agent, sessionId);
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

  /**
   * Closes the session to new payments (SessionClosed); payments under way finish. Closing a
   * closed session answers it as it is, so a retry needs no key.
   */
  async close(agent: AgentPrincipal, sessionId: string): Promise<SessionView> {
    const command: CloseSession = { type: 'CloseSession', orgId: agent.orgId, actor: `agent:${agent.agentId}`, at: this.clock.now().toISOString(), sessionId, agentId: agent.agentId };
    await this.commands.execute(new DecideBudget(command, () => undefined));
    return this.get(agent, sessionId);
  }

  async get(agent: AgentPrincipal, sessionId: string): Promise<SessionView> {
    const view = await this.reads.session(agent.orgId, agent.agentId, sessionId, this.clock.now());
    if (view === undefined) throw new ApiProblem('session_not_found', `session ${sessionId.slice(0, 80)} does not exist`);
    return view;
  }
}
