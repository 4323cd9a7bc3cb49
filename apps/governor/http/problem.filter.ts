import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { MoneyFormatError } from '../../../libs/domain/money.js';
import type { ErrorCode } from '../../../libs/platform/error-catalogue.js';
import { ApiProblem, problemBody, type ProblemBody } from '../../../libs/platform/problem.js';
import { LOGGER } from './tokens.js';

/** The one place where errors become HTTP answers: RFC 9457 problem+json, stable codes. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const body = this.toProblem(error);
    response.status(body.status).type('application/problem+json').send(JSON.stringify(body));
  }

  /** The problem body for any error; its status is the catalogue's for its code. */
  toProblem(error: unknown): ProblemBody {
    if (error instanceof ApiProblem) return problemBody(error.code, error.detail, error.figures);
    if (error instanceof DomainError) return problemBody(error.code, error.message);
    if (error instanceof ZodError) {
      const issue = error.issues[0];
      const field = issue?.path.join('.') ?? '';
      return problemBody('invalid_request', `${field === '' ? 'body' : field}: ${issue?.message ?? 'invalid'}`, { field });
    }
    if (error instanceof MoneyFormatError) return problemBody('invalid_amount', error.message);
    if (error instanceof HttpException) {
      const code = httpExceptionCode(error.getStatus());
      if (code !== 'internal_error') return problemBody(code, code === 'not_found' ? 'no such route' : error.message);
    }
    this.logger.error({ err: error }, 'unhandled error');
    return problemBody('internal_error', 'the request failed; it is safe to retry with the same Idempotency-Key');
  }
}

/** Nest's own exceptions: no route (404), and the body parser's refusals. */
function httpExceptionCode(status: number): ErrorCode {
  switch (status) {
    case 404:
      return 'not_found';
    case 413:
      return 'payload_too_large';
    case 415:
      return 'unsupported_media_type';
    default:
      // The body parser answers 400 for a body it cannot read; nothing else raises another 4xx.
      return status >= 400 && status < 500 ? 'invalid_json' : 'internal_error';
  }
}
