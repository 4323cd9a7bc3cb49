import { Inject, Injectable } from '@nestjs/common';
import pg from 'pg';
import type { Logger } from 'pino';
import type { AgentPrincipal } from '../http/access-keys.js';
import { LOGGER } from '../http/tokens.js';

// The first answer of a pay-and-fetch made under an Idempotency-Key, kept with its payment
// (migration 023), so that a retry is answered the same and never pays again. What is kept:
// the status, the content type, the body up to KEPT_BODY_BYTES_MAX (in clear, like the
// seller's answer the agent already has), whether the answer was Paybound's own problem, and
// the Paybound-Amount and Paybound-Remaining it carried. The seller's other headers are not.

/** The largest body kept for a retry; a larger answer is kept without it. */
export const KEPT_BODY_BYTES_MAX = 1024 * 1024;
/** How long an answer is kept for a retry. */
export const KEPT_ANSWER_RETENTION_HOURS = 24;
/** Answers older than the retention are deleted once every this many kept, at most PURGE_ROWS_MAX at a time. */
const PURGE_EVERY_KEPT = 1_000;
const PURGE_ROWS_MAX = 10_000;
const CONTENT_TYPE_CHARS_MAX = 256;

export interface KeptAnswer {
  requestHash: string;
  intentId: string;
  status: number;
  contentType: string | null;
  /** Null when the body was larger than KEPT_BODY_BYTES_MAX. */
  body: Buffer | null;
  bodyBytes: number;
  /** The code when the answer was Paybound's own problem; null for the seller's answer. */
  problemCode: string | null;
  amount: string | null;
  remaining: string | null;
}

interface AnswerRow {
  request_hash: string;
  intent_id: string;
  status: number;
  content_type: string | null;
  body: Buffer | null;
  body_bytes: string;
  problem_code: string | null;
  amount: string | null;
  remaining: string | null;
}

@Injectable()
export class FetchAnswers {
  private keptSincePurge = 0;

  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async find(agent: AgentPrincipal, idempotencyKey: string): Promise<KeptAnswer | undefined> {
    const { rows } = await this.pool.query<AnswerRow>(
      `SELECT request_hash, intent_id, status, content_type, body, body_bytes, problem_code, amount, remaining FROM fetch_answers
        WHERE org_id = $1 AND agent_id = $2 AND idempotency_key = $3 AND created_at > now() - make_interval(hours => $4)`,
      [agent.orgId, agent.agentId, idempotencyKey, KEPT_ANSWER_RETENTION_HOURS],
    );
    const row = rows[0];
    if (row === undefined) return undefined;
    return {
      requestHash: row.request_hash,
      intentId: row.intent_id,
      status: row.status,
      contentType: row.content_type,
      body: row.body,
      bodyBytes: Number(row.body_bytes),
      problemCode: row.problem_code,
      amount: row.amount,
      remaining: row.remaining,
    };
  }

  /**
   * Keeps the first answer to the key; a second one for the same key is ignored. Never
   * throws: the agent has its answer either way, and a retry that finds nothing here is
   * answered from the payment (409 payment_already_used), never paid again.
   */
  async keep(agent: AgentPrincipal, idempotencyKey: string, answer: KeptAnswer): Promise<void> {
    const body = answer.body !== null && answer.body.byteLength <= KEPT_BODY_BYTES_MAX ? answer.body : null;
    const contentType = answer.contentType !== null && answer.contentType.length <= CONTENT_TYPE_CHARS_MAX ? answer.contentType : null;
    try {
      await this.pool.query(
        `INSERT INTO fetch_answers (org_id, agent_id, idempotency_key, request_hash, intent_id, status, content_type, body, body_bytes, problem_code, amount, remaining)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (org_id, agent_id, idempotency_key) DO NOTHING`,
        [agent.orgId, agent.agentId, idempotencyKey, answer.requestHash, answer.intentId, answer.status, contentType, body, answer.bodyBytes, answer.problemCode, answer.amount, answer.remaining],
      );
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message }, intentId: answer.intentId }, 'could not keep the answer of a paid fetch for its retries');
      return;
    }
    this.keptSincePurge += 1;
    if (this.keptSincePurge >= PURGE_EVERY_KEPT) {
      this.keptSincePurge = 0;
      void this.purge();
    }
  }

  /** Deletes answers past their retention, a bounded batch at a time; answers the rows deleted. */
  async purge(): Promise<number> {
    try {
      const result = await this.pool.query(
        `DELETE FROM fetch_answers WHERE ctid IN (SELECT ctid FROM fetch_answers WHERE created_at <= now() - make_interval(hours => $1) LIMIT $2)`,
        [KEPT_ANSWER_RETENTION_HOURS, PURGE_ROWS_MAX],
      );
      return result.rowCount ?? 0;
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'could not delete old answers of paid fetches');
      return 0;
    }
  }
}
