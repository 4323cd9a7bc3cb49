import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { MoneyFormatError } from '../../../libs/domain/money.js';
import { isErrorCode, type ErrorCode } from '../../../libs/platform/error-catalogue.js';
import { ApiProblem, PAYBOUND_PROBLEM_HEADER, problemBody, type ProblemBody } from '../../../libs/platform/problem.js';
import { LOGGER } from './tokens.js';

/** What a 503 or 429 tells the client to wait before trying again. */
export const RETRY_AFTER_SECONDS = 1;

/** Writes a problem as the answer: every error the governor gives goes out through here. */
export function sendProblem(response: Response, body: ProblemBody): void {
  // Marks the answer as Paybound's own: pay-and-fetch strips every Paybound-* header from a
  // seller's answer, so a seller's problem+json passed through never carries it.
  response.setHeader(PAYBOUND_PROBLEM_HEADER, body.code);
  if ((body.status === 503 || body.status === 429) && !response.hasHeader('Retry-After')) response.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
  response.status(body.status).type('application/problem+json').send(JSON.stringify(body));
}

/** The one place where errors become HTTP answers: RFC 9457 problem+json, stable codes. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toProblem(error);
    // A stream that already sent its headers can only be ended.
    if (response.headersSent) {
      response.end();
      return;
    }
    sendProblem(response, body);
  }

  /** The problem body for any error; its status is the catalogue's for its code. */
  toProblem(error: unknown): ProblemBody {
    if (error instanceof ApiProblem) return problemBody(error.code, error.detail, error.figures);
    if (error instanceof DomainError) return problemBody(error.code, error.message, error.figures);
    if (error instanceof ZodError) return zodProblem(error);
    if (error instanceof MoneyFormatError) return problemBody('invalid_amount', error.message);
    if (error instanceof HttpException) {
      const code = httpExceptionCode(error.getStatus());
      // The router's own 400: a path it cannot decode (a malformed percent escape).
      if (code === 'invalid_request') return problemBody(code, `path: ${error.message}`, { field: 'path' });
      if (code !== 'internal_error') return problemBody(code, code === 'not_found' ? 'no such route' : error.message);
    }
    const database = databaseUnavailability(error);
    if (database !== undefined) {
      this.logger.warn({ err: { message: database } }, 'database unavailable');
      return problemBody('unavailable', `the database is unavailable (${database}); retry after a moment with the same Idempotency-Key`);
    }
    this.logger.error({ err: error }, 'unhandled error');
    return problemBody('internal_error', 'the request failed; it is safe to retry with the same Idempotency-Key');
  }
}

/**
 * A validation failure names its field (a dotted path). A refinement may name its own code
 * (`params: { code: 'invalid_amount' }`, see input.ts) when the catalogue has a closer one.
 */
function zodProblem(error: ZodError): ProblemBody {
  const issue = error.issues[0];
  const field = issue?.path.map(String).join('.') ?? '';
  const named = issue?.code === 'custom' ? (issue.params as { code?: unknown } | undefined)?.code : undefined;
  const code: ErrorCode = typeof named === 'string' && isErrorCode(named) && (named === 'invalid_amount' || named === 'invalid_request') ? named : 'invalid_request';
  return problemBody(code, `${field === '' ? 'body' : field}: ${issue?.message ?? 'invalid'}`, { field });
}

/** Nest's and the router's own exceptions: no route (404), a path it cannot decode (400). */
function httpExceptionCode(status: number): ErrorCode {
  switch (status) {
    case 404:
      return 'not_found';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    default:
      return status >= 400 && status < 500 ? 'invalid_request' : 'internal_error';
  }
}

// SQLSTATE classes and codes that mean "the database cannot serve now", not "this request is
// wrong": connection exceptions (08), operator intervention (57: statement timeout, shutdown,
// cannot connect now), insufficient resources (53), and an idle transaction timed out (25P03).
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '53', '57'];
const UNAVAILABLE_SQLSTATES = new Set(['25P03']);
const UNAVAILABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// node-postgres raises these as plain Errors.
const UNAVAILABLE_MESSAGES = [/^Query read timeout$/, /timeout exceeded when trying to connect/, /^Connection terminated/, /^Client has encountered a connection error/, /^Connection ended/];
/** How far into `cause` chains to look: errors wrapped by a batch or a use case. */
const CAUSE_DEPTH_MAX = 5;

/**
 * Why the database could not serve, when that is what failed (a short reason for the log and
 * the problem), else undefined. Such a failure is the deployment's, not the caller's: 503.
 */
export function databaseUnavailability(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < CAUSE_DEPTH_MAX && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (UNAVAILABLE_SQLSTATES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && UNAVAILABLE_SQLSTATE_CLASSES.includes(code.slice(0, 2)))) return `SQLSTATE ${code}`;
      if (UNAVAILABLE_SOCKET_CODES.has(code)) return code;
    }
    const message = current.message;
    if (UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(message))) return message.slice(0, 80);
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
