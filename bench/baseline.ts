import type pg from 'pg';
import type { DecideIntent, Outcome } from './load.js';
import { agentIdOf, orgIdOf, sessionIdOf, targetOf, type Workload } from './workload.js';

// The "obvious design" Paybound is compared with: one row per budget with limit, reserved
// and spent columns, and one transaction per payment that locks every row it draws on.
// It lives only here, for the benchmark. It is given its best plain form: the rows are
// locked in one statement in a fixed order (session, agent, org, so no deadlocks) and all
// writes go in one statement, i.e. BEGIN, SELECT … FOR UPDATE, write, COMMIT.

const SCHEMA = `
CREATE TABLE baseline_orgs (
  org_id          text PRIMARY KEY,
  limit_micros    bigint NOT NULL,
  reserved_micros bigint NOT NULL DEFAULT 0,
  spent_micros    bigint NOT NULL DEFAULT 0
);
CREATE TABLE baseline_agents (
  agent_id        text PRIMARY KEY,
  org_id          text NOT NULL REFERENCES baseline_orgs,
  limit_micros    bigint NOT NULL,
  reserved_micros bigint NOT NULL DEFAULT 0,
  spent_micros    bigint NOT NULL DEFAULT 0
);
CREATE TABLE baseline_sessions (
  session_id      text PRIMARY KEY,
  agent_id        text NOT NULL REFERENCES baseline_agents,
  org_id          text NOT NULL REFERENCES baseline_orgs,
  limit_micros    bigint NOT NULL,
  reserved_micros bigint NOT NULL DEFAULT 0,
  spent_micros    bigint NOT NULL DEFAULT 0
);
CREATE TABLE baseline_events (
  event_id      bigserial PRIMARY KEY,
  intent_id     text NOT NULL UNIQUE,
  session_id    text NOT NULL,
  kind          text NOT NULL CHECK (kind IN ('reserved', 'refused')),
  refused_level text,
  amount_micros bigint NOT NULL,
  occurred_at   timestamptz NOT NULL DEFAULT now()
);`;

const LOCK_HIERARCHY = `
SELECT s.limit_micros AS session_limit, s.reserved_micros + s.spent_micros AS session_used,
       a.limit_micros AS agent_limit,   a.reserved_micros + a.spent_micros AS agent_used,
       o.limit_micros AS org_limit,     o.reserved_micros + o.spent_micros AS org_used
FROM baseline_sessions s
JOIN baseline_agents a ON a.agent_id = s.agent_id
JOIN baseline_orgs o ON o.org_id = s.org_id
WHERE s.session_id = $1
FOR UPDATE OF s, a, o`;

const RESERVE = `
WITH s AS (UPDATE baseline_sessions SET reserved_micros = reserved_micros + $2 WHERE session_id = $1),
     a AS (UPDATE baseline_agents SET reserved_micros = reserved_micros + $2 WHERE agent_id = $3),
     o AS (UPDATE baseline_orgs SET reserved_micros = reserved_micros + $2 WHERE org_id = $4)
INSERT INTO baseline_events (intent_id, session_id, kind, amount_micros) VALUES ($5, $1, 'reserved', $2)`;

const REFUSE = `INSERT INTO baseline_events (intent_id, session_id, kind, refused_level, amount_micros) VALUES ($1, $2, 'refused', $3, $4)`;

interface LockedHierarchy {
  session_limit: string;
  session_used: string;
  agent_limit: string;
  agent_used: string;
  org_limit: string;
  org_used: string;
}

// Deadlocks and serialization failures cannot happen with this lock order under READ
// COMMITTED, but if one did, the payment is retried a bounded number of times.
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);
const MAX_ATTEMPTS = 5;

export async function setUpBaseline(pool: pg.Pool, workload: Workload): Promise<void> {
  await pool.query(SCHEMA);
  const orgIds: string[] = [];
  const agentIds: string[] = [];
  const agentOrgIds: string[] = [];
  const sessionIds: string[] = [];
  for (let orgIndex = 0; orgIndex < workload.orgCount; orgIndex += 1) {
    orgIds.push(orgIdOf(orgIndex));
    for (let agentIndex = 0; agentIndex < workload.agentsPerOrg; agentIndex += 1) {
      agentIds.push(agentIdOf(orgIndex, agentIndex));
      agentOrgIds.push(orgIdOf(orgIndex));
      sessionIds.push(sessionIdOf(orgIndex, agentIndex));
    }
  }
  await pool.query('INSERT INTO baseline_orgs (org_id, limit_micros) SELECT unnest($1::text[]), $2', [orgIds, workload.orgLimitMicros.toString()]);
  await pool.query('INSERT INTO baseline_agents (agent_id, org_id, limit_micros) SELECT unnest($1::text[]), unnest($2::text[]), $3', [
    agentIds,
    agentOrgIds,
    workload.agentLimitMicros.toString(),
  ]);
  await pool.query('INSERT INTO baseline_sessions (session_id, agent_id, org_id, limit_micros) SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), $4', [
    sessionIds,
    agentIds,
    agentOrgIds,
    workload.sessionLimitMicros.toString(),
  ]);
  await pool.query('ANALYZE');
}

export function baselineDecider(pool: pg.Pool, workload: Workload, runTag: string): DecideIntent {
  return async (intentIndex) => {
    const target = targetOf(workload, intentIndex);
    const intentId = `${runTag}-${intentIndex}`;
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      try {
        return await reserveOnce(pool, target.sessionId, target.agentId, target.orgId, intentId, workload.amountMicros);
      } catch (error) {
        const sqlState = (error as { code?: string }).code;
        if (sqlState === undefined || !RETRYABLE_SQLSTATES.has(sqlState)) throw error;
        lastError = error;
      }
    }
    throw lastError;
  };
}

async function reserveOnce(pool: pg.Pool, sessionId: string, agentId: string, orgId: string, intentId: string, amountMicros: bigint): Promise<Outcome> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const locked = (await client.query<LockedHierarchy>(LOCK_HIERARCHY, [sessionId])).rows[0];
    if (locked === undefined) throw new Error(`session ${sessionId} not found`);
    const levels: [string, string, string][] = [
      ['session', locked.session_limit, locked.session_used],
      ['agent', locked.agent_limit, locked.agent_used],
      ['org', locked.org_limit, locked.org_used],
    ];
    const refusedLevel = levels.find(([, limitMicros, usedMicros]) => BigInt(usedMicros) + amountMicros > BigInt(limitMicros))?.[0];
    if (refusedLevel === undefined) {
      await client.query(RESERVE, [sessionId, amountMicros.toString(), agentId, orgId, intentId]);
    } else {
      await client.query(REFUSE, [intentId, sessionId, refusedLevel, amountMicros.toString()]);
    }
    await client.query('COMMIT');
    return refusedLevel === undefined ? 'accepted' : 'refused';
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

export interface BaselineAudit {
  violations: string[];
  reservedCount: number;
  refusedCount: number;
}

/**
 * Checks the baseline's rows after a run: no budget above its limit, and every row's
 * reserved amount equal to the sum of the reservations recorded under it.
 */
export async function auditBaseline(pool: pg.Pool): Promise<BaselineAudit> {
  const violations: string[] = [];
  for (const table of ['baseline_orgs', 'baseline_agents', 'baseline_sessions']) {
    const over = await pool.query<{ count: string }>(`SELECT count(*) FROM ${table} WHERE reserved_micros + spent_micros > limit_micros`);
    const overCount = Number(over.rows[0]?.count ?? 'NaN');
    if (overCount !== 0) violations.push(`${table}: ${overCount} rows with reserved + spent > limit`);
  }
  const drift = await pool.query<{ count: string }>(`
    SELECT count(*) FROM baseline_orgs o
    WHERE o.reserved_micros <> (SELECT coalesce(sum(e.amount_micros), 0) FROM baseline_events e
                                JOIN baseline_sessions s USING (session_id)
                                WHERE s.org_id = o.org_id AND e.kind = 'reserved')`);
  const driftCount = Number(drift.rows[0]?.count ?? 'NaN');
  if (driftCount !== 0) violations.push(`baseline_orgs: ${driftCount} orgs whose reserved amount differs from their recorded reservations`);
  const kinds = await pool.query<{ kind: string; count: string }>('SELECT kind, count(*) FROM baseline_events GROUP BY kind');
  const countOf = (kind: string): number => Number(kinds.rows.find((row) => row.kind === kind)?.count ?? 0);
  return { violations, reservedCount: countOf('reserved'), refusedCount: countOf('refused') };
}
