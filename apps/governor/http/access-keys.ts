import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import pg from 'pg';
import type { AdminPrincipal, AdminScope } from '../../../libs/domain/admin/admin-keys.js';
import { Coalescer } from '../../../libs/platform/concurrency.js';
import { hashKey } from '../../../libs/platform/secrets.js';
import { KeyRevocations } from './key-revocations.js';

export interface AgentPrincipal {
  agentId: string;
  orgId: string;
}

const AGENT_KEY_PREFIX = 'pb_agent_';
export const ADMIN_KEY_PREFIX = 'pb_admin_';
/** Agent keys looked up in one statement at most. */
const KEY_LOOKUP_BATCH_MAX = 500;

@Injectable()
export class AccessKeys {
  /** Every request looks its key up: the lookups of one event-loop turn share one query. */
  private readonly agentLookups: Coalescer<Buffer, AgentPrincipal | undefined>;

  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Optional() @Inject(KeyRevocations) private readonly revocations: KeyRevocations = new KeyRevocations(),
  ) {
    this.agentLookups = new Coalescer((hashes) => this.agentsForHashes(hashes), KEY_LOOKUP_BATCH_MAX);
  }

  /** Issues a new agent key; only its hash is stored, so it can be shown once. */
  async issueAgentKey(agentId: string, orgId: string): Promise<string> {
    const key = `${AGENT_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    await this.pool.query('INSERT INTO agent_keys (key_hash, agent_id, org_id) VALUES ($1, $2, $3)', [hashKey(key), agentId, orgId]);
    return key;
  }

  /** The agent a key belongs to; revocation takes effect on the next request (no cache). */
  async agentForKey(key: string): Promise<AgentPrincipal | undefined> {
    if (!key.startsWith(AGENT_KEY_PREFIX) || key.length > 128) return undefined;
    return this.agentLookups.submit(hashKey(key));
  }

  private async agentsForHashes(hashes: Buffer[]): Promise<(AgentPrincipal | undefined)[]> {
    const result = await this.pool.query<{ key_hash: Buffer; agent_id: string; org_id: string }>(
      'SELECT key_hash, agent_id, org_id FROM agent_keys WHERE key_hash = ANY($1::bytea[]) AND revoked_at IS NULL',
      [hashes],
    );
    const byHash = new Map(result.rows.map((row) => [row.key_hash.toString('hex'), { agentId: row.agent_id, orgId: row.org_id }]));
    return hashes.map((hash) => byHash.get(hash.toString('hex')));
  }

  /** The admin a key names, with its scope, or undefined. Agent keys never match: the prefixes differ and so do the tables. */
  async adminForKey(key: string): Promise<AdminPrincipal | undefined> {
    if (!key.startsWith(ADMIN_KEY_PREFIX) || key.length > 128) return undefined;
    const result = await this.pool.query<{ name: string; scope: AdminScope; org_id: string | null }>(
      'SELECT name, scope, org_id FROM admin_keys WHERE key_hash = $1 AND revoked_at IS NULL',
      [hashKey(key)],
    );
    const row = result.rows[0];
    return row === undefined ? undefined : { name: row.name, scope: row.scope, orgId: row.org_id };
  }

  /**
   * Whether a key that authenticated a long-lived request (an event stream) still works. The
   * admin token from the environment cannot be revoked while the process runs.
   */
  async keyStillValid(kind: 'agent' | 'admin', key: string): Promise<boolean> {
    if (kind === 'agent') return (await this.agentForKey(key)) !== undefined;
    if (!key.startsWith(ADMIN_KEY_PREFIX)) return true;
    return (await this.adminForKey(key)) !== undefined;
  }

  /** Revokes every key of one agent of one org: agent ids are unique within their org only. */
  async revokeAgentKeys(orgId: string, agentId: string): Promise<number> {
    const result = await this.pool.query('UPDATE agent_keys SET revoked_at = now() WHERE org_id = $1 AND agent_id = $2 AND revoked_at IS NULL', [orgId, agentId]);
    this.revocations.revoked({ kind: 'agent', orgId, agentId });
    return result.rowCount ?? 0;
  }
}
