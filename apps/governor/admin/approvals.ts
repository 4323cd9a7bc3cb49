import { Controller, Get, HttpCode, Inject, Injectable, Param, Post, Query, Req } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import pg from 'pg';
import type { Logger } from 'pino';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import { BalanceProjection } from '../../../libs/ledger/balance-projection.js';
import { OrgCommandProcessor } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { adminActorOf, Audience, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { LOGGER } from '../http/tokens.js';

interface ApprovalRow {
  intent_id: string;
  org_id: string;
  session_id: string;
  agent_id: string;
  status: string;
  amount_micros: string;
  resource: string | null;
  pay_to: string | null;
  approval_expires_at: Date | null;
  created_at: Date;
}

function approvalView(row: ApprovalRow) {
  return {
    id: row.intent_id,
    orgId: row.org_id,
    sessionId: row.session_id,
    agentId: row.agent_id,
    status: row.status,
    amount: formatUsdMicros(BigInt(row.amount_micros)),
    resource: row.resource,
    payTo: row.pay_to,
    expiresAt: row.approval_expires_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}

const SWEEP_BATCH_MAX = 100;

/** Payments above an approval threshold: listed for admins, approved or denied by them. */
@Controller('admin/v1/approvals')
@Audience('admin')
export class ApprovalsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  @Get()
  async pending(@Query('orgId') orgId: string | undefined) {
    await this.projection.catchUpAll();
    const result = await this.pool.query<ApprovalRow>(
      `SELECT * FROM payments_view WHERE status = 'awaiting_approval' AND ($1::text IS NULL OR org_id = $1) ORDER BY created_at LIMIT 500`,
      [orgId ?? null],
    );
    return { items: result.rows.map(approvalView) };
  }

  @Post(':id/approve')
  @HttpCode(200)
  approve(@Req() request: AuthenticatedRequest, @Param('id') id: string) {
    return this.decide(request, id, true);
  }

  @Post(':id/deny')
  @HttpCode(200)
  deny(@Req() request: AuthenticatedRequest, @Param('id') id: string) {
    return this.decide(request, id, false);
  }

  private async decide(request: AuthenticatedRequest, intentId: string, approve: boolean) {
    await this.projection.catchUpAll();
    const found = await this.pool.query<{ org_id: string }>('SELECT org_id FROM payments_view WHERE intent_id = $1', [intentId]);
    const orgId = found.rows[0]?.org_id;
    if (orgId === undefined) throw new ApiProblem('payment_not_found', `payment ${intentId.slice(0, 80)} does not exist`);
    await this.commands.execute(
      new DecideBudget(
        { type: 'DecideApproval', orgId, intentId, approve, reason: approve ? 'approved' : 'denied', actor: adminActorOf(request), at: this.clock.now().toISOString() },
        () => undefined,
      ),
    );
    await this.projection.catchUpAll();
    const after = await this.pool.query<ApprovalRow>('SELECT * FROM payments_view WHERE intent_id = $1', [intentId]);
    return approvalView(after.rows[0]!);
  }
}

/** Refuses payments whose approval did not come in time; run by the governor's background loop. */
@Injectable()
export class ApprovalTimeouts {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(OrgCommandProcessor) private readonly processor: OrgCommandProcessor,
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
        await this.processor.submit(
          { type: 'DecideApproval', orgId: row.org_id, intentId: row.intent_id, approve: false, reason: 'timeout', actor: 'system', at: now.toISOString() },
          () => undefined,
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
