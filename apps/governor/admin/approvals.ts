import { Body, Controller, Get, HttpCode, Inject, Injectable, Param, Post, Query, Req } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import { BalanceProjection } from '../../../libs/ledger/balance-projection.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { adminOrgScope, Audience, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { parseOptionalBody, parseQuery } from '../http/input.js';
import { adminFor } from './admin-scope.js';
import { orgOfPayment } from './payment-story.js';
import { Clock } from '../http/clock.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { LOGGER } from '../http/tokens.js';

interface ApprovalRow {
  intent_id: string;
  org_id: string;
  team_id: string | null;
  session_id: string;
  agent_id: string;
  status: string;
  amount_micros: string;
  amount_atomic: string | null;
  asset: string | null;
  network: string | null;
  resource: string | null;
  pay_to: string | null;
  approval_expires_at: Date | null;
  created_at: Date;
  request: { method?: string; policySource?: string; thresholdMicros?: string } | null;
}

// The payment's row with its team, and what the ApprovalRequested event alone carries (the
// method, the policy that held it and its threshold), found by the event's correlation id.
const APPROVAL_SELECT = `
  SELECT p.*, s.team_id, (
    SELECT jsonb_build_object('method', e.data->>'method', 'policySource', e.data->>'policySource', 'thresholdMicros', e.data->>'thresholdMicros')
    FROM events e WHERE e.metadata->>'correlationId' = p.intent_id AND e.type = 'ApprovalRequested' LIMIT 1
  ) AS request
  FROM payments_view p LEFT JOIN sessions_view s ON s.session_id = p.session_id`;

function approvalView(row: ApprovalRow, now: Date) {
  const expiresAt = row.approval_expires_at;
  return {
    paymentId: row.intent_id,
    orgId: row.org_id,
    teamId: row.team_id,
    agentId: row.agent_id,
    sessionId: row.session_id,
    status: row.status,
    resource: row.resource,
    method: row.request?.method ?? null,
    amount: formatUsdMicros(BigInt(row.amount_micros)),
    amountAtomic: row.amount_atomic,
    asset: row.asset,
    network: row.network,
    payTo: row.pay_to,
    policySource: row.request?.policySource ?? null,
    thresholdAmount: row.request?.thresholdMicros == null ? null : formatUsdMicros(BigInt(row.request.thresholdMicros)),
    requestedAt: row.created_at.toISOString(),
    expiresAt: expiresAt?.toISOString() ?? null,
    secondsLeft: expiresAt === null || row.status !== 'awaiting_approval' ? null : Math.max(0, Math.floor((expiresAt.getTime() - now.getTime()) / 1000)),
  };
}

const SWEEP_BATCH_MAX = 100;
const LIST_MAX = 500;

const approvalsQuery = z.object({ orgId: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'ids are 1 to 64 letters, digits, "_" or "-"').optional() }).strict();
const decisionBody = z.object({ reason: z.string().trim().min(1).max(500).optional() }).strict();

/**
 * Payments above an approval threshold: listed for admins (oldest first), approved or denied
 * by them with an optional reason. An approval reserves the payment at once, so the worker
 * signs it and the agent polling it gets its answer on its next look.
 */
@Controller('admin/v1/approvals')
@Audience('admin')
@Reach('narrowed_by_handler')
export class ApprovalsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Get()
  async pending(@Req() request: AuthenticatedRequest, @Query() raw: unknown) {
    // A key bound to an org lists that org's approvals only.
    const orgId = adminOrgScope(request, parseQuery(approvalsQuery, raw).orgId);
    if (orgId === null) await this.projection.catchUpAll();
    else await this.projection.catchUpStream(orgStreamId(orgId));
    const result = await this.pool.query<ApprovalRow>(
      `${APPROVAL_SELECT} WHERE p.status = 'awaiting_approval' AND ($1::text IS NULL OR p.org_id = $1) ORDER BY p.created_at, p.intent_id LIMIT ${LIST_MAX}`,
      [orgId],
    );
    const now = this.clock.now();
    return { items: result.rows.map((row) => approvalView(row, now)) };
  }

  @Post(':id/approve')
  @HttpCode(200)
  approve(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Body() body: unknown) {
    return this.decide(request, id, true, body);
  }

  @Post(':id/deny')
  @HttpCode(200)
  deny(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Body() body: unknown) {
    return this.decide(request, id, false, body);
  }

  private async decide(request: AuthenticatedRequest, intentId: string, approve: boolean, raw: unknown) {
    const { reason } = parseOptionalBody(decisionBody, raw);
    const scope = adminOrgScope(request);
    const found = await orgOfPayment(this.pool, intentId);
    // Another org's payment answers as if it did not exist.
    const orgId = scope === null || found === scope ? found : undefined;
    if (orgId === undefined) throw new ApiProblem('payment_not_found', `payment ${intentId.slice(0, 80)} does not exist`);
    const actor = adminFor(request, orgId, 'write');
    await this.commands.execute(
      new DecideBudget(
        { type: 'DecideApproval', orgId, intentId, approve, reason: approve ? 'approved' : 'denied', ...(reason === undefined ? {} : { note: reason }), actor, at: this.clock.now().toISOString() },
        () => undefined,
      ),
    );
    await this.projection.catchUpStream(orgStreamId(orgId));
    const after = await this.pool.query<ApprovalRow>(`${APPROVAL_SELECT} WHERE p.intent_id = $1`, [intentId]);
    return approvalView(after.rows[0]!, this.clock.now());
  }
}

/**
 * Refuses payments whose approval did not come in time; run by the governor's background
 * loop. Through the same command door as every other decision, so it is traced and counted.
 */
@Injectable()
export class ApprovalTimeouts {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async sweep(): Promise<number> {
    const now = this.clock.now();
    const expired = await this.pool.query<{ intent_id: string; org_id: string }>(
      `SELECT intent_id, org_id FROM payments_view WHERE status = 'awaiting_approval' AND approval_expires_at <= $1 ORDER BY approval_expires_at LIMIT $2`,
      [now, SWEEP_BATCH_MAX],
    );
    let refused = 0;
    for (const row of expired.rows) {
      try {
        await this.commands.execute(
          new DecideBudget({ type: 'DecideApproval', orgId: row.org_id, intentId: row.intent_id, approve: false, reason: 'timeout', actor: 'system', at: now.toISOString() }, () => undefined),
        );
        refused += 1;
      } catch (error) {
        // An admin may have decided in the meantime; that answer stands.
        if (!(error instanceof DomainError && error.code === 'approval_already_decided')) {
          this.logger.warn({ err: { message: (error as Error).message }, intentId: row.intent_id }, 'approval timeout failed');
        }
      }
    }
    return refused;
  }
}
