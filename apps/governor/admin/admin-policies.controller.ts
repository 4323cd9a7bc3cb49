import { Body, Controller, Get, Headers, HttpCode, Inject, Param, Post, Put, Query, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import pg from 'pg';
import { z } from 'zod';
import { EMPTY_POLICY, HISTORY_PER_AGENT_MAX, withPolicyDefaults, type Policy } from '../../../libs/domain/budget/policy.js';
import { formatUsdMicros, parseUsdMicros } from '../../../libs/domain/money.js';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { reviveBigints } from '../../../libs/eventstore/json-codec.js';
import { BalanceProjection } from '../../../libs/ledger/balance-projection.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { Audience, type AuthenticatedRequest } from '../http/auth.guard.js';
import { adminFor } from './admin-scope.js';
import { Clock } from '../http/clock.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { addressField as address, caip2Field as caip2, parseBody, parseQuery, usdAmountField as usd } from '../http/input.js';

const hostPattern = z.string().max(253).regex(/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/i, 'must be a host such as api.example.com or *.example.com');
const list = <T extends z.ZodType>(item: T) => z.array(item).max(500);
const paymentCount = z.number().int().min(1).max(HISTORY_PER_AGENT_MAX);

export const policyBody = z
  .object({
    maxPerPayment: usd.nullable().default(null),
    allowedDomains: list(hostPattern).nullable().default(null),
    deniedDomains: list(hostPattern).default([]),
    allowedPayees: list(address).nullable().default(null),
    deniedPayees: list(address).default([]),
    allowedNetworks: list(caip2).nullable().default(null),
    allowedAssets: list(address).nullable().default(null),
    // Count limits go up to the history each agent keeps: a higher one could never refuse.
    loopGuard: z.object({ maxPayments: paymentCount, windowSeconds: z.number().int().min(1).max(86_400) }).strict().nullable().default(null),
    maxPaymentsPerMinutePerAgent: paymentCount.nullable().default(null),
    maxPaymentsPerMinutePerSession: paymentCount.nullable().default(null),
    approvalAbove: usd.nullable().default(null),
    approvalTimeoutSeconds: z.number().int().min(10).max(7 * 86_400).default(600),
    budgetAlertPercents: z
      .array(z.number().int().min(1).max(100))
      .max(10)
      .refine((percents) => new Set(percents).size === percents.length, 'must not repeat a percentage')
      .default([]),
  })
  .strict();

const budgetBody = z.object({ limit: usd.nullable(), period: z.enum(['none', 'day', 'month']).default('none') }).strict();

type Level = 'org' | 'team' | 'agent';
type Mode = 'enforce' | 'shadow';

const modeQuery = z.object({ mode: z.enum(['enforce', 'shadow']).default('enforce') }).strict();
const reportQuery = z.object({ since: z.string().datetime({ offset: true }).optional() }).strict();

/** A level's policy as the log last set it, and who set it when; `policy` null for a shadow that was promoted or never set. */
interface StoredPolicy {
  policy: Policy | null;
  version: number;
  changedBy: string | null;
  changedAt: string | null;
}

function toPolicy(body: z.infer<typeof policyBody>): Policy {
  return {
    maxPerPaymentMicros: body.maxPerPayment === null ? null : parseUsdMicros(body.maxPerPayment),
    allowedDomains: body.allowedDomains,
    deniedDomains: body.deniedDomains,
    allowedPayees: body.allowedPayees,
    deniedPayees: body.deniedPayees,
    allowedNetworks: body.allowedNetworks,
    allowedAssets: body.allowedAssets,
    loopGuard: body.loopGuard,
    maxPaymentsPerMinutePerAgent: body.maxPaymentsPerMinutePerAgent,
    maxPaymentsPerMinutePerSession: body.maxPaymentsPerMinutePerSession,
    approvalAboveMicros: body.approvalAbove === null ? null : parseUsdMicros(body.approvalAbove),
    approvalTimeoutSeconds: body.approvalTimeoutSeconds,
    budgetAlertPercents: body.budgetAlertPercents,
  };
}

export function policyView(policy: Policy): Record<string, unknown> {
  const { maxPerPaymentMicros, approvalAboveMicros, ...rest } = policy;
  return {
    maxPerPayment: maxPerPaymentMicros === null ? null : formatUsdMicros(maxPerPaymentMicros),
    ...rest,
    approvalAbove: approvalAboveMicros === null ? null : formatUsdMicros(approvalAboveMicros),
  };
}

/**
 * `"7"` → 7; `*` → null (whatever version is there); anything else is a malformed
 * precondition. A PUT replaces the whole policy, so it must say what it replaces: without
 * If-Match, one admin's edit could silently undo another's.
 */
function expectedVersionOf(ifMatch: string | undefined): number | null {
  if (ifMatch === undefined) throw new ApiProblem('precondition_required', 'If-Match: send the ETag from GET (or * to replace whatever policy is there)', { field: 'If-Match' });
  if (ifMatch.trim() === '*') return null;
  const match = /^(?:W\/)?"(\d{1,9})"$/.exec(ifMatch.trim());
  if (match === null) throw new ApiProblem('invalid_if_match', 'If-Match must be an ETag from GET, such as "3"', { field: 'If-Match' });
  return Number(match[1]);
}

/** Budgets and policies per level. Edits are events with the admin as actor and before/after. */
@Controller('admin/v1/orgs/:orgId')
@Audience('admin')
export class AdminPoliciesController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
  ) {}

  @Put('budget')
  putOrgBudget(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Body() body: unknown) {
    return this.putBudget(r, orgId, 'org', orgId, body);
  }

  @Put('teams/:teamId/budget')
  putTeamBudget(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('teamId') teamId: string, @Body() body: unknown) {
    return this.putBudget(r, orgId, 'team', teamId, body);
  }

  @Put('agents/:agentId/budget')
  putAgentBudget(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('agentId') agentId: string, @Body() body: unknown) {
    return this.putBudget(r, orgId, 'agent', agentId, body);
  }

  @Get('policy')
  getOrgPolicy(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Query() q: unknown, @Res({ passthrough: true }) res: Response) {
    return this.getPolicy(r, orgId, 'org', orgId, q, res);
  }

  @Get('teams/:teamId/policy')
  getTeamPolicy(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('teamId') teamId: string, @Query() q: unknown, @Res({ passthrough: true }) res: Response) {
    return this.getPolicy(r, orgId, 'team', teamId, q, res);
  }

  @Get('agents/:agentId/policy')
  getAgentPolicy(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('agentId') agentId: string, @Query() q: unknown, @Res({ passthrough: true }) res: Response) {
    return this.getPolicy(r, orgId, 'agent', agentId, q, res);
  }

  /** What the org's shadow policies would have refused since `since` (default: the last 24 hours). */
  @Get('policy/shadow/report')
  async shadowReport(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Query() raw: unknown) {
    adminFor(r, orgId, 'read');
    const { since } = parseQuery(reportQuery, raw);
    // An org that does not exist has no report: 404, not an empty one.
    await this.assertExists(orgId, 'org', orgId);
    const until = this.clock.now();
    const from = since === undefined ? new Date(until.getTime() - 24 * 3600_000) : new Date(since);
    await this.projection.catchUpStream(orgStreamId(orgId));
    // A payment two shadow levels would refuse counts once, under its first level's code.
    const rows = await this.pool.query<{ code: string; count: string; micros: string }>(
      `SELECT code, count(*) AS count, coalesce(sum(requested_micros), 0)::text AS micros FROM (
         SELECT DISTINCT ON (intent_id) intent_id, code, requested_micros FROM shadow_refusals_view
         WHERE org_id = $1 AND occurred_at >= $2 AND occurred_at <= $3
         ORDER BY intent_id, CASE level WHEN 'org' THEN 0 WHEN 'team' THEN 1 ELSE 2 END
       ) AS refused GROUP BY code ORDER BY count(*) DESC, code`,
      [orgId, from, until],
    );
    const byCode = rows.rows.map((row) => ({ code: row.code, count: Number(row.count), amount: formatUsdMicros(BigInt(row.micros)) }));
    return {
      since: from.toISOString(),
      until: until.toISOString(),
      wouldRefuseCount: byCode.reduce((n, c) => n + c.count, 0),
      wouldRefuseAmount: formatUsdMicros(rows.rows.reduce((sum, row) => sum + BigInt(row.micros), 0n)),
      byCode,
    };
  }

  @Post('policy/shadow/promote')
  @HttpCode(200)
  promoteOrg(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Headers('if-match') ifMatch: string | undefined, @Res({ passthrough: true }) res: Response) {
    return this.promote(r, orgId, 'org', orgId, ifMatch, res);
  }

  @Post('teams/:teamId/policy/shadow/promote')
  @HttpCode(200)
  promoteTeam(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('teamId') teamId: string, @Headers('if-match') ifMatch: string | undefined, @Res({ passthrough: true }) res: Response) {
    return this.promote(r, orgId, 'team', teamId, ifMatch, res);
  }

  @Post('agents/:agentId/policy/shadow/promote')
  @HttpCode(200)
  promoteAgent(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Param('agentId') agentId: string, @Headers('if-match') ifMatch: string | undefined, @Res({ passthrough: true }) res: Response) {
    return this.promote(r, orgId, 'agent', agentId, ifMatch, res);
  }

  @Put('policy')
  putOrgPolicy(
    @Req() r: AuthenticatedRequest,
    @Param('orgId') orgId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Query() q: unknown,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.putPolicy(r, orgId, 'org', orgId, body, ifMatch, q, res);
  }

  @Put('teams/:teamId/policy')
  putTeamPolicy(
    @Req() r: AuthenticatedRequest,
    @Param('orgId') orgId: string,
    @Param('teamId') teamId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Query() q: unknown,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.putPolicy(r, orgId, 'team', teamId, body, ifMatch, q, res);
  }

  @Put('agents/:agentId/policy')
  putAgentPolicy(
    @Req() r: AuthenticatedRequest,
    @Param('orgId') orgId: string,
    @Param('agentId') agentId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Query() q: unknown,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.putPolicy(r, orgId, 'agent', agentId, body, ifMatch, q, res);
  }

  private async putBudget(request: AuthenticatedRequest, orgId: string, level: Level, levelId: string, raw: unknown) {
    const body = parseBody(budgetBody, raw);
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.commands.execute(
      new DecideBudget(
        { type: 'ChangeBudget', orgId, level, levelId, limitMicros, period: body.period, actor: adminFor(request, orgId, 'write'), at: this.clock.now().toISOString() },
        () => undefined,
      ),
    );
    return { level, id: levelId, limit: limitMicros === null ? null : formatUsdMicros(limitMicros), period: body.period };
  }

  private async getPolicy(request: AuthenticatedRequest, orgId: string, level: Level, levelId: string, rawQuery: unknown, response: Response) {
    adminFor(request, orgId, 'read');
    await this.assertExists(orgId, level, levelId);
    const { mode } = parseQuery(modeQuery, rawQuery);
    const current = await this.storedPolicy(orgId, level, levelId, mode);
    response.setHeader('ETag', `"${current.version}"`);
    return this.policyAnswer(level, levelId, mode, current);
  }

  private async putPolicy(request: AuthenticatedRequest, orgId: string, level: Level, levelId: string, raw: unknown, ifMatch: string | undefined, rawQuery: unknown, response: Response) {
    const actor = adminFor(request, orgId, 'write');
    const { mode } = parseQuery(modeQuery, rawQuery);
    const policy = toPolicy(parseBody(policyBody, raw));
    const expectedVersion = expectedVersionOf(ifMatch);
    const key = level === 'org' ? 'org' : `${level}:${levelId}`;
    const { view: version } = await this.withConflictDetails(orgId, level, levelId, mode, () =>
      this.commands.execute(
        new DecideBudget(
          { type: 'ChangePolicy', orgId, level, levelId, policy, expectedVersion, ...(mode === 'shadow' ? { mode } : {}), actor, at: this.clock.now().toISOString() },
          (state) => (mode === 'shadow' ? state.shadowPolicies : state.policies).get(key)?.version ?? 0,
        ),
      ),
    );
    response.setHeader('ETag', `"${version}"`);
    return { level, id: levelId, mode, version, policy: policyView(policy) };
  }

  /** The shadow policy, with the shadow's ETag, becomes the policy in force. */
  private async promote(request: AuthenticatedRequest, orgId: string, level: Level, levelId: string, ifMatch: string | undefined, response: Response) {
    const actor = adminFor(request, orgId, 'write');
    const expectedShadowVersion = expectedVersionOf(ifMatch);
    const key = level === 'org' ? 'org' : `${level}:${levelId}`;
    const { view } = await this.withConflictDetails(orgId, level, levelId, 'shadow', () =>
      this.commands.execute(
        new DecideBudget({ type: 'PromoteShadowPolicy', orgId, level, levelId, expectedShadowVersion, actor, at: this.clock.now().toISOString() }, (state) => state.policies.get(key)),
      ),
    );
    const enforced = view;
    response.setHeader('ETag', `"${enforced?.version ?? 0}"`);
    return { level, id: levelId, mode: 'enforce', version: enforced?.version ?? 0, policy: enforced === undefined ? null : policyView(enforced.policy) };
  }

  /**
   * A 412 carries what the editor needs to resolve it: the policy now, its ETag, and who
   * changed it when.
   */
  private async withConflictDetails<T>(orgId: string, level: Level, levelId: string, mode: Mode, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof DomainError) || error.code !== 'policy_version_mismatch') throw error;
      const current = await this.storedPolicy(orgId, level, levelId, mode);
      throw new ApiProblem('policy_version_mismatch', error.message, {
        current: this.policyAnswer(level, levelId, mode, current),
        etag: `"${current.version}"`,
        changedBy: current.changedBy,
        changedAt: current.changedAt,
      });
    }
  }

  private policyAnswer(level: Level, levelId: string, mode: Mode, current: StoredPolicy) {
    return {
      level,
      id: levelId,
      mode,
      version: current.version,
      policy: current.policy === null ? (mode === 'shadow' ? null : policyView(EMPTY_POLICY)) : policyView(current.policy),
      changedBy: current.changedBy,
      changedAt: current.changedAt,
    };
  }

  /** A level that was never created has no policy to show: 404, not an empty policy. */
  private async assertExists(orgId: string, level: Level, levelId: string): Promise<void> {
    await this.projection.catchUpStream(orgStreamId(orgId));
    const found = await this.pool.query('SELECT 1 FROM budget_balances WHERE org_id = $1 AND level = $2 AND level_id = $3', [orgId, level, levelId]);
    if (found.rowCount !== 0) return;
    const missing = await this.pool.query('SELECT 1 FROM budget_balances WHERE org_id = $1 AND level = $2', [orgId, 'org']);
    if (missing.rowCount === 0) throw new ApiProblem('org_not_found', `org ${orgId.slice(0, 64)} does not exist`, { field: 'orgId' });
    if (level === 'team') throw new ApiProblem('team_not_found', `team ${levelId.slice(0, 64)} does not exist in org ${orgId.slice(0, 64)}`);
    throw new ApiProblem('agent_not_found', `agent ${levelId.slice(0, 64)} does not exist in org ${orgId.slice(0, 64)}`);
  }

  /**
   * The latest PolicyChanged of a level that set the enforced policy, or the shadow one (a
   * promotion empties the shadow and keeps its version), straight from the log.
   */
  private async storedPolicy(orgId: string, level: Level, levelId: string, mode: Mode): Promise<StoredPolicy> {
    const result = await this.pool.query<{ data: unknown; actor: string; occurred_at: Date }>(
      `SELECT data, metadata->>'actor' AS actor, occurred_at FROM events
       WHERE stream_id = $1 AND type = 'PolicyChanged' AND data->>'level' = $2 AND data->>'levelId' = $3
         AND (CASE WHEN $4 = 'shadow' THEN data->>'mode' = 'shadow' OR data ? 'promotedFromShadowVersion' ELSE data->>'mode' IS NULL END)
       ORDER BY stream_version DESC LIMIT 1`,
      [orgStreamId(orgId), level, levelId, mode],
    );
    const row = result.rows[0];
    if (row === undefined) return { policy: mode === 'shadow' ? null : EMPTY_POLICY, version: 0, changedBy: null, changedAt: null };
    const data = reviveBigints<{ after: Policy; version: number; mode?: 'shadow'; promotedFromShadowVersion?: number }>(row.data);
    const changed = { changedBy: row.actor, changedAt: row.occurred_at.toISOString() };
    if (mode === 'shadow' && data.mode !== 'shadow') return { policy: null, version: data.promotedFromShadowVersion ?? 0, ...changed };
    return { policy: withPolicyDefaults(data.after), version: data.version, ...changed };
  }
}
