import { performance } from 'node:perf_hooks';
import { newTraceparent } from './paid-spans.js';

// A closed loop of paid requests: `connections` callers, each sending its next request as
// soon as its previous one is answered, for a fixed time. Every answer is checked by the
// caller's own function; only answers that pass count as payments.

/**
 * `late`: not answered in time or at all, which overload may cause and which pays nothing
 * or leaves the outcome to the chain (a signature wait that ran out, a seller or client
 * timeout, a connection lost); `unexpected`: a wrong answer.
 */
export type Answer = { kind: 'ok' } | { kind: 'refused'; code: string } | { kind: 'late'; what: string } | { kind: 'unexpected'; what: string };

/** One paid request, with the trace it must carry; `index` is unique within a run. */
export type PaidRequest = (index: number, trace: { traceId: string; traceparent: string }) => Promise<Answer>;

export interface LoopResult {
  connections: number;
  /** From the first request sent to the last answer received (the run drains its requests in flight). */
  elapsedMs: number;
  ok: number;
  refused: Record<string, number>;
  late: Record<string, number>;
  unexpected: Record<string, number>;
  /** Latencies of the answers that passed, in ms. */
  okLatenciesMs: number[];
  /** Trace ids of the sampled requests that passed, with their latency seen by the caller. */
  traced: { traceId: string; latencyMs: number }[];
}

/** Distinct late or unexpected answers listed at most; the rest count as 'other'. */
const KINDS_MAX = 20;

/**
 * Runs the loop for `durationMs` (no new request after that) and waits for the requests in
 * flight. One request in `traceEvery` carries a sampled traceparent, the rest (all, with null)
 * an unsampled one.
 */
export async function runPaidLoop(request: PaidRequest, connections: number, durationMs: number, traceEvery: number | null): Promise<LoopResult> {
  const result: LoopResult = { connections, elapsedMs: 0, ok: 0, refused: {}, late: {}, unexpected: {}, okLatenciesMs: [], traced: [] };
  let next = 0;
  const startedAtMs = performance.now();
  const deadlineMs = startedAtMs + durationMs;
  const caller = async (): Promise<void> => {
    while (performance.now() < deadlineMs) {
      const index = next++;
      const sampled = traceEvery !== null && index % traceEvery === 0;
      const trace = newTraceparent(sampled);
      const sentAtMs = performance.now();
      let answer: Answer;
      try {
        answer = await request(index, trace);
      } catch (error) {
        answer = answerToError(error);
      }
      const latencyMs = performance.now() - sentAtMs;
      if (answer.kind === 'ok') {
        result.ok += 1;
        result.okLatenciesMs.push(latencyMs);
        if (sampled) result.traced.push({ traceId: trace.traceId, latencyMs });
      } else if (answer.kind === 'refused') {
        result.refused[answer.code] = (result.refused[answer.code] ?? 0) + 1;
      } else {
        const counts = answer.kind === 'late' ? result.late : result.unexpected;
        const key = answer.what in counts || Object.keys(counts).length < KINDS_MAX ? answer.what : 'other';
        counts[key] = (counts[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, caller));
  result.elapsedMs = performance.now() - startedAtMs;
  return result;
}

export function countOf(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0);
}

/**
 * A request that threw, without an answer: the client's own timeout, or a connection the
 * server closed or reset (an overloaded server's keep-alive timeout races the client's next
 * request on that connection). Both are late; anything else is unexpected.
 */
export function answerToError(error: unknown): Answer {
  const name = (error as { name?: unknown }).name;
  if (name === 'TimeoutError' || name === 'AbortError') return { kind: 'late', what: 'client timeout' };
  const cause = (error as { cause?: { code?: unknown } }).cause;
  const code = typeof cause?.code === 'string' ? cause.code : undefined;
  if (code !== undefined && CONNECTION_LOST_CODES.has(code)) return { kind: 'late', what: `connection lost (${code})` };
  return { kind: 'unexpected', what: `error: ${String((error as Error).message).slice(0, 80)}${code === undefined ? '' : ` (${code})`}` };
}

const CONNECTION_LOST_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
