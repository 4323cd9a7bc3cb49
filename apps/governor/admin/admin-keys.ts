import { randomBytes } from 'node:crypto';
import { Body, Controller, Delete, Get, HttpCode, Inject, Param, Post, Req } from '@nestjs/common';
import pg from 'pg';
import { z } from 'zod';
import { ADMIN_SCOPES, adminKeyShapeFault, adminKeyStreamId, type AdminKeyChanged, type AdminScope } from '../../../libs/domain/admin/admin-keys.js';
import { EventStore } from '../../../libs/eventstore/event-store.js';
import { orgStreamId } from '../../../libs/ledger/org-command-processor.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { hashKey } from '../../../libs/platform/secrets.js';
import { ADMIN_KEY_PREFIX } from '../http/access-keys.js';
import { adminActorOf, Audience, Reach, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import { parseBody } from '../http/input.js';
import { KeyRevocations } from '../http/key-revocations.js';

/** Keys listed in one answer at most; far more than a team of admins has. */
const ADMIN_KEYS_LIST_MAX = 1_000;

const nameField = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a lower-case name such as alice or finance-bot');
const mintBody = z
  .object({
    name: nameField,
    scope: z.enum(ADMIN_SCOPES),
    orgId: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'ids are 1 to 64 letters, digits, "_" or "-"').nullable().default(null),
  })
  .strict();

interface AdminKeyRow {
  name: string;
  scope: AdminScope;
  org_id: string | null;
  created_at: Date;
  created_by: string | null;
  revoked_at: Date | null;
  revoked_by: string | null;
}

function adminKeyView(row: AdminKeyRow) {
  return {
    name: row.name,
    scope: row.scope,
    orgId: row.org_id,
    createdAt: row.created_at.toISOString(),
    createdBy: row.created_by,
    revokedAt: row.revoked_at?.toISOString() ?? null,
    revokedBy: row.revoked_by,
  };
}

/**
 * Named admin keys: each admin acts under their own name in the audit trail, within a
 * scope (libs/domain/admin/admin-keys.ts). Only root keys mint, list and revoke them; each
 * mint and revocation is an AdminKeyChanged event, in the same transaction as the key.
 */
@Controller('admin/v1/admin-keys')
@Audience('admin')
@Reach('root')
export class AdminKeysController {
  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(EventStore) private readonly store: EventStore,
    @Inject(KeyRevocations) private readonly revocations: KeyRevocations,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /** Mints a key; the answer carries it this once, and only its hash is stored. */
  @Post()
  @HttpCode(201)
  async mint(@Req() request: AuthenticatedRequest, @Body() raw: unknown) {
    const { name, scope, orgId } = parseBody(mintBody, raw);
    // The admin token's own name: a key called root would be indistinguishable in the audit.
    if (name === 'root') throw new ApiProblem('admin_key_already_exists', 'root is the name PAYBOUND_ADMIN_TOKEN acts under; choose another name', { field: 'name' });
    const fault = adminKeyShapeFault(scope, orgId);
    if (fault !== undefined) throw new ApiProblem('invalid_request', `orgId: ${fault}`, { field: 'orgId' });
    const actor = adminActorOf(request);
    const apiKey = `${ADMIN_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row = await this.store.transaction(async (client) => {
      if (orgId !== null) {
        const org = await client.query('SELECT 1 FROM streams WHERE stream_id = $1', [orgStreamId(orgId)]);
        if (org.rowCount === 0) throw new ApiProblem('org_not_found', `org ${orgId} does not exist`, { field: 'orgId' });
      }
      const inserted = await client.query<AdminKeyRow>(
        `INSERT INTO admin_keys (key_hash, name, scope, org_id, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (name) DO NOTHING RETURNING name, scope, org_id, created_at, created_by, revoked_at, revoked_by`,
        [hashKey(apiKey), name, scope, orgId, actor, this.clock.now()],
      );
      const created = inserted.rows[0];
      if (created === undefined) throw new ApiProblem('admin_key_already_exists', `an admin key named ${name} exists or existed; choose another name`, { field: 'name' });
      await this.record(client, actor, { name, scope, orgId, change: 'issued' });
      return created;
    });
    return { ...adminKeyView(row), apiKey };
  }

  /** Every admin key, revoked ones too (with when and by whom), never the keys themselves. */
  @Get()
  async list() {
    const result = await this.pool.query<AdminKeyRow>(
      'SELECT name, scope, org_id, created_at, created_by, revoked_at, revoked_by FROM admin_keys ORDER BY created_at, name LIMIT $1',
      [ADMIN_KEYS_LIST_MAX],
    );
    return { items: result.rows.map(adminKeyView) };
  }

  /** Revokes a key: its next request is refused and the event streams it holds open end now. */
  @Delete(':name')
  @HttpCode(200)
  async revoke(@Req() request: AuthenticatedRequest, @Param('name') name: string) {
    const actor = adminActorOf(request);
    const row = await this.store.transaction(async (client) => {
      const revoked = await client.query<AdminKeyRow>(
        `UPDATE admin_keys SET revoked_at = $2, revoked_by = $3 WHERE name = $1 AND revoked_at IS NULL
         RETURNING name, scope, org_id, created_at, created_by, revoked_at, revoked_by`,
        [name, this.clock.now(), actor],
      );
      const found = revoked.rows[0];
      if (found === undefined) throw new ApiProblem('admin_key_not_found', `no admin key named ${name.slice(0, 64)}, or it is already revoked`);
      await this.record(client, actor, { name, scope: found.scope, orgId: found.org_id, change: 'revoked' });
      return found;
    });
    this.revocations.revoked({ kind: 'admin', name });
    return adminKeyView(row);
  }

  private async record(client: pg.PoolClient, actor: string, data: AdminKeyChanged['data']): Promise<void> {
    const streamId = adminKeyStreamId(data.name);
    const event: AdminKeyChanged = { type: 'AdminKeyChanged', data };
    await this.store.append(client, streamId, await this.store.streamVersion(client, streamId), [
      // A key bound to an org is that org's business (its audit, its Kafka key); others belong to no org.
      { type: event.type, data: event.data, metadata: { actor, correlationId: streamId, orgId: data.orgId ?? '' }, occurredAt: this.clock.now().toISOString() },
    ]);
  }
}
