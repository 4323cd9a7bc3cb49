// Who may open one more event stream. A governor serves a bounded number of streams; without
// finer caps one agent could take every slot and lock out every other org and the admins'
// dashboard. So: a cap per key, a cap per org for its agents together, and slots that only
// admin keys may take. Pure: the controller counts the open streams and asks.

export interface StreamHolderKey {
  kind: 'agent' | 'admin';
  /** The agent's org; for an admin key, the org it is bound to or null. */
  orgId: string | null;
  /** Agent id, or admin key name. */
  principal: string;
}

export interface StreamSlotLimits {
  /** Every stream of this process. */
  total: number;
  /** Kept for admin keys: agents together hold at most total - adminReserved. */
  adminReserved: number;
  /** One key (one agent, or one admin key). */
  perPrincipal: number;
  /** The agents of one org together. */
  perOrg: number;
}

export const STREAM_SLOT_LIMITS: StreamSlotLimits = { total: 32, adminReserved: 8, perPrincipal: 4, perOrg: 12 };

/** Why the holder may not open another stream, or undefined when it may. */
export function streamSlotRefusal(open: readonly StreamHolderKey[], holder: StreamHolderKey, limits: StreamSlotLimits = STREAM_SLOT_LIMITS): string | undefined {
  if (open.length >= limits.total) return `at most ${limits.total} streams may be open at once on this governor`;
  const same = (h: StreamHolderKey) => h.kind === holder.kind && h.orgId === holder.orgId && h.principal === holder.principal;
  if (open.filter(same).length >= limits.perPrincipal) return `at most ${limits.perPrincipal} streams may be open per key; close one of this key's streams`;
  if (holder.kind === 'admin') return undefined;
  const agents = open.filter((h) => h.kind === 'agent');
  if (agents.length >= limits.total - limits.adminReserved) return `the remaining ${limits.adminReserved} stream slots are kept for admins`;
  if (agents.filter((h) => h.orgId === holder.orgId).length >= limits.perOrg) return `at most ${limits.perOrg} streams may be open per org for its agents`;
  return undefined;
}
