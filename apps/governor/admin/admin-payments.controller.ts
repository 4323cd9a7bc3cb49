import { Controller, Get, Inject, Param, Query, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import pg from 'pg';
import { z } from 'zod';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import { BalanceProjection } from '../../../libs/ledger/balance-projection.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { adminOrgScope, Audience, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { parseQuery } from '../http/input.js';
import { adminFor } from './admin-scope.js';
import { adminPaymentView, orgOfPayment, PAYMENT_SELECT, paymentReceipt, paymentStory, type PaymentRow } from './payment-story.js';

// Payments for admins and finance: a paged list, one payment's whole story and its receipt,
// and exports of any range streamed in keyset pages, so memory stays flat however many rows.

const LIST_LIMIT_MAX = 200;
/** Rows per page of an export: one query each, the response written and drained between pages. */
const EXPORT_PAGE_ROWS = 2_000;
const STATUSES = ['awaiting_approval', 'reserved', 'signed', 'settled', 'refunded', 'rejected', 'unknown'] as const;

const id = z.string().min(1).max(64);
const listQuery = z
  .object({
    orgId: id,
    status: z.enum(STATUSES).optional(),
    agentId: id.optional(),
    sessionId: z.string().min(1).max(128).optional(),
    limit: z.coerce.number().int().min(1).max(LIST_LIMIT_MAX).default(50),
    cursor: z.string().max(300).optional(),
  })
  .strict();
const exportQuery = z
  .object({
    orgId: id.optional(),
    from: z.string().datetime({ offset: true }),
    to: z.string().datetime({ offset: true }),
    format: z.enum(['csv', 'jsonl']).default('csv'),
  })
  .strict();

interface Cursor {
  createdAt: string;
  intentId: string;
}

function encodeCursor(row: PaymentRow): string {
  return Buffer.from(JSON.stringify([row.created_at_exact, row.intent_id])).toString('base64url');
}

function decodeCursor(raw: string): Cursor {
  try {
    const [createdAt, intentId] = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown[];
    if (typeof createdAt === 'string' && typeof intentId === 'string' && Number.isFinite(Date.parse(createdAt))) return { createdAt, intentId };
  } catch {
    // Reported below as the field that is wrong.
  }
  throw new ApiProblem('invalid_request', 'cursor must be the `next` of a previous page', { field: 'cursor' });
}

const CSV_COLUMNS = ['paymentId', 'orgId', 'teamId', 'agentId', 'sessionId', 'status', 'amount', 'amountAtomic', 'asset', 'network', 'payTo', 'resource', 'transaction', 'payer', 'reason', 'createdAt', 'updatedAt'] as const;

/**
 * One CSV field: quoted when it must be, and a text a spreadsheet would run as a formula
 * (a seller's URL may start with `=`) is prefixed with an apostrophe.
 */
function csvField(value: string | null): string {
  if (value === null) return '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

function exportRecord(row: PaymentRow): Record<(typeof CSV_COLUMNS)[number], string | null> {
  return {
    paymentId: row.intent_id,
    orgId: row.org_id,
    teamId: row.team_id,
    agentId: row.agent_id,
    sessionId: row.session_id,
    status: row.status,
    amount: formatUsdMicros(BigInt(row.amount_micros)),
    amountAtomic: row.amount_atomic,
    asset: row.asset,
    network: row.network,
    payTo: row.pay_to,
    resource: row.resource,
    transaction: row.transaction,
    payer: row.payer,
    reason: row.reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** Waits until the socket takes more, or the client went away; leaves no listener behind. */
function drainedOrClosed(response: Response): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}

@Controller('admin/v1')
@Audience('admin')
@Reach('narrowed_by_handler')
export class AdminPaymentsController {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
  ) {}

  /** An org's payments, newest first, `limit` per page; `next` is the cursor of the page after. */
  @Get('payments')
  async list(@Req() request: AuthenticatedRequest, @Query() raw: unknown) {
    const q = parseQuery(listQuery, raw);
    adminFor(request, q.orgId, 'read');
    const cursor = q.cursor === undefined ? null : decodeCursor(q.cursor);
    await this.projection.catchUpStream(orgStreamId(q.orgId));
    const result = await this.pool.query<PaymentRow>(
      `${PAYMENT_SELECT}
       WHERE p.org_id = $1 AND ($2::text IS NULL OR p.status = $2) AND ($3::text IS NULL OR p.agent_id = $3) AND ($4::text IS NULL OR p.session_id = $4)
         AND ($5::timestamptz IS NULL OR (p.created_at, p.intent_id) < ($5::timestamptz, $6::text))
       ORDER BY p.created_at DESC, p.intent_id DESC LIMIT $7`,
      [q.orgId, q.status ?? null, q.agentId ?? null, q.sessionId ?? null, cursor?.createdAt ?? null, cursor?.intentId ?? null, q.limit + 1],
    );
    const rows = result.rows.slice(0, q.limit);
    const last = rows.at(-1);
    return { items: rows.map(adminPaymentView), next: result.rows.length > q.limit && last !== undefined ? encodeCursor(last) : null };
  }

  /**
   * Payments created in [from, to), oldest first, streamed as CSV or JSON Lines. Each page is
   * read after the previous one is handed to the socket, so a slow reader holds one page.
   */
  @Get('exports/payments')
  async export(@Req() request: AuthenticatedRequest, @Query() raw: unknown, @Res() response: Response): Promise<void> {
    const q = parseQuery(exportQuery, raw);
    adminFor(request, q.orgId ?? null, 'read');
    if (Date.parse(q.from) >= Date.parse(q.to)) throw new ApiProblem('invalid_request', '`from` must be before `to`', { field: 'from' });
    if (q.orgId === undefined) await this.projection.catchUpAll();
    else await this.projection.catchUpStream(orgStreamId(q.orgId));
    const stamp = `${q.from.slice(0, 10)}_${q.to.slice(0, 10)}`;
    response.status(200);
    response.setHeader('Content-Type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/jsonl; charset=utf-8');
    response.setHeader('Content-Disposition', `attachment; filename="payments_${q.orgId ?? 'all'}_${stamp}.${q.format}"`.replace(/[^\x20-\x7e]/g, '_'));
    response.setHeader('Cache-Control', 'no-store');
    if (q.format === 'csv') response.write(`${CSV_COLUMNS.join(',')}\r\n`);
    let after: Cursor | null = null;
    let closed = false;
    response.on('close', () => {
      closed = true;
    });
    for (;;) {
      const page: pg.QueryResult<PaymentRow> = await this.pool.query<PaymentRow>(
        `${PAYMENT_SELECT}
         WHERE ($1::text IS NULL OR p.org_id = $1) AND p.created_at >= $2 AND p.created_at < $3
           AND ($4::timestamptz IS NULL OR (p.created_at, p.intent_id) > ($4::timestamptz, $5::text))
         ORDER BY p.created_at, p.intent_id LIMIT ${EXPORT_PAGE_ROWS}`,
        [q.orgId ?? null, q.from, q.to, after?.createdAt ?? null, after?.intentId ?? null],
      );
      if (closed) return;
      const chunk = page.rows
        .map((row) => {
          const record = exportRecord(row);
          return q.format === 'csv' ? `${CSV_COLUMNS.map((column) => csvField(record[column])).join(',')}\r\n` : `${JSON.stringify(record)}\n`;
        })
        .join('');
      if (chunk.length > 0 && !response.write(chunk)) await drainedOrClosed(response);
      const last = page.rows.at(-1);
      if (page.rows.length < EXPORT_PAGE_ROWS || last === undefined) break;
      after = { createdAt: last.created_at_exact, intentId: last.intent_id };
    }
    response.end();
  }

  @Get('payments/:paymentId')
  async story(@Req() request: AuthenticatedRequest, @Param('paymentId') paymentId: string) {
    const row = await this.payment(request, paymentId);
    return paymentStory(this.pool, row);
  }

  @Get('payments/:paymentId/receipt')
  async receipt(@Req() request: AuthenticatedRequest, @Param('paymentId') paymentId: string) {
    const row = await this.payment(request, paymentId);
    return paymentReceipt(this.pool, row);
  }

  private async payment(request: AuthenticatedRequest, paymentId: string): Promise<PaymentRow> {
    const scope = adminOrgScope(request);
    const found = await orgOfPayment(this.pool, paymentId);
    // Another org's payment answers as if it did not exist.
    const orgId = scope === null || found === scope ? found : undefined;
    if (orgId === undefined) throw new ApiProblem('payment_not_found', `payment ${paymentId.slice(0, 80)} does not exist`);
    adminFor(request, orgId, 'read');
    await this.projection.catchUpStream(orgStreamId(orgId));
    const row = (await this.pool.query<PaymentRow>(`${PAYMENT_SELECT} WHERE p.intent_id = $1`, [paymentId])).rows[0];
    if (row === undefined) throw new ApiProblem('payment_not_found', `payment ${paymentId} does not exist`);
    return row;
  }
}
