import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException, Inject } from '@nestjs/common';
import type { Response } from 'express';
import type { Logger } from 'pino';
import { ZodError } from 'zod';
import { DomainError, type DomainErrorCode } from '../../../libs/domain/budget/errors.js';
import { MoneyFormatError } from '../../../libs/domain/money.js';
import { ApiProblem, problemBody } from '../../../libs/platform/problem.js';
import { LOGGER } from './tokens.js';

const DOMAIN_STATUS: Record<DomainErrorCode, number> = {
  org_not_found: 404,
  team_not_found: 404,
  agent_not_found: 404,
  session_not_found: 404,
  payment_not_found: 404,
  org_already_exists: 409,
  team_already_exists: 409,
  agent_already_exists: 409,
  session_already_exists: 409,
  intent_conflict: 409,
  idempotency_key_reused: 422,
  intent_already_settled: 409,
  intent_already_refunded: 409,
  settle_exceeds_reserved: 422,
  payment_not_signed: 409,
  payment_already_signed: 409,
  release_not_proven: 409,
  policy_version_mismatch: 412,
  approval_already_decided: 409,
  invalid_command: 400,
};

/** The one place where errors become HTTP answers: RFC 9457 problem+json, stable codes. */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(@Inject(LOGGER) private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    const [status, body] = this.toProblem(error);
    response.status(status).type('application/problem+json').send(JSON.stringify(body));
  }

  private toProblem(error: unknown): [number, ReturnType<typeof problemBody>] {
    if (error instanceof ApiProblem) return [error.status, problemBody(error.status, error.code, error.detail, error.figures)];
    if (error instanceof DomainError) {
      const status = DOMAIN_STATUS[error.code];
      return [status, problemBody(status, error.code, error.message)];
    }
    if (error instanceof ZodError) {
      const issue = error.issues[0];
      const field = issue?.path.join('.') ?? '';
      return [400, problemBody(400, 'invalid_request', `${field === '' ? 'body' : field}: ${issue?.message ?? 'invalid'}`, { field })];
    }
    if (error instanceof MoneyFormatError) return [400, problemBody(400, 'invalid_amount', error.message)];
    if (error instanceof HttpException) {
      const status = error.getStatus();
      const code = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : status === 400 ? 'invalid_json' : 'http_error';
      return [status, problemBody(status, code, status === 404 ? 'no such route' : error.message)];
    }
    this.logger.error({ err: error }, 'unhandled error');
    return [500, problemBody(500, 'internal_error', 'the request failed; it is safe to retry with the same Idempotency-Key')];
  }
}
