import { randomBytes } from 'node:crypto';
import type { ReceivedSpan } from '../test/support/otlp-receiver.js';
import type { SpanReceiver } from './paid-span-receiver.js';

// Where a governed payment's time goes, from the spans the governor and the settlement
// worker already export. The bench runs an OTLP/HTTP receiver (bench/paid-span-receiver.ts),
// starts both processes with OTEL_EXPORTER_OTLP_ENDPOINT pointing at it, and sends every
// measured request with a traceparent of its own, so each request's spans are found by the
// trace id it chose.
//
// The stages are cut at span boundaries in the order a payment crosses them, so they add up
// to the governor's server span exactly. How exact a cut is: the OpenTelemetry SDK takes a
// span's start from Date.now() (whole milliseconds) and its end from the start plus a
// performance.now() duration, so a span's own duration is exact to the microsecond and a
// cut between two spans is off by less than 1 ms either way. Three stages lie between spans
// of different processes (the hand-off to the worker, signing, the hand-back); both read the
// same system clock, so the same bound holds, but a stage can come out negative when one
// process's event loop was late to notice what the other already acted on (the worker can
// start signing before the governor's event loop has taken its own commit's answer).
// Negative stages are counted in the tables, not hidden.

/** A W3C traceparent for a new trace, sampled or not: the governor's parent-based sampler follows the flag. */
export function newTraceparent(sampled: boolean): { traceId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-${sampled ? '01' : '00'}` };
}

/** The environment that makes a governor or worker export its spans to the receiver, promptly and without dropping any under load. */
export function exportingTo(receiver: SpanReceiver): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_BSP_MAX_QUEUE_SIZE: '100000',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '2000',
  };
}

export type PaidFlow = 'pay-and-fetch' | 'sign-only';

/** The stages of a governed payment, in the order it crosses them. */
export const STAGES = [
  'governor: request, offer, offer row, wallet check',
  'governor: request to first seller call',
  'seller: unpaid call (402)',
  'governor: offer, offer row, wallet check',
  'reservation commit',
  'hand-off to the worker',
  'signing (+ sending RecordSignature)',
  'governor: worker command in',
  'signature commit',
  'hand-back to the governor',
  'seller: paid call (verify, settle, answer)',
  'outcome recording and answer',
  'answer',
] as const;
export type Stage = (typeof STAGES)[number];

/** How each stage is cut, for the report: which spans bound it, and whether it is derived across processes. */
export const STAGE_BOUNDS: Record<Stage, string> = {
  'governor: request, offer, offer row, wallet check': 'server span start → Reserve decision start',
  'governor: request to first seller call': 'server span start → paybound.unpaid_request start',
  'seller: unpaid call (402)': 'paybound.unpaid_request',
  'governor: offer, offer row, wallet check': 'paybound.unpaid_request end → Reserve decision start',
  'reservation commit': 'paybound.decision Reserve (queue for the org batch + durable commit)',
  'hand-off to the worker': 'Reserve decision end → worker paybound.signature start (derived, two processes)',
  'signing (+ sending RecordSignature)': 'paybound.signature start → governor POST /internal/v1/worker-commands start (derived, two processes)',
  'governor: worker command in': 'worker-commands server span start → RecordSignature decision start',
  'signature commit': 'paybound.decision RecordSignature',
  'hand-back to the governor': 'RecordSignature decision end → paybound.signature_wait end (derived, two processes)',
  'seller: paid call (verify, settle, answer)': 'paybound.signature_wait end → paybound.paid_request end',
  'outcome recording and answer': 'paybound.paid_request end → server span end (holds the ReportOutcome decision)',
  answer: 'paybound.signature_wait end → server span end',
};

export interface StageBreakdown {
  /** ms per stage; a stage the flow does not have is absent. */
  stagesMs: Partial<Record<Stage, number>>;
  /** The governor's server span. */
  serverMs: number;
  /** paybound.decision ReportOutcome, inside the last stage (pay-and-fetch only). */
  outcomeDecisionMs?: number;
}

export type TraceReading = { kind: 'complete'; breakdown: StageBreakdown } | { kind: 'incomplete'; missing: string[] };

/**
 * Cuts one request's trace into stages. The trace must hold the governor's server span for
 * the flow's route, its Reserve decision and signature wait, the worker's signed
 * `paybound.signature` below the Reserve decision, the worker-commands server span below it
 * with its RecordSignature decision, and for pay-and-fetch the unpaid and paid requests.
 */
export function readTrace(flow: PaidFlow, spans: readonly ReceivedSpan[]): TraceReading {
  const missing: string[] = [];
  const find = (label: string, match: (span: ReceivedSpan) => boolean): ReceivedSpan | undefined => {
    const found = spans.find(match);
    if (found === undefined) missing.push(label);
    return found;
  };
  const route = flow === 'pay-and-fetch' ? 'POST /v1/sessions/:id/fetch' : 'POST /v1/sessions/:id/payments';
  const decision = (command: string) => (span: ReceivedSpan) => span.name === 'paybound.decision' && span.attributes['paybound.command'] === command;
  const server = find(route, (span) => span.name === route);
  const reserve = find('Reserve decision', decision('Reserve'));
  const wait = find('paybound.signature_wait', (span) => span.name === 'paybound.signature_wait');
  const signature = find('worker paybound.signature (signed)', (span) => span.name === 'paybound.signature' && span.attributes['paybound.outcome'] === 'signed');
  const command = signature === undefined ? undefined : find('POST /internal/v1/worker-commands', (span) => span.name === 'POST /internal/v1/worker-commands' && span.parentSpanId === signature.spanId);
  const record = command === undefined ? undefined : find('RecordSignature decision', (span) => decision('RecordSignature')(span) && span.parentSpanId === command.spanId);
  const unpaid = flow === 'pay-and-fetch' ? find('paybound.unpaid_request', (span) => span.name === 'paybound.unpaid_request') : undefined;
  const paid = flow === 'pay-and-fetch' ? find('paybound.paid_request', (span) => span.name === 'paybound.paid_request') : undefined;
  const outcome = flow === 'pay-and-fetch' ? find('ReportOutcome decision', decision('ReportOutcome')) : undefined;
  if (server === undefined || reserve === undefined || wait === undefined || signature === undefined || command === undefined || record === undefined) return { kind: 'incomplete', missing };
  if (flow === 'pay-and-fetch' && (unpaid === undefined || paid === undefined || outcome === undefined)) return { kind: 'incomplete', missing };

  const stagesMs: Partial<Record<Stage, number>> = {};
  // Boundaries in the order the payment crosses them; each stage runs from one to the next.
  const cut = (stage: Stage, fromMs: number, toMs: number): void => {
    stagesMs[stage] = toMs - fromMs;
  };
  if (unpaid !== undefined && paid !== undefined) {
    cut('governor: request to first seller call', server.startMs, unpaid.startMs);
    cut('seller: unpaid call (402)', unpaid.startMs, unpaid.endMs);
    cut('governor: offer, offer row, wallet check', unpaid.endMs, reserve.startMs);
  } else {
    cut('governor: request, offer, offer row, wallet check', server.startMs, reserve.startMs);
  }
  cut('reservation commit', reserve.startMs, reserve.endMs);
  cut('hand-off to the worker', reserve.endMs, signature.startMs);
  cut('signing (+ sending RecordSignature)', signature.startMs, command.startMs);
  cut('governor: worker command in', command.startMs, record.startMs);
  cut('signature commit', record.startMs, record.endMs);
  cut('hand-back to the governor', record.endMs, wait.endMs);
  if (paid !== undefined) {
    cut('seller: paid call (verify, settle, answer)', wait.endMs, paid.endMs);
    cut('outcome recording and answer', paid.endMs, server.endMs);
  } else {
    cut('answer', wait.endMs, server.endMs);
  }
  return {
    kind: 'complete',
    breakdown: {
      stagesMs,
      serverMs: server.endMs - server.startMs,
      ...(outcome === undefined ? {} : { outcomeDecisionMs: outcome.endMs - outcome.startMs }),
    },
  };
}
