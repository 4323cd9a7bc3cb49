import { Controller, Get, Inject, Query, Req } from '@nestjs/common';
import pg from 'pg';
import { z } from 'zod';
import { reviveBigints } from '../../../libs/eventstore/json-codec.js';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import type { Policy } from '../../../libs/domain/budget/policy.js';
import { BalanceProjection } from '../../../libs/ledger/balance-projection.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { Audience, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import { parseQuery } from '../http/input.js';
import { adminFor } from './admin-scope.js';

// Spend and refusals over time, from the spend_series and refusal_series read models
// (migration 061). A range is at most 31 days of hours or 400 days of days, so one answer
// holds at most ~750 or 400 points per series.
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const RANGE_MS_MAX = { hour: 31 * DAY_MS, day: 400 * DAY_MS } as const;

const id = z.string().min(1).max(64);
const seriesQuery = z
  .object({
    orgId: id,
    teamId: id.optional(),
    agentId: id.optional(),
    resource: z.string().min(1).max(2048).optional(),
    bucket: z.enum(['hour', 'day']).default('hour'),
    from: z.string().datetime({ offset: true }).optional(),
    to: z.string().datetime({ offset: true }).optional(),
  })
  .strict();
const refusalsQuery = seriesQuery.pick({ orgId: true, bucket: true, from: true, to: true }).strict();

type Bucket = 'hour' | 'day';

/** The buckets' starts in [from, to), aligned to UTC hours or days. */
function range(bucket: Bucket, rawFrom: string | undefined, rawTo: string | undefined, now: Date): { from: Date; to: Date } {
  const step = bucket === 'hour' ? HOUR_MS : DAY_MS;
  const to = rawTo === undefined ? new Date(Math.floor(now.getTime() / step) * step + step) : new Date(rawTo);
  const from = rawFrom === undefined ? new Date(to.getTime() - (bucket === 'hour' ? DAY_MS : 30 * DAY_MS)) : new Date(rawFrom);
  if (from >= to) throw new ApiProblem('invalid_request', '`from` must be before `to`', { field: 'from' });
  if (to.getTime() - from.getTime() > RANGE_MS_MAX[bucket]) {
    throw new ApiProblem('invalid_request', `a range of ${bucket}s may span at most ${bucket === 'hour' ? 31 : 400} days`, { field: 'to' });
  }
  return { from: new Date(Math.floor(from.getTime() / step) * step), to };
}

function* bucketStarts(bucket: Bucket, from: Date, to: Date): Generator<string> {
  const step = bucket === 'hour' ? HOUR_MS : DAY_MS;
  for (let t = from.getTime(); t < to.getTime(); t += step) yield new Date(t).toISOString();
}

interface SpendRow {
  bucket_start: Date;
  spent_micros: string;
  reserved_micros: string;
  refunded_micros: string;
  payments: string;
  refused: string;
}

@Controller('admin/v1')
@Audience('admin')
@Reach('narrowed_by_handler')
export class SpendController {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /**
   * Money per bucket on one level: the org, or one of its teams, agents or resources (at most
   * one of teamId, agentId, resource), with that level's budget and alert thresholds to draw.
   */
  @Get('spend')
  async spend(@Req() request: AuthenticatedRequest, @Query() raw: unknown) {
    const q = parseQuery(seriesQuery, raw);
    adminFor(request, q.orgId, 'read');
    const chosen = [q.teamId && 'teamId', q.agentId && 'agentId', q.resource && 'resource'].filter(Boolean);
    if (chosen.length > 1) throw new ApiProblem('invalid_request', 'name at most one of teamId, agentId and resource', { field: String(chosen[1]) });
    const [level, levelId] = q.agentId !== undefined ? ['agent', q.agentId] : q.teamId !== undefined ? ['team', q.teamId] : q.resource !== undefined ? ['resource', q.resource.split('?')[0] ?? q.resource] : ['org', q.orgId];
    const { from, to } = range(q.bucket, q.from, q.to, this.clock.now());
    await this.projection.catchUpStream(orgStreamId(q.orgId));
    const rows = await this.pool.query<SpendRow>(
      `SELECT bucket_start, spent_micros::text, reserved_micros::text, refunded_micros::text, payments::text, refused::text FROM spend_series
       WHERE org_id = $1 AND level = $2 AND level_id = $3 AND bucket = $4 AND bucket_start >= $5 AND bucket_start < $6`,
      [q.orgId, level, levelId, q.bucket, from, to],
    );
    const byStart = new Map(rows.rows.map((row) => [row.bucket_start.toISOString(), row]));
    const series = [...bucketStarts(q.bucket, from, to)].map((start) => {
      const row = byStart.get(start);
      return {
        start,
        spent: formatUsdMicros(BigInt(row?.spent_micros ?? 0)),
        reserved: formatUsdMicros(BigInt(row?.reserved_micros ?? 0)),
        refunded: formatUsdMicros(BigInt(row?.refunded_micros ?? 0)),
        payments: Number(row?.payments ?? 0),
        refused: Number(row?.refused ?? 0),
      };
    });
    const budget = level === 'resource' ? undefined : await this.budgetOf(q.orgId, level, levelId);
    return { bucket: q.bucket, level, levelId, series, ...budget };
  }

  @Get('refusals')
  async refusals(@Req() request: AuthenticatedRequest, @Query() raw: unknown) {
    const q = parseQuery(refusalsQuery, raw);
    adminFor(request, q.orgId, 'read');
    const { from, to } = range(q.bucket, q.from, q.to, this.clock.now());
    await this.projection.catchUpStream(orgStreamId(q.orgId));
    const rows = await this.pool.query<{ bucket_start: Date; code: string; refused: string }>(
      `SELECT bucket_start, code, refused::text FROM refusal_series WHERE org_id = $1 AND bucket = $2 AND bucket_start >= $3 AND bucket_start < $4`,
      [q.orgId, q.bucket, from, to],
    );
    const byStart = new Map<string, Record<string, number>>();
    for (const row of rows.rows) {
      const start = row.bucket_start.toISOString();
      const codes = byStart.get(start) ?? {};
      codes[row.code] = Number(row.refused);
      byStart.set(start, codes);
    }
    return { bucket: q.bucket, series: [...bucketStarts(q.bucket, from, to)].map((start) => ({ start, byCode: byStart.get(start) ?? {} })) };
  }

  /** The level's budget (limit and period) and the alert thresholds that apply to it, from the log. */
  private async budgetOf(orgId: string, level: string, levelId: string): Promise<{ budget?: { limit: string | null; period: string }; alertThresholds?: number[] }> {
    const limit = await this.pool.query<{ limit_micros: string | null }>('SELECT limit_micros::text FROM budget_balances WHERE org_id = $1 AND level = $2 AND level_id = $3', [orgId, level, levelId]);
    const period = await this.pool.query<{ period: string }>(
      `SELECT data->'after'->>'period' AS period FROM events WHERE stream_id = $1 AND type = 'BudgetChanged' AND data->>'level' = $2 AND data->>'levelId' = $3 ORDER BY stream_version DESC LIMIT 1`,
      [orgStreamId(orgId), level, levelId],
    );
    const policy = await this.pool.query<{ data: unknown }>(
      `SELECT data FROM events WHERE stream_id = $1 AND type = 'PolicyChanged' AND data->>'level' = $2 AND data->>'levelId' = $3 AND data->>'mode' IS NULL ORDER BY stream_version DESC LIMIT 1`,
      [orgStreamId(orgId), level, levelId],
    );
    const row = limit.rows[0];
    const percents = policy.rows[0] === undefined ? [] : (reviveBigints<{ after: Partial<Policy> }>(policy.rows[0].data).after.budgetAlertPercents ?? []);
    return {
      ...(row === undefined ? {} : { budget: { limit: row.limit_micros === null ? null : formatUsdMicros(BigInt(row.limit_micros)), period: period.rows[0]?.period ?? 'none' } }),
      ...(percents.length === 0 ? {} : { alertThresholds: [...percents].sort((a, b) => a - b) }),
    };
  }
}
