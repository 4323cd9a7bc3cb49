import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { ERROR_CATALOGUE, type ErrorCode } from '../../../libs/platform/error-catalogue.js';
import type { ProblemBody } from '../../../libs/platform/problem.js';
import { ProblemFilter } from '../http/problem.filter.js';
import { ReplayedProblem } from '../payments/pay-and-fetch.js';

// gRPC answers the same problems as REST: the REST exception filter builds the problem, so
// there is one place that turns errors into codes and figures, and the error catalogue gives
// the gRPC status of each code.

/** Trailing metadata values are bounded: proxies refuse large trailers. */
const DETAIL_CHARS_MAX = 1_024;
const PROBLEM_CHARS_MAX = 4_096;

export function grpcStatusOf(code: ErrorCode): status {
  return status[ERROR_CATALOGUE[code].grpcStatus];
}

/** Metadata values must be printable ASCII; anything else is escaped as JSON would. */
function asciiOnly(text: string, maxChars: number): string {
  return text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).slice(0, maxChars);
}

export class GrpcProblems {
  private readonly filter: ProblemFilter;

  constructor(logger: Logger) {
    this.filter = new ProblemFilter(logger);
  }

  /** The gRPC error for any error thrown by the application services. */
  toServiceError(error: unknown): Partial<ServiceError> {
    const serviceError = problemToServiceError(this.filter.toProblem(error));
    // The first answer to an idempotency key, answered again: as over REST, it says so.
    if (error instanceof ReplayedProblem) serviceError.metadata?.set('paybound-idempotent-replay', 'true');
    return serviceError;
  }
}

export function problemToServiceError(problem: ProblemBody): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set('paybound-code', problem.code);
  metadata.set('paybound-detail', asciiOnly(problem.detail, DETAIL_CHARS_MAX));
  metadata.set('paybound-problem', asciiOnly(JSON.stringify(problem), PROBLEM_CHARS_MAX));
  return { code: grpcStatusOf(problem.code), details: `${problem.code}: ${problem.detail}`.slice(0, DETAIL_CHARS_MAX), metadata };
}
