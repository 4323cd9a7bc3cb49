import { randomUUID } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Patch, Post, Query, Req } from '@nestjs/common';
import pg from 'pg';
import { z } from 'zod';
import { DEFAULT_WEBHOOK_EVENT_TYPES, isWebhookEventType, WEBHOOK_ENDPOINTS_MAX, WEBHOOK_EVENT_TYPES } from '../../../libs/domain/webhooks/webhooks.js';
import { EventStore } from '../../../libs/eventstore/event-store.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { processDataKeys } from '../../../libs/platform/data-keys.js';
import { newWebhookSecret, sealWebhookSecret } from '../../../libs/webhooks/signature.js';
import { WEBHOOK_DISPATCH_LOCK_KEY } from '../../../libs/webhooks/webhook-dispatcher.js';
import { adminActorOf, adminOrgScope, Audience, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import type { GovernorConfig } from '../config.js';
import { parseBody, parseOptionalBody, parseQuery } from '../http/input.js';
import { assertResolvesPublic, DestinationNotAllowedError } from '../../../libs/platform/outbound-guard.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';

const DELIVERIES_PAGE_MAX = 100;
/** The longest a rotated-out secret keeps signing: a week. */
const OVERLAP_SECONDS_MAX = 7 * 86_400;
const ATTEMPT_HISTORY_MAX = 200;

const parseUrl = (u: string): URL | undefined => (URL.canParse(u) ? new URL(u) : undefined);
const urlField = z
  .string()
  .max(2048)
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
  .refine((u) => parseUrl(u)?.username === '' && parseUrl(u)?.password === '', 'must not carry credentials; the signature authenticates Paybound')
  .refine((u) => parseUrl(u)?.hash === '', 'must not have a #fragment');

const eventTypesField = z
  .array(z.string().refine(isWebhookEventType, `must be a Paybound event type: ${WEBHOOK_EVENT_TYPES.join(', ')}`))
  .min(1)
  .max(WEBHOOK_EVENT_TYPES.length)
  .refine((types) => new Set(types).size === types.length, 'must not repeat an event type');

const descriptionField = z.string().trim().max(500);
const idField = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'ids are 1 to 64 letters, digits, "_" or "-"');

const createBody = z
  .object({
    url: urlField,
    eventTypes: eventTypesField.default([...DEFAULT_WEBHOOK_EVENT_TYPES]),
    orgId: idField.nullable().default(null),
    description: descriptionField.default(''),
  })
  .strict();

const updateBody = z
  .object({ url: urlField.optional(), eventTypes: eventTypesField.optional(), description: descriptionField.optional(), enabled: z.boolean().optional() })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'name at least one of url, eventTypes, description, enabled');

const rotateBody = z.object({ overlapSeconds: z.number().int().min(0).max(OVERLAP_SECONDS_MAX).default(86_400) }).strict();

const listQuery = z.object({ orgId: idField.optional() }).strict();

const deliveriesQuery = z
  .object({
    status: z.enum(['pending', 'delivered', 'failed']).optional(),
    after: z.string().regex(/^\d{1,19}$/, 'must be the `next` cursor of a previous page').optional(),
    limit: z.coerce.number().int().min(1).max(DELIVERIES_PAGE_MAX).default(20),
  })
  .strict();

interface EndpointRow {
  endpoint_id: string;
  url: string;
  event_types: string[];
  org_id: string | null;
  description: string;
  enabled: boolean;
  previous_secret_expires_at: Date | null;
  created_at: Date;
  created_by: string;
  updated_at: Date;
}

interface DeliveryRow {
  delivery_id: string;
  event_id: string;
  event_type: string;
  status: string;
  attempts: number;
  next_attempt_at: Date;
  last_attempt_at: Date | null;
  last_http_status: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  created_at: Date;
}

// The secret columns are never selected here: after creation no answer can carry them.
const ENDPOINT_COLUMNS = 'endpoint_id, url, event_types, org_id, description, enabled, previous_secret_expires_at, created_at, created_by, updated_at';
const DELIVERY_COLUMNS = 'delivery_id, event_id, event_type, status, attempts, next_attempt_at, last_attempt_at, last_http_status, last_error, delivered_at, created_at';

function endpointView(row: EndpointRow, now: Date) {
  const overlapping = row.previous_secret_expires_at !== null && row.previous_secret_expires_at > now;
  return {
    id: row.endpoint_id,
    url: row.url,
    eventTypes: row.event_types,
    orgId: row.org_id,
    description: row.description,
    enabled: row.enabled,
    previousSecretExpiresAt: overlapping ? row.previous_secret_expires_at!.toISOString() : null,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    updatedAt: row.updated_at.toISOString(),
  };
}

function deliveryView(row: DeliveryRow) {
  return {
    id: row.delivery_id,
    eventId: row.event_id,
    eventType: row.event_type,
    status: row.status,
    attempts: row.attempts,
    nextAttemptAt: row.status === 'pending' ? row.next_attempt_at.toISOString() : null,
    lastAttemptAt: row.last_attempt_at?.toISOString() ?? null,
    lastHttpStatus: row.last_http_status,
    lastError: row.last_error,
    deliveredAt: row.delivered_at?.toISOString() ?? null,
    createdAt: row.created_at.toISOString(),
  };
}

function endpointNotFound(id: string): ApiProblem {
  return new ApiProblem('webhook_endpoint_not_found', `webhook endpoint ${id.slice(0, 80)} does not exist`);
}

/**
 * Webhook endpoints: where Paybound POSTs events (the alerts by default), signed with a
 * per-endpoint secret that is shown once. The deliveries they got are listed per endpoint,
 * with every attempt. Nothing here is on the decision path: decisions never read these tables.
 */
@Controller('admin/v1/webhooks')
@Audience('admin')
// A key bound to an org sees and manages that org's endpoints only; endpoints of no org
// (every org's events, and wallet alerts) are for keys over every org.
@Reach('narrowed_by_handler')
export class WebhooksController {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
  ) {}

  /** Registers an endpoint; the answer carries its signing secret, this once. */
  @Post()
  @HttpCode(201)
  async create(@Req() request: AuthenticatedRequest, @Body() raw: unknown) {
    const parsed = parseBody(createBody, raw);
    const body = { ...parsed, orgId: adminOrgScope(request, parsed.orgId) };
    await this.assertReachable(body.url);
    if (body.orgId !== null) {
      const org = await this.pool.query('SELECT 1 FROM streams WHERE stream_id = $1', [orgStreamId(body.orgId)]);
      if (org.rowCount === 0) throw new ApiProblem('org_not_found', `org ${body.orgId} does not exist`, { field: 'orgId' });
    }
    const id = `we_${randomUUID().replace(/-/g, '')}`;
    const secret = newWebhookSecret();
    const sealed = sealWebhookSecret(processDataKeys(), secret, id);
    const { row, now } = await this.store.transaction(async (client) => {
      // Between two dispatcher pages, so that created_at falls after every event the
      // dispatcher has already passed by: the endpoint misses nothing that happens from now on.
      // The lock also makes the count below exact.
      await client.query('SELECT pg_advisory_xact_lock($1)', [WEBHOOK_DISPATCH_LOCK_KEY]);
      const at = this.clock.now();
      const created = await client.query<EndpointRow>(
        `INSERT INTO webhook_endpoints (endpoint_id, url, event_types, org_id, description, secret, secret_key_id, created_at, created_by, updated_at)
         SELECT $1, $2, $3, $4, $5, $6, $10, $7, $8, $7
         WHERE (SELECT count(*) FROM webhook_endpoints WHERE deleted_at IS NULL) < $9
         RETURNING ${ENDPOINT_COLUMNS}`,
        [id, body.url, body.eventTypes, body.orgId, body.description, sealed.value, at, adminActorOf(request), WEBHOOK_ENDPOINTS_MAX, sealed.keyId],
      );
      return { row: created.rows[0], now: at };
    });
    if (row === undefined) throw new ApiProblem('webhook_endpoints_limit_reached', `at most ${WEBHOOK_ENDPOINTS_MAX} webhook endpoints; delete one first`, { limit: WEBHOOK_ENDPOINTS_MAX });
    return { ...endpointView(row, now), secret };
  }

  @Get()
  async list(@Req() request: AuthenticatedRequest, @Query() raw: unknown) {
    const orgId = adminOrgScope(request, parseQuery(listQuery, raw).orgId);
    const result = await this.pool.query<EndpointRow>(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE deleted_at IS NULL AND ($1::text IS NULL OR org_id = $1) ORDER BY created_at, endpoint_id LIMIT $2`,
      [orgId ?? null, WEBHOOK_ENDPOINTS_MAX],
    );
    const now = this.clock.now();
    return { items: result.rows.map((row) => endpointView(row, now)) };
  }

  /** One endpoint, with how many of its deliveries are pending, delivered and failed. */
  @Get(':id')
  async get(@Req() request: AuthenticatedRequest, @Param('id') id: string) {
    const row = await this.endpoint(id, adminOrgScope(request));
    const counts = await this.pool.query<{ status: string; count: string }>('SELECT status, count(*) FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY status', [id]);
    const deliveries = { pending: 0, delivered: 0, failed: 0 };
    for (const c of counts.rows) deliveries[c.status as keyof typeof deliveries] = Number(c.count);
    return { ...endpointView(row, this.clock.now()), deliveries };
  }

  /** Changes the URL, event types, description or whether it is enabled; a disabled endpoint gets no new deliveries and its pending ones wait. */
  @Patch(':id')
  async update(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Body() raw: unknown) {
    const body = parseBody(updateBody, raw);
    const scope = adminOrgScope(request);
    if (body.url !== undefined) await this.assertReachable(body.url);
    const now = this.clock.now();
    const updated = await this.pool.query<EndpointRow>(
      `UPDATE webhook_endpoints SET url = COALESCE($2, url), event_types = COALESCE($3, event_types), description = COALESCE($4, description),
         enabled = COALESCE($5, enabled), updated_at = $6
       WHERE endpoint_id = $1 AND deleted_at IS NULL AND ($7::text IS NULL OR org_id = $7) RETURNING ${ENDPOINT_COLUMNS}`,
      [id, body.url ?? null, body.eventTypes ?? null, body.description ?? null, body.enabled ?? null, now, scope],
    );
    const row = updated.rows[0];
    if (row === undefined) throw endpointNotFound(id);
    return endpointView(row, now);
  }

  /** Deletes an endpoint: it gets nothing more, its pending deliveries are failed, and its delivery record stays. */
  @Delete(':id')
  @HttpCode(200)
  async remove(@Req() request: AuthenticatedRequest, @Param('id') id: string) {
    const scope = adminOrgScope(request);
    const now = this.clock.now();
    return this.store.transaction(async (client) => {
      const deleted = await client.query(
        'UPDATE webhook_endpoints SET deleted_at = $2, enabled = false, updated_at = $2 WHERE endpoint_id = $1 AND deleted_at IS NULL AND ($3::text IS NULL OR org_id = $3)',
        [id, now, scope],
      );
      if (deleted.rowCount === 0) throw endpointNotFound(id);
      const cancelled = await client.query(
        `UPDATE webhook_deliveries SET status = 'failed', lease_expires_at = NULL, last_error = 'endpoint_deleted' WHERE endpoint_id = $1 AND status = 'pending'`,
        [id],
      );
      return { id, deleted: true, pendingDeliveriesFailed: cancelled.rowCount ?? 0 };
    });
  }

  /**
   * A new signing secret, shown this once. The old one keeps signing beside it (a second v1
   * in Paybound-Signature) for `overlapSeconds`, so receivers can switch without dropping
   * deliveries; 0 retires it at once.
   */
  @Post(':id/secret')
  @HttpCode(201)
  async rotateSecret(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Body() raw: unknown) {
    const { overlapSeconds } = parseOptionalBody(rotateBody, raw);
    const scope = adminOrgScope(request);
    const now = this.clock.now();
    const secret = newWebhookSecret();
    const sealed = sealWebhookSecret(processDataKeys(), secret, id);
    const previousExpiresAt = overlapSeconds === 0 ? null : new Date(now.getTime() + overlapSeconds * 1000);
    const rotated = await this.pool.query(
      `UPDATE webhook_endpoints SET previous_secret = CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE secret END,
         previous_secret_key_id = CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE secret_key_id END,
         previous_secret_expires_at = $3, secret = $2, secret_key_id = $5, updated_at = $4
       WHERE endpoint_id = $1 AND deleted_at IS NULL AND ($6::text IS NULL OR org_id = $6)`,
      [id, sealed.value, previousExpiresAt, now, sealed.keyId, scope],
    );
    if (rotated.rowCount === 0) throw endpointNotFound(id);
    return { id, secret, previousSecretExpiresAt: previousExpiresAt?.toISOString() ?? null };
  }

  /** The endpoint's deliveries, newest first, paged by the `next` cursor. */
  @Get(':id/deliveries')
  async deliveries(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Query() raw: unknown) {
    const q = parseQuery(deliveriesQuery, raw);
    await this.endpoint(id, adminOrgScope(request));
    const result = await this.pool.query<DeliveryRow>(
      `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
       WHERE endpoint_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR delivery_id < $3)
       ORDER BY delivery_id DESC LIMIT $4`,
      [id, q.status ?? null, q.after ?? null, q.limit + 1],
    );
    const rows = result.rows.slice(0, q.limit);
    return { items: rows.map(deliveryView), next: result.rows.length > q.limit ? (rows.at(-1)?.delivery_id ?? null) : null };
  }

  /** One delivery with every attempt: when, how long, the HTTP status or the error. */
  @Get(':id/deliveries/:deliveryId')
  async delivery(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Param('deliveryId') deliveryId: string) {
    const row = await this.deliveryRow(id, deliveryId, adminOrgScope(request));
    const attempts = await this.pool.query<{ attempt: number; started_at: Date; duration_ms: number; http_status: number | null; error: string | null }>(
      'SELECT attempt, started_at, duration_ms, http_status, error FROM webhook_attempts WHERE delivery_id = $1 ORDER BY attempt LIMIT $2',
      [row.delivery_id, ATTEMPT_HISTORY_MAX],
    );
    return {
      ...deliveryView(row),
      attemptHistory: attempts.rows.map((a) => ({ attempt: a.attempt, startedAt: a.started_at.toISOString(), durationMs: a.duration_ms, httpStatus: a.http_status, error: a.error })),
    };
  }

  /**
   * Tries a delivery again now: a failed one gets one more attempt, a pending one stops
   * waiting for its backoff. A delivered one is not sent again (receivers dedupe by event id anyway).
   */
  @Post(':id/deliveries/:deliveryId/retry')
  @HttpCode(202)
  async retry(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Param('deliveryId') deliveryId: string) {
    const scope = adminOrgScope(request);
    const row = await this.deliveryRow(id, deliveryId, scope);
    if (row.status === 'delivered') throw new ApiProblem('webhook_delivery_already_delivered', `delivery ${row.delivery_id} was delivered at ${row.delivered_at?.toISOString() ?? ''}`);
    const endpoint = await this.endpoint(id, scope);
    if (!endpoint.enabled) throw new ApiProblem('webhook_endpoint_disabled', `endpoint ${id} is disabled; enable it first`);
    const now = this.clock.now();
    const retried = await this.pool.query<DeliveryRow>(
      `UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $2
       WHERE delivery_id = $1 AND status IN ('pending', 'failed') AND (lease_expires_at IS NULL OR lease_expires_at <= $2)
       RETURNING ${DELIVERY_COLUMNS}`,
      [row.delivery_id, now],
    );
    // No row: an attempt is in flight right now, which is what was asked for.
    return deliveryView(retried.rows[0] ?? row);
  }

  /** The endpoint, when it exists and is within `scope` (an org, or null for every endpoint). */
  private async endpoint(id: string, scope: string | null): Promise<EndpointRow> {
    const result = await this.pool.query<EndpointRow>(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE endpoint_id = $1 AND deleted_at IS NULL AND ($2::text IS NULL OR org_id = $2)`,
      [id, scope],
    );
    const row = result.rows[0];
    if (row === undefined) throw endpointNotFound(id);
    return row;
  }

  private async deliveryRow(endpointId: string, deliveryId: string, scope: string | null): Promise<DeliveryRow> {
    await this.endpoint(endpointId, scope);
    const notFound = new ApiProblem('webhook_delivery_not_found', `delivery ${deliveryId.slice(0, 40)} of endpoint ${endpointId.slice(0, 80)} does not exist`);
    if (!/^\d{1,19}$/.test(deliveryId)) throw notFound;
    const result = await this.pool.query<DeliveryRow>(`SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries WHERE delivery_id = $1 AND endpoint_id = $2`, [deliveryId, endpointId]);
    const row = result.rows[0];
    if (row === undefined) throw notFound;
    return row;
  }

  /**
   * With private addresses denied, a URL that names one, or resolves to one now, is refused
   * at once rather than on every attempt; delivery checks the address it connects to again.
   */
  private async assertReachable(url: string): Promise<void> {
    if (this.config.fetchPrivateAddresses === 'allow') return;
    try {
      await assertResolvesPublic(url);
    } catch (error) {
      if (!(error instanceof DestinationNotAllowedError)) throw error;
      throw new ApiProblem('destination_not_allowed', `url: ${error.message}; webhooks go to public addresses only unless PAYBOUND_FETCH_PRIVATE_ADDRESSES=allow`, { field: 'url' });
    }
  }
}
