import { Body, Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Release, ReportOutcome } from '../../../libs/domain/budget/commands.js';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { formatUsdMicros, parseUsdMicros, stablecoinAtomicToUsdMicros } from '../../../libs/domain/money.js';
import { fetch, Headers, type Agent, type Response as UndiciResponse } from 'undici';
import { paymentSpanAttributes } from '../../../libs/ledger/decision-telemetry.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { inSpan, SpanKind, traceparentOf } from '../../../libs/platform/tracing.js';
import { sellerOutcome } from '../../../libs/settlement/outcome.js';
import { PAYMENT_REQUIRED_HEADER, PAYMENT_RESPONSE_HEADER, X_PAYMENT_RESPONSE_HEADER, type PaymentHeader } from '../../../libs/x402/headers.js';
import { parsePaymentRequired, type PaymentRequiredInput } from '../../../libs/x402/offer.js';
import { selectRequirement } from '../../../libs/x402/select.js';
import { principalOf, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { idempotencyClaim, parseBody } from '../http/input.js';
import { assertPublicLiteral, destinationRefusal, outboundDispatcher } from '../../../libs/platform/outbound-guard.js';
import { PaymentRequests } from './payment-requests.js';
import { PaymentSignatures } from './payment-signatures.js';
import { ReadModels, type PaymentView } from '../agent/read-models.js';
import { GOVERNOR_CONFIG, LOGGER } from '../http/tokens.js';

const REQUEST_BODY_CHARS_MAX = 64 * 1024;
const REQUEST_HEADERS_MAX = 50;
const RESPONSE_BYTES_MAX = 5 * 1024 * 1024;
/** After a sign wait ran out, how long to wait for the header of a payment the worker just signed. */
const LATE_SIGNATURE_WAIT_MS = 2_000;

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
// Hop-by-hop headers, and framing the governor redoes (fetch already decoded the body).
const RESPONSE_HEADERS_DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'trailer', 'upgrade', 'te']);

const fetchBody = z
  .object({
    url: z
      .string()
      .max(2048)
      .url()
      .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL'),
    method: z.string().regex(/^[A-Z]{3,7}$/).default('GET'),
    headers: z
      .record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$/, 'must be a header name'), z.string().max(8 * 1024))
      .refine((h) => Object.keys(h).length <= REQUEST_HEADERS_MAX, `at most ${REQUEST_HEADERS_MAX} headers`)
      .refine((h) => Object.keys(h).every((name) => !REQUEST_HEADERS_REFUSED.has(name.toLowerCase())), 'a header Paybound sets itself or a hop-by-hop header')
      .optional(),
    body: z.union([z.string().max(REQUEST_BODY_CHARS_MAX), z.record(z.string(), z.unknown()), z.array(z.unknown())]).optional(),
    maxPrice: z.string().max(24).optional(),
  })
  .strict();

type FetchInput = z.infer<typeof fetchBody>;

interface UpstreamHead {
  status: number;
  headers: Headers;
  readBody: () => Promise<Buffer>;
}

interface UpstreamAnswer {
  status: number;
  headers: Headers;
  body: Buffer;
}

class UpstreamError extends Error {
  constructor(
    readonly kind: 'timeout' | 'unreachable' | 'too_large' | 'destination_not_allowed',
    options?: { cause: unknown },
  ) {
    super(kind, options);
  }
}

/**
 * Pay-and-fetch: Paybound calls the URL for the agent; on a 402 it reserves, waits for the
 * settlement worker's signature, retries with the payment header and records what the seller
 * answered. The seller's answer is passed through, with the payment in Paybound-* headers.
 * One intent is signed once: a retry of the paid request would reuse the same header.
 */
@Controller('v1/sessions')
export class FetchController {
  private outbound: Agent | undefined;

  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(PaymentRequests) private readonly payments: PaymentRequests,
    @Inject(PaymentSignatures) private readonly signatures: PaymentSignatures,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Post(':id/fetch')
  async fetch(@Req() request: AuthenticatedRequest, @Param('id') sessionId: string, @Body() rawBody: unknown, @Res() response: Response): Promise<void> {
    const agent = principalOf(request);
    const input = parseBody(fetchBody, rawBody);
    const maxPriceMicros = input.maxPrice === undefined ? undefined : parseUsdMicros(input.maxPrice);
    if ((input.method === 'GET' || input.method === 'HEAD') && input.body !== undefined) {
      throw new ApiProblem('invalid_request', `body: a ${input.method} request has no body`, { field: 'body' });
    }
    // The session is checked before anything is sent on the agent's behalf.
    const session = await this.reads.session(agent.orgId, agent.agentId, sessionId, this.clock.now());
    if (session === undefined) throw new ApiProblem('session_not_found', `session ${sessionId.slice(0, 80)} does not exist`);

    let first: UpstreamAnswer;
    try {
      const head = await this.upstream(input, undefined);
      first = { status: head.status, headers: head.headers, body: await head.readBody() };
    } catch (error) {
      if (error instanceof UpstreamError) throw upstreamProblem(error, null);
      throw error;
    }
    if (first.status !== 402) {
      this.pass(response, first, {});
      return;
    }

    const offer: PaymentRequiredInput = { header: first.headers.get(PAYMENT_REQUIRED_HEADER), body: jsonOrUndefined(first.body) };
    if (maxPriceMicros !== undefined) this.refuseAboveMax(offer, maxPriceMicros);
    const reserved = await this.payments.reserve(agent, {
      sessionId,
      offer,
      url: input.url,
      method: input.method,
      idempotency: idempotencyClaim(request, `POST /v1/sessions/${sessionId}/fetch`, input),
    });
    const { payment } = reserved;
    response.setHeader('Paybound-Payment-Id', payment.id);
    response.setHeader('Paybound-Amount', payment.amount);
    if (payment.status === 'awaiting_approval') {
      response.status(202).setHeader('Location', `/v1/payments/${payment.id}`);
      response.json({ ...payment, header: null });
      return;
    }
    // A retry with the same Idempotency-Key of a fetch that already went ahead: the header
    // must not be sent again on the agent's behalf, the payment says how it went.
    if (payment.status !== 'reserved') {
      throw new ApiProblem('payment_already_used', `payment ${payment.id} for this Idempotency-Key is already ${payment.status}`, { paymentId: payment.id, paymentStatus: payment.status });
    }

    const header = await this.signedHeader(agent, payment);
    // The balance is read while the seller works, so it adds no latency to the answer.
    const remaining = this.reads.session(agent.orgId, agent.agentId, sessionId, this.clock.now()).then(
      (view) => view?.remaining,
      () => undefined,
    );
    let paid: UpstreamHead;
    try {
      paid = await this.upstream(input, header, paymentSpanAttributes({ ...payment, intentId: payment.id, orgId: agent.orgId, agentId: agent.agentId }));
    } catch (error) {
      await this.setRemaining(response, remaining);
      // The header was sent: the outcome is unknown until the chain says otherwise.
      await this.report(agent, payment.id, sellerOutcome(null, undefined));
      if (error instanceof UpstreamError) throw upstreamProblem(error, payment.id);
      throw error;
    }
    // The outcome is in the status and headers; it is recorded before the body is read, so a
    // body that stalls or is too large does not hide a payment the seller confirmed.
    const paymentResponse = paid.headers.get(PAYMENT_RESPONSE_HEADER) ?? paid.headers.get(X_PAYMENT_RESPONSE_HEADER) ?? undefined;
    const reported = this.report(agent, payment.id, sellerOutcome(paid.status, paymentResponse));
    let body: Buffer;
    try {
      body = await paid.readBody();
    } catch (error) {
      await reported;
      await this.setRemaining(response, remaining);
      if (error instanceof UpstreamError) throw upstreamProblem(error, payment.id);
      throw error;
    }
    await reported;
    await this.setRemaining(response, remaining);
    this.pass(response, { status: paid.status, headers: paid.headers, body }, {});
  }

  private async setRemaining(response: Response, remaining: Promise<string | undefined>): Promise<void> {
    const value = await remaining;
    if (value !== undefined) response.setHeader('Paybound-Remaining', value);
  }

  /** Waits for the worker's header; a payment not signed in time is released, unless the worker won the race. */
  private async signedHeader(agent: { orgId: string; agentId: string }, payment: PaymentView): Promise<PaymentHeader> {
    const waited = await this.signatures.waitFor(payment.id, this.config.signWaitMs);
    if (waited.kind === 'signed') return waited.header;
    if (waited.kind === 'not_signed') {
      throw new ApiProblem('payment_not_signed', `the settlement worker did not sign payment ${payment.id}: ${waited.reason ?? waited.status}`, { paymentId: payment.id, reason: waited.reason });
    }
    const release: Release = {
      type: 'Release',
      orgId: agent.orgId,
      actor: `agent:${agent.agentId}`,
      at: this.clock.now().toISOString(),
      intentId: payment.id,
      reason: 'sign_timeout',
      proof: { kind: 'never_signed' },
    };
    try {
      await this.commands.execute(new DecideBudget(release, () => undefined));
    } catch (error) {
      // Signed after all: the header follows the recorded signature within moments.
      if (!(error instanceof DomainError && error.code === 'release_not_proven')) throw error;
      const late = await this.signatures.waitFor(payment.id, LATE_SIGNATURE_WAIT_MS);
      if (late.kind === 'signed') return late.header;
    }
    throw new ApiProblem('payment_not_signed', `the settlement worker did not sign payment ${payment.id} within ${this.config.signWaitMs} ms; nothing was paid`, {
      paymentId: payment.id,
      reason: 'sign_timeout',
    });
  }

  private refuseAboveMax(offer: PaymentRequiredInput, maxPriceMicros: bigint): void {
    let parsed;
    try {
      parsed = parsePaymentRequired(offer);
    } catch {
      // PaymentRequests answers a malformed offer with its own problem.
      return;
    }
    const assets = this.config.assets;
    const selection = selectRequirement(parsed, {
      supportedSchemes: ['exact'],
      supportedNetworks: [...new Set(assets.map((a) => a.network))],
      allowedAssets: assets.map((a) => a.address),
    });
    if (!selection.ok) return;
    const { requirement } = selection;
    const asset = assets.find((a) => a.network === requirement.network && a.address.toLowerCase() === requirement.asset.toLowerCase());
    if (asset === undefined) return;
    const priceMicros = stablecoinAtomicToUsdMicros(requirement.amountAtomic, asset.decimals);
    if (priceMicros > maxPriceMicros) {
      throw new ApiProblem('price_above_max', `the seller asks ${formatUsdMicros(priceMicros)}, above maxPrice ${formatUsdMicros(maxPriceMicros)}; nothing was reserved`, {
        level: 'request',
        limit: formatUsdMicros(maxPriceMicros),
        requested: formatUsdMicros(priceMicros),
      });
    }
  }

  private async report(agent: { orgId: string; agentId: string }, intentId: string, outcome: ReturnType<typeof sellerOutcome>): Promise<void> {
    const command: ReportOutcome = { type: 'ReportOutcome', orgId: agent.orgId, actor: `agent:${agent.agentId}`, at: this.clock.now().toISOString(), intentId, ...outcome };
    try {
      await this.commands.execute(new DecideBudget(command, () => undefined));
    } catch (error) {
      // The report only speeds reconciliation up; the worker settles or releases from the
      // chain without it, so the agent still gets the seller's answer.
      this.logger.warn({ intentId, err: { message: (error as Error).message } }, 'could not record the seller outcome');
    }
  }

  /**
   * Sends the request in a client span (`paybound.paid_request` with the payment, else
   * `paybound.unpaid_request`) whose context goes to the seller as `traceparent`; resolves
   * once the status and headers arrived, the body is read on demand within the same timeout.
   */
  private upstream(input: FetchInput, header: PaymentHeader | undefined, paymentAttributes: Record<string, string> = {}): Promise<UpstreamHead> {
    const url = new URL(input.url);
    // Only the host and path: a query string may carry the agent's own secrets.
    const attributes = { 'http.request.method': input.method, 'server.address': url.host, 'url.path': url.pathname, ...paymentAttributes };
    const name = header === undefined ? 'paybound.unpaid_request' : 'paybound.paid_request';
    return inSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const head = await this.send(input, header);
      span.setAttribute('http.response.status_code', head.status);
      return head;
    });
  }

  private async send(input: FetchInput, payment: PaymentHeader | undefined): Promise<UpstreamHead> {
    const headers = new Headers(input.headers ?? {});
    const traceparent = traceparentOf();
    if (traceparent !== undefined) headers.set('traceparent', traceparent);
    let body: string | undefined;
    if (typeof input.body === 'string') body = input.body;
    else if (input.body !== undefined) {
      body = JSON.stringify(input.body);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    if (payment !== undefined) headers.set(payment.name, payment.value);
    const signal = AbortSignal.timeout(this.config.fetchTimeoutMs);
    let answer: UndiciResponse;
    try {
      if (this.config.fetchPrivateAddresses === 'deny') assertPublicLiteral(new URL(input.url), this.config.fetchAllow);
      this.outbound ??= outboundDispatcher(this.config.fetchPrivateAddresses, this.config.fetchAllow);
      answer = await fetch(input.url, { method: input.method, headers, body, redirect: 'manual', signal, dispatcher: this.outbound });
    } catch (error) {
      const refused = destinationRefusal(error);
      if (refused !== undefined) throw new UpstreamError('destination_not_allowed', { cause: refused });
      throw new UpstreamError(signal.aborted ? 'timeout' : 'unreachable', { cause: error });
    }
    return {
      status: answer.status,
      headers: answer.headers,
      readBody: async () => {
        try {
          return await readCapped(answer, RESPONSE_BYTES_MAX);
        } catch (error) {
          if (error instanceof UpstreamError) throw error;
          throw new UpstreamError(signal.aborted ? 'timeout' : 'unreachable', { cause: error });
        }
      },
    };
  }

  private pass(response: Response, answer: UpstreamAnswer, extra: Record<string, string>): void {
    answer.headers.forEach((value, name) => {
      if (!RESPONSE_HEADERS_DROPPED.has(name.toLowerCase())) response.setHeader(name, value);
    });
    for (const [name, value] of Object.entries(extra)) response.setHeader(name, value);
    response.status(answer.status).end(answer.body);
  }
}

async function readCapped(answer: globalThis.Response, bytesMax: number): Promise<Buffer> {
  if (answer.body === null) return Buffer.alloc(0);
  const reader = (answer.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Each read returns at least one byte or ends, so the loop ends within bytesMax + 1 reads.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > bytesMax) {
      await reader.cancel().catch(() => undefined);
      throw new UpstreamError('too_large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function jsonOrUndefined(body: Buffer): unknown {
  if (body.byteLength === 0) return undefined;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** `paymentId` is null when the failed call was the unpaid one, before anything was reserved. */
function upstreamProblem(error: UpstreamError, paymentId: string | null): ApiProblem {
  const figures = paymentId === null ? {} : { paymentId };
  const after = paymentId === null ? 'nothing was paid' : 'the payment was sent and is reconciled on chain';
  switch (error.kind) {
    case 'timeout':
      return new ApiProblem('upstream_timeout', `the seller did not answer in time; ${after}`, figures);
    case 'unreachable':
      return new ApiProblem('upstream_unreachable', `the connection to the seller failed; ${after}`, figures);
    case 'too_large':
      return new ApiProblem('upstream_response_too_large', `the seller's answer exceeds ${RESPONSE_BYTES_MAX} bytes`, figures);
    case 'destination_not_allowed':
      return new ApiProblem('destination_not_allowed', `url: ${(error.cause as Error).message}; pay-and-fetch calls public addresses only, and ${after}`, { field: 'url', ...figures });
    default: {
      const _never: never = error.kind;
      return new ApiProblem('upstream_unreachable', 'the seller could not be reached', figures);
    }
  }
}
