import { randomUUID } from 'node:crypto';
import { Body, Controller, HttpCode, Inject, Param, Post } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { z } from 'zod';
import type { BudgetCommand } from '../../libs/domain/budget/commands.js';
import { formatUsdMicros, parseUsdMicros } from '../../libs/domain/money.js';
import { AccessKeys } from './access-keys.js';
import { Audience } from './auth.guard.js';
import { DecideBudget } from './decide-budget.handler.js';
import { parseBody } from './http-input.js';

const nameField = z.string().trim().min(1).max(120);
const limitField = z.string().max(24).regex(/^\d+(\.\d{1,6})?$/, 'must be a USD decimal string such as "100.00"').nullable().default(null);
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
  ) {}

  @Post()
  @HttpCode(201)
  async createOrg(@Body() raw: unknown): Promise<{ id: string; name: string; limit: string | null }> {
    const body = parseBody(createOrgBody, raw);
    const orgId = body.id ?? `org_${randomUUID()}`;
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.decide({ type: 'CreateOrg', orgId, actor: 'admin', at: new Date().toISOString(), name: body.name, limitMicros });
    return { id: orgId, name: body.name, limit: limitMicros === null ? null : formatUsdMicros(limitMicros) };
  }

  @Post(':orgId/teams')
  @HttpCode(201)
  async createTeam(@Param('orgId') orgId: string, @Body() raw: unknown): Promise<{ id: string; orgId: string; name: string; limit: string | null }> {
    const body = parseBody(createTeamBody, raw);
    const teamId = body.id ?? `team_${randomUUID()}`;
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.decide({ type: 'CreateTeam', orgId, teamId, actor: 'admin', at: new Date().toISOString(), name: body.name, limitMicros });
    return { id: teamId, orgId, name: body.name, limit: limitMicros === null ? null : formatUsdMicros(limitMicros) };
  }

  /** Creates an agent and returns its API key; the key is shown this once and stored hashed. */
  @Post(':orgId/agents')
  @HttpCode(201)
  async createAgent(
    @Param('orgId') orgId: string,
    @Body() raw: unknown,
  ): Promise<{ id: string; orgId: string; teamId: string | null; name: string; limit: string | null; apiKey: string }> {
    const body = parseBody(createAgentBody, raw);
    const agentId = body.id ?? `agt_${randomUUID()}`;
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.decide({ type: 'RegisterAgent', orgId, agentId, teamId: body.teamId, actor: 'admin', at: new Date().toISOString(), name: body.name, limitMicros });
    const apiKey = await this.keys.issueAgentKey(agentId, orgId);
    return { id: agentId, orgId, teamId: body.teamId, name: body.name, limit: limitMicros === null ? null : formatUsdMicros(limitMicros), apiKey };
  }

  private async decide(command: BudgetCommand): Promise<void> {
    await this.commands.execute(new DecideBudget(command, () => undefined));
  }
}
