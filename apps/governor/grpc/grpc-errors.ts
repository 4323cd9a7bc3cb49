import type { ArgumentsHost } from '@nestjs/common';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { ProblemBody } from '../../../libs/platform/problem.js';
import { ProblemFilter } from '../http/problem.filter.js';

// gRPC answers the same problems as REST. The problem is rendered by the REST exception
// filter itself, into a response that only records what it is given, so that there is one
// place that turns errors into codes and figures; this file only picks the gRPC status.

/** Trailing metadata values are bounded: proxies refuse large trailers. */
const DETAIL_CHARS_MAX = 1_024;
const PROBLEM_CHARS_MAX = 4_096;

export function grpcStatusForHttp(httpStatus: number): status {
  switch (httpStatus) {
    case 400:
      return status.INVALID_ARGUMENT;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.NOT_FOUND;
    // A conflict with what another request did: the caller may retry at a higher level.
    case 409:
      return status.ABORTED;
    // A precondition the caller set (If-Match) or an idempotency key reused with other input.
    case 412:
    case 422:
      return status.FAILED_PRECONDITION;
    case 413:
    case 429:
      return status.RESOURCE_EXHAUSTED;
    case 502:
    case 503:
      return status.UNAVAILABLE;
    case 504:
      return status.DEADLINE_EXCEEDED;
    default:
      return httpStatus >= 500 ? status.INTERNAL : status.UNKNOWN;
  }
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

  /** The problem body REST would answer for this error, with its HTTP status. */
  problemOf(error: unknown): ProblemBody {
    let body = '';
    const response = {
      status: () => response,
      type: () => response,
      send: (text: string) => {
        body = text;
        return response;
      },
    };
    const host = { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost;
    this.filter.catch(error, host);
    return JSON.parse(body) as ProblemBody;
  }

  /** The gRPC error for any error thrown by the application services. */
  toServiceError(error: unknown): Partial<ServiceError> {
    return problemToServiceError(this.problemOf(error));
  }
}

export function problemToServiceError(problem: ProblemBody): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set('paybound-code', problem.code);
  metadata.set('paybound-detail', asciiOnly(problem.detail, DETAIL_CHARS_MAX));
  metadata.set('paybound-problem', asciiOnly(JSON.stringify(problem), PROBLEM_CHARS_MAX));
  return { code: grpcStatusForHttp(problem.status), details: `${problem.code}: ${problem.detail}`.slice(0, DETAIL_CHARS_MAX), metadata };
}
