import type { PoolClient } from 'pg';
import type { Frozen, ShadowRefusal, Unfrozen } from '../domain/budget/events.js';

// The console's read models (migration 061), applied by the balance projection in the same
// transaction and order as its own rows, so they are rebuilt with it. Spend is counted per
// hour and per day on the org, the team, the agent and the resource, from the payment's row.

export const CONSOLE_READ_MODEL_TABLES = ['frozen_levels', 'shadow_refusals_view', 'spend_series', 'refusal_series'] as const;

export interface SpendDelta {
  spentMicros?: bigint;
  reservedMicros?: bigint;
  refundedMicros?: bigint;
  payments?: number;
  refused?: number;
}

/**
 * Adds a payment's movement to its buckets at `at`, on every level it belongs to. Reads the
 * payment's org, agent, team and resource from payments_view, which the caller has written.
 */
export async function addSpend(client: PoolClient, intentId: string, at: string, delta: SpendDelta): Promise<void> {
  await client.query(
    `INSERT INTO spend_series (org_id, level, level_id, bucket, bucket_start, spent_micros, reserved_micros, refunded_micros, payments, refused)
     SELECT p.org_id, l.level, l.level_id, b.bucket, date_trunc(b.bucket, $2::timestamptz, 'UTC'), $3, $4, $5, $6, $7
     FROM payments_view p LEFT JOIN sessions_view s ON s.session_id = p.session_id
     CROSS JOIN LATERAL (VALUES ('org', p.org_id), ('team', s.team_id), ('agent', p.agent_id), ('resource', split_part(p.resource, '?', 1))) AS l(level, level_id)
     CROSS JOIN (VALUES ('hour'), ('day')) AS b(bucket)
     WHERE p.intent_id = $1 AND l.level_id IS NOT NULL AND l.level_id <> ''
     ON CONFLICT (org_id, level, level_id, bucket, bucket_start) DO UPDATE SET
       spent_micros = spend_series.spent_micros + EXCLUDED.spent_micros,
       reserved_micros = spend_series.reserved_micros + EXCLUDED.reserved_micros,
       refunded_micros = spend_series.refunded_micros + EXCLUDED.refunded_micros,
       payments = spend_series.payments + EXCLUDED.payments,
       refused = spend_series.refused + EXCLUDED.refused`,
    [
      intentId,
      at,
      (delta.spentMicros ?? 0n).toString(),
      (delta.reservedMicros ?? 0n).toString(),
      (delta.refundedMicros ?? 0n).toString(),
      delta.payments ?? 0,
      delta.refused ?? 0,
    ],
  );
}

/** A refused payment: counted in its spend buckets and in the org's refusals by code. */
export async function addRefusal(client: PoolClient, orgId: string, intentId: string, code: string, at: string): Promise<void> {
  await addSpend(client, intentId, at, { refused: 1 });
  await client.query(
    `INSERT INTO refusal_series (org_id, bucket, bucket_start, code, refused)
     SELECT $1, b.bucket, date_trunc(b.bucket, $3::timestamptz, 'UTC'), $2, 1 FROM (VALUES ('hour'), ('day')) AS b(bucket)
     ON CONFLICT (org_id, bucket, bucket_start, code) DO UPDATE SET refused = refusal_series.refused + 1`,
    [orgId, code, at],
  );
}

export async function applyFreeze(client: PoolClient, event: Frozen | Unfrozen, actor: string, at: string): Promise<void> {
  const { orgId, level, levelId, reason } = event.data;
  if (event.type === 'Unfrozen') {
    await client.query('DELETE FROM frozen_levels WHERE org_id = $1 AND level = $2 AND level_id = $3', [orgId, level, levelId]);
    return;
  }
  await client.query(
    `INSERT INTO frozen_levels (org_id, level, level_id, reason, frozen_by, frozen_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (org_id, level, level_id) DO NOTHING`,
    [orgId, level, levelId, reason, actor, at],
  );
}

export async function applyShadowRefusal(client: PoolClient, event: ShadowRefusal, at: string): Promise<void> {
  const d = event.data;
  await client.query(
    `INSERT INTO shadow_refusals_view (intent_id, level, level_id, org_id, code, policy_version, requested_micros, occurred_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (intent_id, level) DO NOTHING`,
    [d.intentId, d.level, d.levelId, d.orgId, d.code, d.policyVersion, d.requestedMicros.toString(), at],
  );
}
