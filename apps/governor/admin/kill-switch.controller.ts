import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import pg from 'pg';
import { z } from 'zod';
import { BalanceProjection } from '../../../libs/ledger/balance-projection.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import type { AuthenticatedRequest } from '../http/auth.guard.js';
import { Audience } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { parseBody } from '../http/input.js';
import { adminFor } from './admin-scope.js';

type Level = 'org' | 'team' | 'agent';

const reasonBody = z.object({ reason: z.string().trim().min(1).max(500) }).strict();

interface FrozenRow {
  level: Level;
  level_id: string;
  reason: string;
  frozen_by: string;
  frozen_at: Date;
}

/**
 * The kill switch. Freezing is an event (Frozen, the admin as actor): from the next decision
 * on, every new payment and session under the level is refused `agent_frozen`; payments in
 * flight finish. Both directions are idempotent and answer the level's state.
 */
@Controller('admin/v1/orgs/:orgId')
@Audience('admin')
export class KillSwitchController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Post('freeze')
  @HttpCode(200)
  freezeOrg(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Body() body: unknown) {
    return this.change(r, orgId, 'org', orgId, true, body);
  }

  @Post('unfreeze')
  @HttpCode(200)
  unfreezeOrg(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Body() body: unknown) {
    return this.change(r, orgId, 'org', orgId, false, body);
  }

  @Post('teams/:teamId/freeze')
  @HttpCode(200)
  freezeTeam(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('teamId') teamId: string, @Body() body: unknown) {
    return this.change(r, orgId, 'team', teamId, true, body);
  }

  @Post('teams/:teamId/unfreeze')
  @HttpCode(200)
  unfreezeTeam(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('teamId') teamId: string, @Body() body: unknown) {
    return this.change(r, orgId, 'team', teamId, false, body);
  }

  @Post('agents/:agentId/freeze')
  @HttpCode(200)
  freezeAgent(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('agentId') agentId: string, @Body() body: unknown) {
    return this.change(r, orgId, 'agent', agentId, true, body);
  }

  @Post('agents/:agentId/unfreeze')
  @HttpCode(200)
  unfreezeAgent(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('agentId') agentId: string, @Body() body: unknown) {
    return this.change(r, orgId, 'agent', agentId, false, body);
  }

  /** Every frozen level of the org, oldest freeze first. */
  @Get('frozen')
  async frozen(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string) {
    adminFor(r, orgId, 'read');
    await this.projection.catchUpStream(orgStreamId(orgId));
    const rows = await this.pool.query<FrozenRow>('SELECT * FROM frozen_levels WHERE org_id = $1 ORDER BY frozen_at, level, level_id LIMIT 1000', [orgId]);
    return { items: rows.rows.map((row) => ({ level: row.level, levelId: row.level_id, reason: row.reason, by: row.frozen_by, at: row.frozen_at.toISOString() })) };
  }

  private async change(request: AuthenticatedRequest, orgId: string, level: Level, levelId: string, freeze: boolean, raw: unknown) {
    const actor = adminFor(request, orgId, 'write');
    const { reason } = parseBody(reasonBody, raw);
    const at = this.clock.now().toISOString();
    const { events } = await this.commands.execute(
      new DecideBudget({ type: freeze ? 'FreezeLevel' : 'UnfreezeLevel', orgId, level, levelId, reason, actor, at }, () => undefined),
    );
    await this.projection.catchUpStream(orgStreamId(orgId));
    const row = await this.pool.query<FrozenRow>('SELECT * FROM frozen_levels WHERE org_id = $1 AND level = $2 AND level_id = $3', [orgId, level, levelId]);
    const current = row.rows[0];
    if (current !== undefined) return { level, levelId, frozen: true, reason: current.reason, by: current.frozen_by, at: current.frozen_at.toISOString() };
    // Not frozen: the unfreeze that made it so (or, for a level never frozen, this request).
    const changed = events.length > 0;
    return { level, levelId, frozen: false, reason: changed ? reason : null, by: changed ? actor : null, at: changed ? at : null };
  }
}
