import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { IdempotencyClaim, Release, ReportOutcome } from '../../../libs/domain/budget/commands.js';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { parseUsdMicros } from '../../../libs/domain/money.js';
import { paymentSpanAttributes } from '../../../libs/ledger/decision-telemetry.js';
import { isErrorCode, type ErrorCode } from '../../../libs/platform/error-catalogue.js';
import { ApiProblem, problemBody } from '../../../libs/platform/problem.js';
import { sellerOutcome } from '../../../libs/settlement/outcome.js';
import { ACCEPT_PAYMENT_HEADER, acceptPaymentValue } from '../../../libs/mpp/accept-payment.js';
import { railOutcome } from '../../../libs/settlement/rail-outcome.js';
import { PAYMENT_REQUIRED_HEADER, type PaymentHeader } from '../../../libs/x402/headers.js';
import type { AgentPrincipal } from '../http/access-keys.js';
import { Clock } from '../http/clock.js';
import { GOVERNOR_CONFIG, LOGGER } from '../http/tokens.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { ReadModels, type PaymentView } from '../agent/read-models.js';
import { FetchAnswers, KEPT_BODY_BYTES_MAX, type KeptAnswer } from './fetch-answers.js';
import { idempotencyClaim } from './idempotency.js';
import { httpMethod, paymentUrl, usdAmount } from './inputs.js';
import { PaymentRequests } from './payment-requests.js';
import { PaymentRails } from './payment-rails.js';
import { collectRailOptions } from './rail-choice.js';
import { PaymentSignatures } from './payment-signatures.js';
import { passedHeaders, SellerCallError, SellerCalls, sellerProblem, type SellerHead, type SellerRequest } from './seller-calls.js';

// Pay-and-fetch: Paybound calls the URL for the agent; on a 402 it reserves, waits for the
// settlement worker's signature, retries with the payment header and records what the
// seller answered. The seller's answer is passed through, with the payment in Paybound-*
// headers. One intent is signed once, and under an Idempotency-Key it is paid once: a retry
// is answered with the first answer, kept with the payment.

const REQUEST_BODY_CHARS_MAX = 64 * 1024;
const REQUEST_HEADERS_MAX = 50;
/** After a sign wait ran out, how long to wait for the header of a payment the worker just signed. */
const LATE_SIGNATURE_WAIT_MS = 2_000;
/** A retry that finds its payment under way waits this long for the first answer to be kept. */
const FIRST_ANSWER_WAIT_MS = 2_000;
const FIRST_ANSWER_POLL_MS = 100;

// Headers Paybound sets itself or that describe one hop, never forwarded from the agent.
const REQUEST_HEADERS_REFUSED = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'payment-signature',
  'x-payment',
]);
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/;
/** What HTTP carries in a header value: tab and visible Latin-1; never CR, LF, NUL or another control. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

export const payAndFetchInput = z
  .object({
    url: paymentUrl,
    method: httpMethod.default('GET'),
    headers: z
      .record(
        z.string().regex(HEADER_NAME, 'must be a header name'),
        z.string().max(8 * 1024).regex(HEADER_VALUE, 'must be tab or visible Latin-1 characters: no CR, LF, NUL or other control character'),
      )
      .refine((h) => Object.keys(h).length <= REQUEST_HEADERS_MAX, `at most ${REQUEST_HEADERS_MAX} headers`)
      .refine((h) => Object.keys(h).every((name) => !REQUEST_HEADERS_REFUSED.has(name.toLowerCase())), 'a header Paybound sets itself or a hop-by-hop header')
      .optional(),
    body: z.union([z.string().max(REQUEST_BODY_CHARS_MAX), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
    maxPrice: usdAmount.optional(),
  })
  .strict();

export type PayAndFetchInput = z.infer<typeof payAndFetchInput>;

/** The payment behind an answer, as the Paybound-* headers give it. */
export interface PaymentFigures {
  id: string;
  amount: string;
  remaining: string | null;
}

export interface PaidFetchAnswer {
  status: number;
  /** The seller's headers that pass: never hop-by-hop, never a `Paybound-*` one. */
  headers: readonly (readonly [string, string])[];
  body: Buffer;
  /** Null when nothing was paid (the seller asked for no payment). */
  payment: PaymentFigures | null;
  /** The first answer to this Idempotency-Key, answered again: nothing was sent or paid this time. */
  replayed: boolean;
  /** The code of a replayed answer that was Paybound's own problem; null otherwise. */
  problemCode: ErrorCode | null;
}

/** A problem after the payment was reserved: the answer carries the payment too. */
export class PaidFetchProblem extends ApiProblem {
  constructor(
    problem: ApiProblem,
    readonly payment: PaymentFigures,
  ) {
    super(problem.code, problem.detail, problem.figures);
  }
}

/**
 * A kept first answer that was Paybound's own problem, as the problem again: for transports
 * that answer problems as errors (gRPC, MCP) rather than as the stored HTTP answer.
 */
export class ReplayedProblem extends ApiProblem {
  constructor(
    code: ErrorCode,
    detail: string,
    figures: Record<string, unknown>,
    readonly payment: PaymentFigures | null,
  ) {
    super(code, detail, figures);
  }

  static of(answer: PaidFetchAnswer): ReplayedProblem | undefined {
    if (answer.problemCode === null) return undefined;
    const { type: _type, title: _title, status: _status, code: _code, detail, ...figures } = JSON.parse(answer.body.toString('utf8')) as Record<string, unknown>;
    return new ReplayedProblem(answer.problemCode, typeof detail === 'string' ? detail : answer.problemCode, figures, answer.payment);
  }
}

@Injectable()
export class PayAndFetch {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(PaymentRequests) private readonly payments: PaymentRequests,
    @Inject(PaymentSignatures) private readonly signatures: PaymentSignatures,
    @Inject(SellerCalls) private readonly sellers: SellerCalls,
    @Inject(FetchAnswers) private readonly answers: FetchAnswers,
    @Inject(PaymentRails) private readonly rails: PaymentRails,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async fetch(agent: AgentPrincipal, sessionId: string, input: PayAndFetchInput, idempotencyKey: string | null): Promise<PaidFetchAnswer> {
    if ((input.method === 'GET' || input.method === 'HEAD') && input.body !== undefined) {
      throw new ApiProblem('invalid_request', `body: a ${input.method} request has no body`, { field: 'body' });
    }
    const request = sellerRequest(input);
    const maxPriceMicros = input.maxPrice === undefined ? null : parseUsdMicros(input.maxPrice);
    const claim = idempotencyClaim(idempotencyKey, 'pay_and_fetch', {
      sessionId,
      url: request.url,
      method: request.method,
      headers: Object.entries(request.headers).sort(([a], [b]) => (a < b ? -1 : 1)),
      body: request.body ?? null,
      maxPriceMicros: maxPriceMicros?.toString() ?? null,
    });
    // A retry is answered before anything is sent on the agent's behalf.
    const kept = claim === null ? undefined : await this.keptAnswer(agent, claim);
    if (kept !== undefined) return kept;
    // The session is checked before anything is sent on the agent's behalf.
    const session = await this.reads.session(agent.orgId, agent.agentId, sessionId, this.clock.now());
    if (session === undefined) throw new ApiProblem('session_not_found', `session ${sessionId.slice(0, 80)} does not exist`);

    // The first request tells an MPP seller what Paybound pays (unless the agent said it).
    const first = await this.unpaidCall({ ...request, headers: { [ACCEPT_PAYMENT_HEADER.toLowerCase()]: acceptPaymentValue(), ...request.headers } });
    if (first.status !== 402) return { ...first, payment: null, replayed: false, problemCode: null };

    const options = collectRailOptions({
      x402: { header: first.headers.find(([name]) => name.toLowerCase() === PAYMENT_REQUIRED_HEADER.toLowerCase())?.[1] ?? null, body: jsonOrUndefined(first.body) },
      wwwAuthenticate: first.headers.filter(([name]) => name.toLowerCase() === 'www-authenticate').map(([, value]) => value),
    });
    const reserved = await this.payments.reserve(agent, { sessionId, options, requestBody: request.body, url: request.url, method: request.method, idempotency: claim, maxPriceMicros, fetchedUrl: request.url });
    const { payment } = reserved;
    const figures: PaymentFigures = { id: payment.id, amount: payment.amount, remaining: null };
    if (payment.status === 'awaiting_approval') return awaitingApproval(payment);
    if (!reserved.created && payment.status !== 'reserved') {
      // A retry of a fetch that went ahead: the header is never sent twice. Its first answer
      // may still be on its way to the table.
      const late = claim === null ? undefined : await this.keptAnswer(agent, claim, FIRST_ANSWER_WAIT_MS);
      if (late !== undefined) return late;
      throw new PaidFetchProblem(
        new ApiProblem('payment_already_used', `payment ${payment.id} for this Idempotency-Key is already ${payment.status}, and its first answer was not kept`, { paymentId: payment.id, paymentStatus: payment.status }),
        figures,
      );
    }
    try {
      const answer = await this.paidCall(agent, request, payment, figures);
      if (claim !== null) await this.answers.keep(agent, claim.key, keptFrom(claim, answer));
      return answer;
    } catch (error) {
      if (!(error instanceof ApiProblem)) throw error;
      const problem = error instanceof PaidFetchProblem ? error : new PaidFetchProblem(error, figures);
      if (claim !== null) await this.answers.keep(agent, claim.key, keptProblem(claim, problem));
      throw problem;
    }
  }

  private async unpaidCall(request: SellerRequest): Promise<Omit<PaidFetchAnswer, 'payment' | 'replayed' | 'problemCode'>> {
    try {
      const head = await this.sellers.call(request, undefined);
      return { status: head.status, headers: passedHeaders(head.headers), body: await head.readBody() };
    } catch (error) {
      if (error instanceof SellerCallError) throw sellerProblem(error, null);
      throw error;
    }
  }

  /** Waits for the signature, sends the paid request, records the outcome, reads the body. */
  private async paidCall(agent: AgentPrincipal, request: SellerRequest, payment: PaymentView, figures: PaymentFigures): Promise<PaidFetchAnswer> {
    const header = await this.signedHeader(agent, payment);
    // The balance is read while the seller works, so it adds no latency to the answer.
    const remaining = this.reads.session(agent.orgId, agent.agentId, payment.sessionId, this.clock.now()).then(
      (view) => view?.remaining ?? null,
      () => null,
    );
    let paid: SellerHead;
    try {
      paid = await this.sellers.call(request, header, paymentSpanAttributes({ ...payment, intentId: payment.id, orgId: agent.orgId, agentId: agent.agentId }));
    } catch (error) {
      figures.remaining = await remaining;
      // The header was sent: the outcome is unknown until the chain says otherwise.
      await this.report(agent, payment.id, sellerOutcome(null, undefined));
      if (error instanceof SellerCallError) throw new PaidFetchProblem(sellerProblem(error, payment.id), figures);
      throw error;
    }
    // The outcome is in the status and headers; it is recorded before the body is read, so a
    // body that stalls or is too large does not hide a payment the seller confirmed.
    const answered = railOutcome(paid.status, paid.headers);
    const reported = Promise.all([
      this.report(agent, payment.id, answered.outcome),
      answered.receipt === null ? undefined : this.rails.keepReceipt(payment.id, answered.receipt.header, answered.receipt.value).catch((error: unknown) => this.logger.warn({ intentId: payment.id, err: { message: (error as Error).message } }, 'could not keep the seller receipt')),
    ]);
    let body: Buffer;
    try {
      body = await paid.readBody();
    } catch (error) {
      await reported;
      figures.remaining = await remaining;
      if (error instanceof SellerCallError) throw new PaidFetchProblem(sellerProblem(error, payment.id), figures);
      throw error;
    }
    await reported;
    figures.remaining = await remaining;
    return { status: paid.status, headers: passedHeaders(paid.headers), body, payment: figures, replayed: false, problemCode: null };
  }

  /**
   * (Also the MCP gateway's wait: one rule for every use case that sends a payment itself.)
   * Waits for the worker's header; a payment not signed in time is released, unless the
   * worker won the race. Then the header is waited for a little longer, and if it still has
   * not come, the answer says what is true: the payment is signed, nothing was sent.
   */
  async signedHeader(agent: AgentPrincipal, payment: PaymentView): Promise<PaymentHeader> {
    const waited = await this.signatures.waitFor(payment.id, this.config.signWaitMs);
    if (waited.kind === 'signed') return waited.header;
    if (waited.kind === 'not_signed') {
      throw new ApiProblem('payment_not_signed', `the settlement worker did not sign payment ${payment.id}: ${waited.reason ?? waited.status}`, { paymentId: payment.id, reason: waited.reason });
    }
    const release: Release = { type: 'Release', orgId: agent.orgId, actor: `agent:${agent.agentId}`, at: this.clock.now().toISOString(), intentId: payment.id, reason: 'sign_timeout', proof: { kind: 'never_signed' } };
    try {
      await this.commands.execute(new DecideBudget(release, () => undefined));
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'release_not_proven')) throw error;
      // Signed after all: the header follows the recorded signature within moments.
      const late = await this.signatures.waitFor(payment.id, LATE_SIGNATURE_WAIT_MS);
      if (late.kind === 'signed') return late.header;
      const current = await this.reads.payment(agent.orgId, agent.agentId, payment.id);
      throw new ApiProblem(
        'payment_not_sent',
        `payment ${payment.id} was signed after Paybound stopped waiting for it; nothing was sent to the seller, and its hold is released once the authorization expires unused`,
        { paymentId: payment.id, paymentStatus: current?.status ?? 'signed', validBefore: current?.validBefore ?? null },
      );
    }
    throw new ApiProblem('payment_not_signed', `the settlement worker did not sign payment ${payment.id} within ${this.config.signWaitMs} ms; nothing was paid`, {
      paymentId: payment.id,
      reason: 'sign_timeout',
    });
  }

  async report(agent: AgentPrincipal, intentId: string, outcome: ReturnType<typeof sellerOutcome>): Promise<void> {
    const command: ReportOutcome = { type: 'ReportOutcome', orgId: agent.orgId, actor: `agent:${agent.agentId}`, at: this.clock.now().toISOString(), intentId, ...outcome };
    try {
      await this.commands.execute(new DecideBudget(command, () => undefined));
    } catch (error) {
      // The report only speeds reconciliation up; the worker settles or releases from the
      // chain without it, so the agent still gets the seller's answer.
      this.logger.warn({ intentId, err: { message: (error as Error).message } }, 'could not record the seller outcome');
    }
  }

  /** The kept first answer to the key, waiting up to `waitMs` for one still being kept. */
  private async keptAnswer(agent: AgentPrincipal, claim: IdempotencyClaim, waitMs = 0): Promise<PaidFetchAnswer | undefined> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      const kept = await this.answers.find(agent, claim.key);
      if (kept !== undefined) {
        if (kept.requestHash !== claim.requestHash) throw new ApiProblem('idempotency_key_reused', 'this Idempotency-Key was already used with a different request');
        return replayOf(kept);
      }
      if (Date.now() >= deadline) return undefined;
      await new Promise((resolve) => setTimeout(resolve, FIRST_ANSWER_POLL_MS));
    }
  }
}

/** The request as it goes to the seller; what the idempotency hash covers. */
function sellerRequest(input: PayAndFetchInput): SellerRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const lower = name.toLowerCase();
    // Names that differ only in case are one header, as HTTP reads them.
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  let body: string | undefined;
  if (typeof input.body === 'string') body = input.body;
  else if (input.body !== undefined) {
    body = JSON.stringify(input.body);
    headers['content-type'] ??= 'application/json';
  }
  return { url: input.url, method: input.method, headers, body };
}

function awaitingApproval(payment: PaymentView): PaidFetchAnswer {
  return {
    status: 202,
    headers: [
      ['content-type', 'application/json; charset=utf-8'],
      ['location', `/v1/payments/${payment.id}`],
    ],
    body: Buffer.from(JSON.stringify({ ...payment, header: null })),
    payment: { id: payment.id, amount: payment.amount, remaining: null },
    replayed: false,
    problemCode: null,
  };
}

function keptFrom(claim: IdempotencyClaim, answer: PaidFetchAnswer): KeptAnswer {
  return {
    requestHash: claim.requestHash,
    intentId: answer.payment?.id ?? '',
    status: answer.status,
    contentType: answer.headers.find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? null,
    body: answer.body,
    bodyBytes: answer.body.byteLength,
    problemCode: null,
    amount: answer.payment?.amount ?? null,
    remaining: answer.payment?.remaining ?? null,
  };
}

function keptProblem(claim: IdempotencyClaim, problem: PaidFetchProblem): KeptAnswer {
  const body = Buffer.from(JSON.stringify(problemBody(problem.code, problem.detail, problem.figures)));
  return {
    requestHash: claim.requestHash,
    intentId: problem.payment.id,
    status: problem.status,
    contentType: 'application/problem+json',
    body,
    bodyBytes: body.byteLength,
    problemCode: problem.code,
    amount: problem.payment.amount,
    remaining: problem.payment.remaining,
  };
}

/**
 * The kept answer, answered again. A body too large to have been kept cannot be given back:
 * the retry learns that its payment went ahead (409 payment_already_used), not a part of it.
 */
function replayOf(kept: KeptAnswer): PaidFetchAnswer {
  const payment = { id: kept.intentId, amount: kept.amount ?? '', remaining: kept.remaining };
  if (kept.body === null) {
    throw new PaidFetchProblem(
      new ApiProblem('payment_already_used', `payment ${kept.intentId} for this Idempotency-Key went ahead; its answer of ${kept.bodyBytes} bytes was larger than the ${KEPT_BODY_BYTES_MAX} kept for retries`, {
        paymentId: kept.intentId,
        paymentStatus: null,
      }),
      payment,
    );
  }
  return {
    status: kept.status,
    headers: kept.contentType === null ? [] : [['content-type', kept.contentType]],
    body: kept.body,
    payment,
    replayed: true,
    problemCode: kept.problemCode !== null && isErrorCode(kept.problemCode) ? kept.problemCode : null,
  };
}

function jsonOrUndefined(body: Buffer): unknown {
  if (body.byteLength === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
