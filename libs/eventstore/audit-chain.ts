import type { Pool, PoolClient } from 'pg';

// Tamper evidence (migration 060): each event's `hash` is sha256 over its stream's previous
// hash and its own content, computed by the database as it is appended. Verifying recomputes
// every chain and names the first link that does not hold.

export interface BrokenLink {
  streamId: string;
  streamVersion: number;
  eventId: string;
  globalPosition: string;
  /** The hash the event's content and its predecessor's stored hash give. */
  expected: string;
  /** The hash stored with the event. */
  found: string;
  /** `hash_mismatch`: content or hash altered; `missing_previous_event`: an event before it was removed. */
  problem: 'hash_mismatch' | 'missing_previous_event';
}

export interface ChainVerdict {
  ok: boolean;
  /** Events checked. */
  checked: number;
  firstBroken: BrokenLink | null;
}

interface VerifyRow {
  checked: string;
  stream_id: string | null;
  stream_version: string | null;
  event_id: string | null;
  global_position: string | null;
  expected: string | null;
  found: string | null;
  problem: BrokenLink['problem'] | null;
}

/** Recomputes the hash chains of every stream, or of one, in one statement. */
export async function verifyAuditChain(db: Pool | PoolClient, streamId: string | null = null): Promise<ChainVerdict> {
  const result = await db.query<VerifyRow>('SELECT * FROM paybound_verify_chain($1)', [streamId]);
  const row = result.rows[0];
  const checked = Number(row?.checked ?? 0);
  if (row?.stream_id == null) return { ok: true, checked, firstBroken: null };
  return {
    ok: false,
    checked,
    firstBroken: {
      streamId: row.stream_id,
      streamVersion: Number(row.stream_version),
      eventId: row.event_id ?? '',
      globalPosition: row.global_position ?? '',
      expected: row.expected ?? '',
      found: row.found ?? '',
      problem: row.problem ?? 'hash_mismatch',
    },
  };
}

/** The stored hashes of events, by id, hex-encoded: what a receipt cites. */
export async function eventHashes(db: Pool | PoolClient, eventIds: readonly string[]): Promise<Map<string, string>> {
  const result = await db.query<{ event_id: string; hash: string }>(`SELECT event_id, encode(hash, 'hex') AS hash FROM events WHERE event_id = ANY($1::uuid[])`, [eventIds]);
  return new Map(result.rows.map((row) => [row.event_id, row.hash]));
}
