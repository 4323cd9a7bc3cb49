import { Body, Controller, Get, Headers, Inject, Param, Put, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import pg from 'pg';
import { z } from 'zod';
import { EMPTY_POLICY, HISTORY_PER_AGENT_MAX, withPolicyDefaults, type Policy } from '../../../libs/domain/budget/policy.js';
import { formatUsdMicros, parseUsdMicros } from '../../../libs/domain/money.js';
import { reviveBigints } from '../../../libs/eventstore/json-codec.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { adminActorOf, Audience, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { addressField as address, caip2Field as caip2, parseBody } from '../http/input.js';

const usd = z.string().max(24).regex(/^\d+(\.\d{1,6})?$/, 'must be a USD decimal string such as "0.05"');
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

/** `"7"` → 7; `*` → null (any version); anything else is a malformed precondition. */
function expectedVersionOf(ifMatch: string | undefined): number | null {
  if (ifMatch === undefined || ifMatch.trim() === '*') return null;
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
  getOrgPolicy(@Param('orgId') orgId: string, @Res({ passthrough: true }) res: Response) {
    return this.getPolicy(orgId, 'org', orgId, res);
  }

  @Get('teams/:teamId/policy')
  getTeamPolicy(@Param('orgId') orgId: string, @Param('teamId') teamId: string, @Res({ passthrough: true }) res: Response) {
    return this.getPolicy(orgId, 'team', teamId, res);
  }

  @Get('agents/:agentId/policy')
  getAgentPolicy(@Param('orgId') orgId: string, @Param('agentId') agentId: string, @Res({ passthrough: true }) res: Response) {
    return this.getPolicy(orgId, 'agent', agentId, res);
  }

  @Put('policy')
  putOrgPolicy(@Req() r: AuthenticatedRequest, @Param('orgId') orgId: string, @Body() body: unknown, @Headers('if-match') ifMatch: string | undefined, @Res({ passthrough: true }) res: Response) {
    return this.putPolicy(r, orgId, 'org', orgId, body, ifMatch, res);
  }

  @Put('teams/:teamId/policy')
  putTeamPolicy(
    @Req() r: AuthenticatedRequest,
    @Param('orgId') orgId: string,
    @Param('teamId') teamId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.putPolicy(r, orgId, 'team', teamId, body, ifMatch, res);
  }

  @Put('agents/:agentId/policy')
  putAgentPolicy(
    @Req() r: AuthenticatedRequest,
    @Param('orgId') orgId: string,
    @Param('agentId') agentId: string,
    @Body() body: unknown,
    @Headers('if-match') ifMatch: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ) {
    return this.putPolicy(r, orgId, 'agent', agentId, body, ifMatch, res);
  }

  private async putBudget(request: AuthenticatedRequest, orgId: string, level: Level, levelId: string, raw: unknown) {
    const body = parseBody(budgetBody, raw);
    const limitMicros = body.limit === null ? null : parseUsdMicros(body.limit);
    await this.commands.execute(
      new DecideBudget(
        { type: 'ChangeBudget', orgId, level, levelId, limitMicros, period: body.period, actor: adminActorOf(request), at: this.clock.now().toISOString() },
        () => undefined,
      ),
    );
    return { level, id: levelId, limit: limitMicros === null ? null : formatUsdMicros(limitMicros), period: body.period };
  }

  private async getPolicy(orgId: string, level: Level, levelId: string, response: Response) {
    const current = await this.currentPolicy(orgId, level, levelId);
    response.setHeader('ETag', `"${current.version}"`);
    return { level, id: levelId, version: current.version, policy: policyView(current.policy) };
  }

  private async putPolicy(request: AuthenticatedRequest, orgId: string, level: Level, levelId: string, raw: unknown, ifMatch: string | undefined, response: Response) {
    const policy = toPolicy(parseBody(policyBody, raw));
    const expectedVersion = expectedVersionOf(ifMatch);
    const { view: version } = await this.commands.execute(
      new DecideBudget(
        { type: 'ChangePolicy', orgId, level, levelId, policy, expectedVersion, actor: adminActorOf(request), at: this.clock.now().toISOString() },
        (state) => state.policies.get(level === 'org' ? 'org' : `${level}:${levelId}`)?.version ?? 0,
      ),
    );
    response.setHeader('ETag', `"${version}"`);
    return { level, id: levelId, version, policy: policyView(policy) };
  }

  /** The latest PolicyChanged of a level, straight from the log. */
  private async currentPolicy(orgId: string, level: Level, levelId: string): Promise<{ policy: Policy; version: number }> {
    const result = await this.pool.query<{ data: unknown }>(
      `SELECT data FROM events WHERE stream_id = $1 AND type = 'PolicyChanged' AND data->>'level' = $2 AND data->>'levelId' = $3
       ORDER BY stream_version DESC LIMIT 1`,
      [orgStreamId(orgId), level, levelId],
    );
    const row = result.rows[0];
    if (row === undefined) return { policy: EMPTY_POLICY, version: 0 };
    const data = reviveBigints<{ after: Policy; version: number }>(row.data);
    return { policy: withPolicyDefaults(data.after), version: data.version };
  }
}
