import type pg from 'pg';
import { EventStore } from '../../libs/eventstore/event-store.js';
import { BalanceProjection } from '../../libs/ledger/balance-projection.js';

// What a refused request must leave as it was: the event log and every table a request can
// write (read models, keys, webhook endpoints). One query, so it is cheap enough to take
// before and after every case of a fuzz run.

const TABLES: { table: string; order: string }[] = [
  { table: 'sessions_view', order: 'session_id' },
  { table: 'payments_view', order: 'intent_id' },
  { table: 'budget_balances', order: 'org_id, level, level_id' },
  { table: 'agent_keys', order: 'key_hash' },
  { table: 'admin_keys', order: 'key_hash' },
  { table: 'webhook_endpoints', order: 'endpoint_id' },
  { table: 'payment_signatures', order: 'intent_id' },
];

const FINGERPRINT_SQL = `SELECT (SELECT count(*) || ':' || coalesce(max(global_position), 0) FROM events) AS events, ${TABLES.map(
  ({ table, order }) => `(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY ${order}), '')) FROM ${table} t) AS ${table}`,
).join(', ')}`;

export type StateFingerprint = Record<string, string>;

/**
 * The fingerprint once the read models have applied every committed event: the governor's
 * background loop applies them on its own schedule, which must not look like a change.
 */
export async function stateFingerprint(pool: pg.Pool): Promise<StateFingerprint> {
  await new BalanceProjection(new EventStore(pool)).catchUpAll();
  const result = await pool.query<StateFingerprint>(FINGERPRINT_SQL);
  return result.rows[0]!;
}

/** The names of what differs between two fingerprints (empty: nothing changed). */
export function changedState(before: StateFingerprint, after: StateFingerprint): string[] {
  return Object.keys(before).filter((name) => before[name] !== after[name]);
}
