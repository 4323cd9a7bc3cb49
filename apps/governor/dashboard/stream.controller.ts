import { Controller, Get, Inject, Param, Query, Req, Res, type BeforeApplicationShutdown } from '@nestjs/common';
import type { Response } from 'express';
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { BudgetEvent } from '../../../libs/domain/budget/events.js';
import { evolve } from '../../../libs/domain/budget/evolve.js';
import { initialOrgState, type OrgState } from '../../../libs/domain/budget/state.js';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import { EventStore, LOG_START, positionOf, type LogPosition, type RecordedEvent } from '../../../libs/eventstore/event-store.js';
import { encodeJson } from '../../../libs/eventstore/json-codec.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { AccessKeys } from '../http/access-keys.js';
import { adminOrgScope, Audience, bearerToken, principalOf, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { KeyRevocations, type RevokedKeys } from '../http/key-revocations.js';
import { Clock } from '../http/clock.js';
import { parseBody } from '../http/input.js';
import { ReadModels } from '../agent/read-models.js';
import { levelRemainingMicros, spentInCurrentPeriodMicros, type BudgetBalanceRow } from '../../../libs/ledger/budget-balance.js';
import { LOGGER } from '../http/tokens.js';
import { streamSlotRefusal, type StreamHolderKey } from './stream-slots.js';

// Live views over the committed event log, as Server-Sent Events. Each open stream polls
// the log from its own position, so a slow or reconnecting client never holds others back
// and resumes exactly where it stopped (the SSE `id` is the commit-order cursor).

/** How often an idle stream looks for new commits: the "live" in live balances. */
const POLL_INTERVAL_MS = 250;
/** Events sent per read; a full page is followed at once by the next one. */
const PAGE_SIZE = 200;
/** A comment line this often keeps proxies and browsers from closing an idle stream. */
const HEARTBEAT_INTERVAL_MS = 15_000;
/** Every open stream polls the database, so their number is bounded per process. */
/** The most recent events a new admin stream replays before it goes live. */
const BACKLOG_MAX = 1_000;
/** A client that does not read for this long is dropped rather than buffered without end. */
const WRITE_STALL_MAX_MS = 30_000;
/** How often a stream checks that its key still works: a key revoked on another governor ends it within this. */
const KEY_RECHECK_INTERVAL_MS = 5_000;

/** `<transaction id>.<global position>`: where a stream resumes (SSE `Last-Event-ID`). */
const cursorPattern = /^(\d{1,20})\.(\d{1,19})$/;

const adminStreamQuery = z
  .object({
    after: z.string().regex(cursorPattern, 'must be the `id` of an event this stream sent').optional(),
    backlog: z.coerce.number().int().min(0).max(BACKLOG_MAX).default(100),
  })
  .strict();

const sessionStreamQuery = z.object({ after: z.coerce.number().int().min(0).optional() }).strict();

/** The slot key of a stream's holder: agents by org and id, admin keys by name. */
function slotKey(holder: RevokedKeys, adminOrgId: string | null): StreamHolderKey {
  return holder.kind === 'agent' ? { kind: 'agent', orgId: holder.orgId, principal: holder.agentId } : { kind: 'admin', orgId: adminOrgId, principal: holder.name };
}

interface OpenStream {
  response: Response;
  closed: boolean;
  /** Whose key opened it: revoking that key ends the stream. */
  holder: RevokedKeys;
  /** The org an admin key is bound to (null: every org, or an agent's stream). */
  adminOrgId: string | null;
  /** Whether the key that opened it still works (it may be revoked on another governor). */
  keyStillValid: () => Promise<boolean>;
}

@Controller()
export class StreamController implements BeforeApplicationShutdown {
  private readonly open = new Set<OpenStream>();

  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(AccessKeys) private readonly keys: AccessKeys,
    @Inject(KeyRevocations) revocations: KeyRevocations,
  ) {
    revocations.onRevoked((revoked) => this.endStreamsOf(revoked));
  }

  /**
   * Every event of every org as it is committed, for FinOps screens. Without a cursor the
   * stream starts with the most recent `backlog` events, so a new screen has context.
   */
  @Get('admin/v1/stream')
  @Audience('admin')
  @Reach('narrowed_by_handler')
  async adminStream(@Req() request: AuthenticatedRequest, @Res() response: Response, @Query() rawQuery: unknown): Promise<void> {
    const query = parseBody(adminStreamQuery, rawQuery);
    // A key bound to an org streams that org's events only.
    const orgScope = adminOrgScope(request);
    const resumeFrom = headerCursor(request) ?? query.after;
    let position = resumeFrom === undefined ? await this.backlogStart(query.backlog) : parseCursor(resumeFrom);
    const stream = this.begin(request, response);
    await this.pump(stream, async () => {
      const events = await this.store.readAll(this.pool, position, PAGE_SIZE);
      for (const event of events) {
        position = positionOf(event);
        if (orgScope !== null && event.metadata.orgId !== orgScope) continue;
        await this.send(stream, cursorOf(position), event.type, encodeJson(eventBody(event)));
      }
      return events.length;
    });
  }

  /**
   * The budget views finance looks at: every session and agent with its live balance, and
   * spend per paid endpoint, from the read models.
   */
  @Get('admin/v1/balances')
  @Audience('admin')
  @Reach('narrowed_by_handler')
  async balances(@Req() request: AuthenticatedRequest) {
    const orgScope = adminOrgScope(request);
    const [sessions, agents, endpoints] = await Promise.all([
      this.pool.query<{
        session_id: string;
        org_id: string;
        agent_id: string;
        agent_name: string | null;
        limit_micros: string;
        reserved_micros: string;
        spent_micros: string;
        payments_count: number;
        status: string;
        expires_at: Date;
        created_at: Date;
      }>(
        `SELECT s.session_id, s.org_id, s.agent_id, a.name AS agent_name, s.limit_micros, s.reserved_micros, s.spent_micros,
                s.payments_count, s.status, s.expires_at, s.created_at
         FROM sessions_view s
         LEFT JOIN budget_balances a ON a.org_id = s.org_id AND a.level = 'agent' AND a.level_id = s.agent_id
         WHERE ($1::text IS NULL OR s.org_id = $1)
         ORDER BY s.created_at DESC LIMIT 100`,
        [orgScope],
      ),
      this.pool.query<BudgetBalanceRow & { org_id: string; level_id: string; name: string }>(
        `SELECT org_id, level_id, name, limit_micros, reserved_micros, spent_micros, period, period_key FROM budget_balances
         WHERE level = 'agent' AND ($1::text IS NULL OR org_id = $1) ORDER BY org_id, name LIMIT 200`,
        [orgScope],
      ),
      this.pool.query<{ resource: string; payments: string; settled: string; refused: string; spent_micros: string; held_micros: string }>(
        `SELECT resource,
                count(*) FILTER (WHERE status <> 'rejected') AS payments,
                count(*) FILTER (WHERE status = 'settled') AS settled,
                count(*) FILTER (WHERE status = 'rejected') AS refused,
                coalesce(sum(amount_micros) FILTER (WHERE status = 'settled'), 0) AS spent_micros,
                coalesce(sum(amount_micros) FILTER (WHERE status IN ('reserved', 'signed', 'unknown')), 0) AS held_micros
         FROM payments_view WHERE resource IS NOT NULL AND ($1::text IS NULL OR org_id = $1)
         GROUP BY resource ORDER BY spent_micros DESC, resource LIMIT 100`,
        [orgScope],
      ),
    ]);
    const now = this.clock.now();
    return {
      sessions: sessions.rows.map((row) => {
        const limit = BigInt(row.limit_micros);
        const reserved = BigInt(row.reserved_micros);
        const spent = BigInt(row.spent_micros);
        return {
          id: row.session_id,
          orgId: row.org_id,
          agentId: row.agent_id,
          agentName: row.agent_name ?? row.agent_id,
          limit: formatUsdMicros(limit),
          reserved: formatUsdMicros(reserved),
          spent: formatUsdMicros(spent),
          remaining: formatUsdMicros(limit - reserved - spent),
          payments: row.payments_count,
          status: row.status === 'closed' ? 'closed' : row.expires_at <= now ? 'expired' : 'open',
          createdAt: row.created_at.toISOString(),
        };
      }),
      agents: agents.rows.map((row) => {
        const remaining = levelRemainingMicros(row, now);
        return {
          id: row.level_id,
          orgId: row.org_id,
          name: row.name,
          limit: row.limit_micros === null ? null : formatUsdMicros(BigInt(row.limit_micros)),
          period: row.period,
          reserved: formatUsdMicros(BigInt(row.reserved_micros)),
          // Spent in the current day or month for a periodic budget: the domain starts afresh each period.
          spent: formatUsdMicros(spentInCurrentPeriodMicros(row, now)),
          remaining: remaining === null ? null : formatUsdMicros(remaining),
        };
      }),
      endpoints: endpoints.rows.map((row) => ({
        resource: row.resource,
        payments: Number(row.payments),
        settled: Number(row.settled),
        refused: Number(row.refused),
        spent: formatUsdMicros(BigInt(row.spent_micros)),
        held: formatUsdMicros(BigInt(row.held_micros)),
      })),
    };
  }

  /**
   * Every event of one of the caller's sessions, with the session's balance right after it.
   * The balance is the domain's own fold of the org stream, so it is exact at each event
   * rather than whatever the read model says when the event is sent.
   */
  @Get('v1/sessions/:id/stream')
  async sessionStream(@Req() request: AuthenticatedRequest, @Res() response: Response, @Param('id') sessionId: string, @Query() rawQuery: unknown): Promise<void> {
    const agent = principalOf(request);
    const query = parseBody(sessionStreamQuery, rawQuery);
    const session = await this.reads.session(agent.orgId, agent.agentId, sessionId, this.clock.now());
    if (session === undefined) throw new ApiProblem('session_not_found', `session ${sessionId.slice(0, 80)} does not exist`);
    const resumeFrom = headerCursor(request) ?? String(query.after ?? 0);
    if (!/^\d{1,15}$/.test(resumeFrom)) throw new ApiProblem('invalid_request', 'Last-Event-ID: must be the `id` of an event this stream sent', { field: 'Last-Event-ID' });
    const resumeAfterVersion = Number(resumeFrom);
    const streamId = orgStreamId(agent.orgId);
    let state: OrgState = initialOrgState(agent.orgId);
    let version = 0;
    const stream = this.begin(request, response);
    await this.pump(stream, async () => {
      const events = await this.store.readStream(this.pool, streamId, version, PAGE_SIZE);
      for (const event of events) {
        version = event.streamVersion;
        state = evolve(state, { type: event.type, data: event.data } as BudgetEvent);
        if ((event.data as { sessionId?: unknown }).sessionId !== sessionId || version <= resumeAfterVersion) continue;
        const budget = state.sessions.get(sessionId)?.budget;
        const balance =
          budget === undefined
            ? null
            : {
                limit: formatUsdMicros(budget.limitMicros),
                reserved: formatUsdMicros(budget.reservedMicros),
                spent: formatUsdMicros(budget.spentMicros),
                remaining: formatUsdMicros(budget.limitMicros - budget.reservedMicros - budget.spentMicros),
                payments: state.sessions.get(sessionId)?.paymentsCount ?? 0,
              };
        await this.send(stream, String(version), event.type, encodeJson({ ...eventBody(event), balance }));
      }
      return events.length;
    });
  }

  /** Ends every open stream, so that closing the server does not wait on them. */
  beforeApplicationShutdown(): void {
    for (const stream of this.open) {
      stream.closed = true;
      stream.response.end();
    }
    this.open.clear();
  }

  /** Ends every open stream that a revoked key opened. */
  private endStreamsOf(revoked: RevokedKeys): void {
    for (const stream of this.open) {
      const holder = stream.holder;
      const match =
        revoked.kind === 'agent'
          ? holder.kind === 'agent' && holder.orgId === revoked.orgId && holder.agentId === revoked.agentId
          : holder.kind === 'admin' && holder.name === revoked.name;
      if (!match) continue;
      stream.closed = true;
      this.open.delete(stream);
      if (!stream.response.writableEnded) stream.response.end();
    }
  }

  private begin(request: AuthenticatedRequest, response: Response): OpenStream {
    const token = bearerToken(request) ?? '';
    const holder: RevokedKeys = request.agent !== undefined ? { kind: 'agent', ...request.agent } : { kind: 'admin', name: request.admin?.name ?? '' };
    const refusal = streamSlotRefusal([...this.open].map((open) => slotKey(open.holder, open.adminOrgId)), slotKey(holder, request.admin?.orgId ?? null));
    if (refusal !== undefined) throw new ApiProblem('too_many_streams', `${refusal}; retry later`);
    const stream: OpenStream = { response, closed: false, holder, adminOrgId: request.admin?.orgId ?? null, keyStillValid: () => this.keys.keyStillValid(holder.kind, token) };
    this.open.add(stream);
    request.on('close', () => {
      stream.closed = true;
      this.open.delete(stream);
    });
    response.status(200);
    response.setHeader('Content-Type', 'text/event-stream; charset=utf-8');
    response.setHeader('Cache-Control', 'no-cache, no-transform');
    response.setHeader('Connection', 'keep-alive');
    // Tells nginx-style proxies not to buffer, or events would arrive in bursts.
    response.setHeader('X-Accel-Buffering', 'no');
    response.flushHeaders();
    response.write(`retry: 1000\n\n`);
    return stream;
  }

  /** Reads pages until the client leaves: at once while pages are full, else every poll interval. */
  private async pump(stream: OpenStream, readPage: () => Promise<number>): Promise<void> {
    let lastWriteMs = Date.now();
    let lastKeyCheckMs = Date.now();
    try {
      while (!stream.closed) {
        if (Date.now() - lastKeyCheckMs >= KEY_RECHECK_INTERVAL_MS) {
          lastKeyCheckMs = Date.now();
          if (!(await stream.keyStillValid())) break;
        }
        const sent = await readPage();
        if (sent > 0) lastWriteMs = Date.now();
        if (sent >= PAGE_SIZE) continue;
        if (Date.now() - lastWriteMs >= HEARTBEAT_INTERVAL_MS) {
          stream.response.write(': keep-alive\n\n');
          lastWriteMs = Date.now();
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
      }
    } catch (error) {
      // Headers are gone already, so the client learns of the failure from the closed
      // stream and reconnects with its last id; the reason goes to the log.
      if (!stream.closed) this.logger.warn({ err: { message: (error as Error).message } }, 'event stream failed');
    } finally {
      this.open.delete(stream);
      if (!stream.response.writableEnded) stream.response.end();
    }
  }

  private async send(stream: OpenStream, id: string, type: string, json: string): Promise<void> {
    if (stream.closed) return;
    const flushed = stream.response.write(`id: ${id}\nevent: ${type}\ndata: ${json}\n\n`);
    if (flushed) return;
    const drained = await Promise.race([
      new Promise<boolean>((resolve) => stream.response.once('drain', () => resolve(true))),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(false), WRITE_STALL_MAX_MS)),
    ]);
    if (!drained) {
      stream.closed = true;
      stream.response.destroy();
    }
  }

  /** The position just before the last `count` committed events, in commit order. */
  private async backlogStart(count: number): Promise<LogPosition> {
    if (count === 0) {
      const tail = await this.pool.query<{ transaction_id: string; global_position: string }>(
        `SELECT transaction_id::text, global_position FROM events
         WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY transaction_id DESC, global_position DESC LIMIT 1`,
      );
      const row = tail.rows[0];
      return row === undefined ? LOG_START : { transactionId: row.transaction_id, globalPosition: BigInt(row.global_position) };
    }
    const result = await this.pool.query<{ transaction_id: string; global_position: string }>(
      `SELECT transaction_id::text, global_position FROM events
       WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
       ORDER BY transaction_id DESC, global_position DESC OFFSET $1 LIMIT 1`,
      [count],
    );
    const row = result.rows[0];
    return row === undefined ? LOG_START : { transactionId: row.transaction_id, globalPosition: BigInt(row.global_position) };
  }
}

function eventBody(event: RecordedEvent) {
  return {
    id: event.eventId,
    type: event.type,
    streamId: event.streamId,
    position: event.globalPosition,
    orgId: event.metadata.orgId,
    actor: event.metadata.actor,
    correlationId: event.metadata.correlationId,
    occurredAt: event.occurredAt,
    data: event.data,
  };
}

function cursorOf(position: LogPosition): string {
  return `${position.transactionId}.${position.globalPosition}`;
}

function parseCursor(cursor: string): LogPosition {
  const match = cursorPattern.exec(cursor);
  if (match?.[1] === undefined || match[2] === undefined) throw new ApiProblem('invalid_request', 'after: must be the `id` of an event this stream sent', { field: 'after' });
  return { transactionId: match[1], globalPosition: BigInt(match[2]) };
}

/** The SSE resume header; validated by the caller's own cursor parsing. */
function headerCursor(request: AuthenticatedRequest): string | undefined {
  const value = request.headers['last-event-id'];
  return typeof value === 'string' && value.length > 0 && value.length <= 48 ? value : undefined;
}
