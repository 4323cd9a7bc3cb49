import { Controller, Get, Inject, Query, Req } from '@nestjs/common';
import pg from 'pg';
import { z } from 'zod';
import { verifyAuditChain } from '../../../libs/eventstore/audit-chain.js';
import { encodeJson } from '../../../libs/eventstore/json-codec.js';
import { adminOrgScope, Audience, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { adminFor } from './admin-scope.js';
import { parseQuery } from '../http/input.js';

const auditQuery = z
  .object({
    orgId: z.string().max(64).optional(),
    agentId: z.string().max(64).optional(),
    type: z.string().regex(/^[A-Za-z]{1,40}(,[A-Za-z]{1,40}){0,20}$/).optional(),
    actor: z.string().max(80).optional(),
    from: z.string().datetime().optional(),
    to: z.string().datetime().optional(),
    after: z.string().regex(/^\d{1,19}$/, 'must be the `next` cursor of a previous page').optional(),
    limit: z.coerce.number().int().min(1).max(500).default(100),
  })
  .strict();

const verifyQuery = z.object({ streamId: z.string().min(1).max(200).optional() }).strict();

/** Every event, who caused it and when: the audit trail, filtered and paged by position. */
@Controller('admin/v1/audit')
@Audience('admin')
@Reach('narrowed_by_handler')
export class AuditController {
  constructor(@Inject(pg.Pool) private readonly pool: pg.Pool) {}

  /**
   * Recomputes the hash chains (every stream, or one) and names the first broken link: the
   * stream, version and event, with the hash expected and the one found.
   */
  @Get('verify')
  async verify(@Req() request: AuthenticatedRequest, @Query() raw: unknown) {
    adminFor(request, null, 'read');
    const { streamId } = parseQuery(verifyQuery, raw);
    return verifyAuditChain(this.pool, streamId ?? null);
  }

  @Get()
  async list(@Req() request: AuthenticatedRequest, @Query() raw: unknown) {
    const q = parseQuery(auditQuery, raw);
    // A key bound to an org reads that org's events only.
    const orgId = adminOrgScope(request, q.orgId);
    const result = await this.pool.query<{ global_position: string; event_id: string; type: string; stream_id: string; data: unknown; metadata: { actor: string; orgId: string; correlationId: string }; occurred_at: Date; hash: string }>(
      `SELECT global_position, event_id, type, stream_id, data, metadata, occurred_at, encode(hash, 'hex') AS hash FROM events
       WHERE ($1::bigint IS NULL OR global_position > $1)
         AND ($2::text IS NULL OR metadata->>'orgId' = $2)
         AND ($3::text IS NULL OR data->>'agentId' = $3 OR metadata->>'actor' = 'agent:' || $3)
         AND ($4::text[] IS NULL OR type = ANY($4))
         AND ($5::text IS NULL OR metadata->>'actor' = $5)
         AND ($6::timestamptz IS NULL OR occurred_at >= $6)
         AND ($7::timestamptz IS NULL OR occurred_at < $7)
       ORDER BY global_position LIMIT $8`,
      [q.after ?? null, orgId, q.agentId ?? null, q.type?.split(',') ?? null, q.actor ?? null, q.from ?? null, q.to ?? null, q.limit + 1],
    );
    const rows = result.rows.slice(0, q.limit);
    return {
      items: rows.map((row) => ({
        id: row.event_id,
        position: row.global_position,
        type: row.type,
        orgId: row.metadata.orgId,
        actor: row.metadata.actor,
        correlationId: row.metadata.correlationId,
        occurredAt: row.occurred_at.toISOString(),
        hash: row.hash,
        data: JSON.parse(encodeJson(row.data)) as unknown,
      })),
      next: result.rows.length > q.limit ? (rows.at(-1)?.global_position ?? null) : null,
    };
  }
}
