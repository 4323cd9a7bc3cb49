import { Inject, Injectable } from '@nestjs/common';
import { fetch, Headers, type Agent, type Response as UndiciResponse } from 'undici';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { assertPublicLiteral, destinationRefusal, outboundDispatcher } from '../../../libs/platform/outbound-guard.js';
import { inSpan, SpanKind, traceparentOf } from '../../../libs/platform/tracing.js';
import type { PaymentHeader } from '../../../libs/x402/headers.js';
import type { GovernorConfig } from '../config.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';

// The calls pay-and-fetch makes to a seller for an agent: bounded in time and size, public
// addresses only unless the operator allows private ones, redirects never followed, and
// every way they can fail named by its cause.

/**
 * Response headers accepted from a seller. Room for a PAYMENT-REQUIRED header beyond the
 * 16 KiB an offer may have (so an oversized offer is read and refused as bad_payment_offer,
 * not lost as a broken connection), and for the seller's other headers.
 */
export const SELLER_HEADER_BYTES_MAX = 64 * 1024;
/** The most of a seller's body Paybound passes on. */
export const SELLER_BODY_BYTES_MAX = 5 * 1024 * 1024;

// Hop-by-hop headers, and framing the governor redoes (fetch already decoded the body).
const RESPONSE_HEADERS_DROPPED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'content-encoding', 'trailer', 'upgrade', 'te']);
/** Paybound's own headers are Paybound's to set: a seller's are dropped, never passed as ours. */
const PAYBOUND_HEADER_PREFIX = 'paybound-';

/** What the agent asked Paybound to send, normalised: header names in lower case. */
export interface SellerRequest {
  url: string;
  method: string;
  headers: Readonly<Record<string, string>>;
  body: string | undefined;
}

export interface SellerHead {
  status: number;
  headers: Headers;
  /** The body, read within the call's timeout and SELLER_BODY_BYTES_MAX. */
  readBody: () => Promise<Buffer>;
}

export type SellerFailure = 'timeout' | 'unreachable' | 'bad_response' | 'headers_too_large' | 'body_too_large' | 'destination_not_allowed';

export class SellerCallError extends Error {
  constructor(
    readonly failure: SellerFailure,
    /** The low-level cause in a word (ECONNREFUSED, UND_ERR_HEADERS_OVERFLOW, …), for the detail. */
    readonly causeCode: string,
    options?: { cause: unknown },
  ) {
    super(`${failure} (${causeCode})`, options);
    this.name = 'SellerCallError';
  }
}

@Injectable()
export class SellerCalls {
  private dispatcher: Agent | undefined;

  constructor(@Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig) {}

  /**
   * Sends the request in a client span (`paybound.paid_request` with the payment, else
   * `paybound.unpaid_request`) whose context goes to the seller as `traceparent`; resolves
   * once the status and headers arrived, the body is read on demand within the same timeout.
   */
  call(request: SellerRequest, payment: PaymentHeader | undefined, paymentAttributes: Record<string, string> = {}): Promise<SellerHead> {
    const url = new URL(request.url);
    // Only the host and path: a query string may carry the agent's own secrets.
    const attributes = { 'http.request.method': request.method, 'server.address': url.host, 'url.path': url.pathname, ...paymentAttributes };
    const name = payment === undefined ? 'paybound.unpaid_request' : 'paybound.paid_request';
    return inSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
      const head = await this.send(request, payment);
      span.setAttribute('http.response.status_code', head.status);
      return head;
    });
  }

  private async send(request: SellerRequest, payment: PaymentHeader | undefined): Promise<SellerHead> {
    const headers = new Headers(request.headers);
    const traceparent = traceparentOf();
    if (traceparent !== undefined) headers.set('traceparent', traceparent);
    if (payment !== undefined) headers.set(payment.name, payment.value);
    const signal = AbortSignal.timeout(this.config.fetchTimeoutMs);
    let answer: UndiciResponse;
    try {
      if (this.config.fetchPrivateAddresses === 'deny') assertPublicLiteral(new URL(request.url), this.config.fetchAllow);
      this.dispatcher ??= outboundDispatcher(this.config.fetchPrivateAddresses, this.config.fetchAllow, { maxHeaderSize: SELLER_HEADER_BYTES_MAX });
      answer = await fetch(request.url, { method: request.method, headers, body: request.body, redirect: 'manual', signal, dispatcher: this.dispatcher });
    } catch (error) {
      throw classify(error, signal);
    }
    return {
      status: answer.status,
      headers: answer.headers,
      readBody: async () => {
        try {
          return await readCapped(answer, SELLER_BODY_BYTES_MAX);
        } catch (error) {
          throw classify(error, signal);
        }
      },
    };
  }
}

/** Why a call failed, from the causes fetch wraps its errors in. */
function classify(error: unknown, signal: AbortSignal): SellerCallError {
  if (error instanceof SellerCallError) return error;
  const refused = destinationRefusal(error);
  if (refused !== undefined) return new SellerCallError('destination_not_allowed', 'private_address', { cause: refused });
  const code = causeCode(error);
  if (signal.aborted || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return new SellerCallError('timeout', code, { cause: error });
  if (code === 'UND_ERR_HEADERS_OVERFLOW') return new SellerCallError('headers_too_large', code, { cause: error });
  if (code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') return new SellerCallError('bad_response', code, { cause: error });
  return new SellerCallError('unreachable', code, { cause: error });
}

/** The innermost error code along the cause chain: ECONNREFUSED rather than "fetch failed". */
function causeCode(error: unknown): string {
  let code = 'unknown';
  for (let cause = error, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    const own = (cause as { code?: unknown }).code;
    if (typeof own === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(own)) code = own;
  }
  return code;
}

async function readCapped(answer: UndiciResponse, bytesMax: number): Promise<Buffer> {
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
      throw new SellerCallError('body_too_large', 'body_too_large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** The seller's headers an agent gets: no hop-by-hop or framing header, and no `Paybound-*` one. */
export function passedHeaders(headers: Headers): [string, string][] {
  const passed: [string, string][] = [];
  headers.forEach((value, name) => {
    const lower = name.toLowerCase();
    if (!RESPONSE_HEADERS_DROPPED.has(lower) && !lower.startsWith(PAYBOUND_HEADER_PREFIX)) passed.push([name, value]);
  });
  return passed;
}

/** `paymentId` is null when the failed call was the unpaid one, before anything was reserved. */
export function sellerProblem(error: SellerCallError, paymentId: string | null): ApiProblem {
  const figures = paymentId === null ? {} : { paymentId };
  const after = paymentId === null ? 'nothing was paid' : 'the payment was sent and is reconciled on chain';
  switch (error.failure) {
    case 'timeout':
      return new ApiProblem('upstream_timeout', `the seller did not answer within the time allowed (${error.causeCode}); ${after}`, figures);
    case 'unreachable':
      return new ApiProblem('upstream_unreachable', `the connection to the seller failed (${error.causeCode}); ${after}`, figures);
    case 'bad_response':
      return new ApiProblem('upstream_bad_response', `the seller's answer is not valid HTTP (${error.causeCode}); ${after}`, figures);
    case 'headers_too_large':
      return new ApiProblem('upstream_response_too_large', `the seller's headers exceed ${SELLER_HEADER_BYTES_MAX} bytes; ${after}`, figures);
    case 'body_too_large':
      return new ApiProblem('upstream_response_too_large', `the seller's body exceeds ${SELLER_BODY_BYTES_MAX} bytes; ${after}`, figures);
    case 'destination_not_allowed':
      return new ApiProblem('destination_not_allowed', `url: ${(error.cause as Error).message}; pay-and-fetch calls public addresses only, and ${after}`, { field: 'url', ...figures });
    default: {
      const _never: never = error.failure;
      return new ApiProblem('upstream_unreachable', `the seller could not be reached; ${after}`, figures);
    }
  }
}
