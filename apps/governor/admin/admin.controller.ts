import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { z } from 'zod';
import type { BudgetCommand } from '../../../libs/domain/budget/commands.js';
import { formatUsdMicros, parseUsdMicros } from '../../../libs/domain/money.js';
import { AccessKeys } from '../http/access-keys.js';
import { adminActorOf, Audience, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { parseBody, usdAmountField } from '../http/input.js';

const nameField = z.string().trim().min(1).max(120);
const limitField = usdAmountField.nullable().default(null);
const idField = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'ids are 1 to 64 letters, digits, "_" or "-"');

const createOrgBody = z.object({ id: idField.optional(), name: nameField, limit: limitField }).strict();
const createTeamBody = z.object({ id: idField.optional(), name: nameField, limit: limitField }).strict();
const createAgentBody = z.object({ id: idField.optional(), name: nameField, teamId: idField.nullable().default(null), limit: limitField }).strict();

/** The admin API's first slice: the budget hierarchy that agents spend under. */
@Controller('admin/v1/orgs')
@Audience('admin')
export class AdminController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(AccessKeys) private readonly keys: AccessKeys,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /** Creating an org is root's: an org admin governs the org it was given. */
  @Post()
  @HttpCode(201)
  @Reach('root')
  async createOrg(@Req() request: AuthenticatedRequest, @Body() raw: unknown): Promise<{ id: string; name: string; limit: string | null }> {
    const body = parseBody(createOrgBody, raw);
    const orgId = body.id ?? `org_${randomUUID()}`;
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.decide({ type: 'CreateOrg', orgId, actor: adminActorOf(request), at: this.clock.now().toISOString(), name: body.name, limitMicros });
    return { id: orgId, name: body.name, limit: limitMicros === null ? null : formatUsdMicros(limitMicros) };
  }

  @Post(':orgId/teams')
  @HttpCode(201)
  async createTeam(@Req() request: AuthenticatedRequest, @Param('orgId') orgId: string, @Body() raw: unknown): Promise<{ id: string; orgId: string; name: string; limit: string | null }> {
    const body = parseBody(createTeamBody, raw);
    const teamId = body.id ?? `team_${randomUUID()}`;
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.decide({ type: 'CreateTeam', orgId, teamId, actor: adminActorOf(request), at: this.clock.now().toISOString(), name: body.name, limitMicros });
    return { id: teamId, orgId, name: body.name, limit: limitMicros === null ? null : formatUsdMicros(limitMicros) };
  }

  /** Creates an agent and returns its API key; the key is shown this once and stored hashed. */
  @Post(':orgId/agents')
  @HttpCode(201)
  async createAgent(
    @Req() request: AuthenticatedRequest,
    @Param('orgId') orgId: string,
    @Body() raw: unknown,
  ): Promise<{ id: string; orgId: string; teamId: string | null; name: string; limit: string | null; apiKey: string }> {
    const body = parseBody(createAgentBody, raw);
    const agentId = body.id ?? `agt_${randomUUID()}`;
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.decide({ type: 'RegisterAgent', orgId, agentId, teamId: body.teamId, actor: adminActorOf(request), at: this.clock.now().toISOString(), name: body.name, limitMicros });
    const apiKey = await this.keys.issueAgentKey(agentId, orgId);
    await this.decide({ type: 'ChangeAgentKey', orgId, agentId, change: 'issued', actor: adminActorOf(request), at: this.clock.now().toISOString() });
    return { id: agentId, orgId, teamId: body.teamId, name: body.name, limit: limitMicros === null ? null : formatUsdMicros(limitMicros), apiKey };
  }

  /** Rotates an agent's key: every older key stops working now, and the new one is shown once. */
  @Post(':orgId/agents/:agentId/keys')
  @HttpCode(201)
  async rotateKey(@Req() request: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('agentId') agentId: string): Promise<{ agentId: string; apiKey: string }> {
    await this.decide({ type: 'ChangeAgentKey', orgId, agentId, change: 'rotated', actor: adminActorOf(request), at: this.clock.now().toISOString() });
    await this.keys.revokeAgentKeys(orgId, agentId);
    return { agentId, apiKey: await this.keys.issueAgentKey(agentId, orgId) };
  }

  /** Revokes every key of an agent; the next request with any of them is refused. */
  @Delete(':orgId/agents/:agentId/keys')
  @HttpCode(200)
  async revokeKeys(@Req() request: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('agentId') agentId: string): Promise<{ agentId: string; revoked: number }> {
    await this.decide({ type: 'ChangeAgentKey', orgId, agentId, change: 'revoked', actor: adminActorOf(request), at: this.clock.now().toISOString() });
    return { agentId, revoked: await this.keys.revokeAgentKeys(orgId, agentId) };
  }

  private async decide(command: BudgetCommand): Promise<void> {
    await this.commands.execute(new DecideBudget(command, () => undefined));
  }
}
