import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { BadRequestException, HttpException, NotFoundException, PayloadTooLargeException, type ArgumentsHost } from '@nestjs/common';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DomainError } from '../../../libs/domain/budget/errors.js';
import { parseUsdMicros } from '../../../libs/domain/money.js';
import { ERROR_CODES, isDomainErrorCode, type ErrorCode } from '../../../libs/platform/error-catalogue.js';
import { ApiProblem, type ProblemBody } from '../../../libs/platform/problem.js';
import { usdAmountField } from './input.js';
import { GrpcProblems } from '../grpc/grpc-errors.js';
import { ProblemFilter } from './problem.filter.js';

// Every code, in precedence order, with the HTTP and gRPC status a client gets: written out
// here by hand, so that a status changed in the catalogue (or a code added, dropped or moved)
// fails this table until someone decides it on purpose.
const EXPECTED: readonly (readonly [ErrorCode, number, keyof typeof grpcStatus])[] = [
  ['payload_too_large', 413, 'RESOURCE_EXHAUSTED'],
  ['unsupported_media_type', 415, 'INVALID_ARGUMENT'],
  ['invalid_json', 400, 'INVALID_ARGUMENT'],
  ['not_found', 404, 'NOT_FOUND'],
  ['unauthenticated', 401, 'UNAUTHENTICATED'],
  ['invalid_api_key', 401, 'UNAUTHENTICATED'],
  ['forbidden', 403, 'PERMISSION_DENIED'],
  ['invalid_request', 400, 'INVALID_ARGUMENT'],
  ['invalid_amount', 400, 'INVALID_ARGUMENT'],
  ['invalid_idempotency_key', 400, 'INVALID_ARGUMENT'],
  ['invalid_if_match', 400, 'INVALID_ARGUMENT'],
  ['precondition_required', 428, 'FAILED_PRECONDITION'],
  ['destination_not_allowed', 403, 'PERMISSION_DENIED'],
  ['org_not_found', 404, 'NOT_FOUND'],
  ['team_not_found', 404, 'NOT_FOUND'],
  ['agent_not_found', 404, 'NOT_FOUND'],
  ['session_not_found', 404, 'NOT_FOUND'],
  ['payment_not_found', 404, 'NOT_FOUND'],
  ['webhook_endpoint_not_found', 404, 'NOT_FOUND'],
  ['shadow_policy_not_found', 404, 'NOT_FOUND'],
  ['webhook_delivery_not_found', 404, 'NOT_FOUND'],
  ['admin_key_not_found', 404, 'NOT_FOUND'],
  ['mcp_server_not_found', 404, 'NOT_FOUND'],
  ['mcp_tool_not_found', 404, 'NOT_FOUND'],
  ['bad_payment_offer', 502, 'UNAVAILABLE'],
  ['overloaded', 503, 'UNAVAILABLE'],
  ['projection_stalled', 503, 'UNAVAILABLE'],
  ['idempotency_key_reused', 422, 'FAILED_PRECONDITION'],
  ['org_already_exists', 409, 'ABORTED'],
  ['team_already_exists', 409, 'ABORTED'],
  ['agent_already_exists', 409, 'ABORTED'],
  ['session_already_exists', 409, 'ABORTED'],
  ['too_many_open_sessions', 429, 'RESOURCE_EXHAUSTED'],
  ['policy_version_mismatch', 412, 'FAILED_PRECONDITION'],
  ['intent_conflict', 409, 'ABORTED'],
  ['invalid_command', 400, 'INVALID_ARGUMENT'],
  ['agent_frozen', 403, 'PERMISSION_DENIED'],
  ['session_closed', 403, 'PERMISSION_DENIED'],
  ['session_expired', 403, 'PERMISSION_DENIED'],
  ['session_limit_exceeded', 403, 'PERMISSION_DENIED'],
  ['domain_not_allowed', 403, 'PERMISSION_DENIED'],
  ['network_not_allowed', 403, 'PERMISSION_DENIED'],
  ['asset_not_allowed', 403, 'PERMISSION_DENIED'],
  ['payee_not_allowed', 403, 'PERMISSION_DENIED'],
  ['price_above_max', 403, 'PERMISSION_DENIED'],
  ['loop_detected', 403, 'PERMISSION_DENIED'],
  ['rate_limited', 403, 'PERMISSION_DENIED'],
  ['agent_limit_exceeded', 403, 'PERMISSION_DENIED'],
  ['team_limit_exceeded', 403, 'PERMISSION_DENIED'],
  ['org_limit_exceeded', 403, 'PERMISSION_DENIED'],
  ['wallet_insufficient_funds', 403, 'PERMISSION_DENIED'],
  ['permit2_allowance_missing', 403, 'PERMISSION_DENIED'],
  ['approval_required', 403, 'PERMISSION_DENIED'],
  ['approval_already_decided', 409, 'ABORTED'],
  ['payment_already_signed', 409, 'ABORTED'],
  ['payment_not_signed', 503, 'UNAVAILABLE'],
  ['payment_not_sent', 503, 'UNAVAILABLE'],
  ['payment_already_used', 409, 'ABORTED'],
  ['intent_already_settled', 409, 'ABORTED'],
  ['intent_already_refunded', 409, 'ABORTED'],
  ['settle_exceeds_reserved', 422, 'FAILED_PRECONDITION'],
  ['release_not_proven', 409, 'ABORTED'],
  ['webhook_endpoints_limit_reached', 409, 'ABORTED'],
  ['webhook_endpoint_disabled', 409, 'ABORTED'],
  ['webhook_delivery_already_delivered', 409, 'ABORTED'],
  ['admin_key_already_exists', 409, 'ABORTED'],
  ['mcp_server_already_registered', 409, 'ABORTED'],
  ['upstream_unreachable', 502, 'UNAVAILABLE'],
  ['upstream_bad_response', 502, 'UNAVAILABLE'],
  ['upstream_timeout', 504, 'DEADLINE_EXCEEDED'],
  ['upstream_response_too_large', 502, 'UNAVAILABLE'],
  ['mcp_upstream_protocol_error', 502, 'UNAVAILABLE'],
  ['bad_tool_result', 502, 'UNAVAILABLE'],
  ['upstream_payment_rejected', 502, 'UNAVAILABLE'],
  ['too_many_streams', 503, 'UNAVAILABLE'],
  ['too_many_watchers', 429, 'RESOURCE_EXHAUSTED'],
  ['not_ready', 503, 'UNAVAILABLE'],
  ['unavailable', 503, 'UNAVAILABLE'],
  ['dashboard_missing', 500, 'INTERNAL'],
  ['internal_error', 500, 'INTERNAL'],
];

const logger = pino({ level: 'silent' });
const filter = new ProblemFilter(logger);
const grpc = new GrpcProblems(logger);

/** What the filter wrote: the status, the content type, the Paybound-Problem header, Retry-After and the parsed body. */
function answerOf(error: unknown): { status: number; contentType: string; problemHeader: string; body: ProblemBody; retryAfter: string | undefined } {
  const answer = { status: 0, contentType: '', problemHeader: '', text: '', retryAfter: undefined as string | undefined };
  const response = {
    headersSent: false,
    hasHeader: () => false,
    setHeader: (name: string, value: string) => {
      if (name === 'Paybound-Problem') answer.problemHeader = value;
      if (name === 'Retry-After') answer.retryAfter = value;
      return response;
    },
    status: (status: number) => ((answer.status = status), response),
    type: (contentType: string) => ((answer.contentType = contentType), response),
    send: (text: string) => ((answer.text = text), response),
  };
  filter.catch(error, { switchToHttp: () => ({ getResponse: () => response }) } as unknown as ArgumentsHost);
  return { status: answer.status, contentType: answer.contentType, problemHeader: answer.problemHeader, body: JSON.parse(answer.text) as ProblemBody, retryAfter: answer.retryAfter };
}

function grpcOf(error: unknown): { code: number | undefined; payboundCode: unknown } {
  const serviceError: Partial<ServiceError> = grpc.toServiceError(error);
  return { code: serviceError.code, payboundCode: serviceError.metadata?.get('paybound-code')[0] };
}

describe('every error code, walked to its HTTP and gRPC status', () => {
  it('lists every code of the catalogue, in its precedence order', () => {
    expect(EXPECTED.map(([code]) => code)).toEqual(ERROR_CODES);
  });

  it.each(EXPECTED)('%s answers HTTP %i and gRPC %s', (code, httpStatus, grpcName) => {
    const http = answerOf(new ApiProblem(code, 'detail'));
    expect(http).toEqual({
      status: httpStatus,
      contentType: 'application/problem+json',
      problemHeader: code,
      body: expect.objectContaining({ status: httpStatus, code, detail: 'detail' }) as unknown,
      // Every "try again later" says when.
      retryAfter: httpStatus === 503 || httpStatus === 429 ? '1' : undefined,
    });
    expect(grpcOf(new ApiProblem(code, 'detail'))).toEqual({ code: grpcStatus[grpcName], payboundCode: code });
    // A domain code answers the same whether the domain threw it or the API did.
    if (isDomainErrorCode(code)) {
      expect(answerOf(new DomainError(code, 'from the domain'))).toMatchObject({ status: httpStatus, body: { status: httpStatus, code, detail: 'from the domain' } });
      expect(grpcOf(new DomainError(code, 'from the domain'))).toEqual({ code: grpcStatus[grpcName], payboundCode: code });
    }
  });

  it('gives the errors that are not ours a code of the catalogue', () => {
    const invalid = z.object({ limit: z.string() }).safeParse({ limit: 1 });
    expect(invalid.success).toBe(false);
    expect(answerOf(invalid.error)).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'limit' } });
    let moneyError: unknown;
    try {
      parseUsdMicros('1.2.3');
    } catch (error) {
      moneyError = error;
    }
    expect(answerOf(moneyError)).toMatchObject({ status: 400, body: { code: 'invalid_amount' } });
    const amount = z.object({ limit: usdAmountField }).safeParse({ limit: '10000000000000' });
    expect(amount.success).toBe(false);
    expect(answerOf(amount.error)).toMatchObject({ status: 400, body: { code: 'invalid_amount', field: 'limit' } });
    expect(answerOf(new NotFoundException())).toMatchObject({ status: 404, body: { code: 'not_found', detail: 'no such route' } });
    expect(answerOf(new PayloadTooLargeException('request entity too large'))).toMatchObject({ status: 413, body: { code: 'payload_too_large' } });
    expect(answerOf(new HttpException('unsupported content encoding "compress"', 415))).toMatchObject({ status: 415, body: { code: 'unsupported_media_type' } });
    // The router's 400 is a path it could not decode.
    expect(answerOf(new BadRequestException("Failed to decode param '%E0'"))).toMatchObject({ status: 400, body: { code: 'invalid_request', field: 'path' } });
    expect(answerOf(new HttpException('stream encoding should not be set', 500))).toMatchObject({ status: 500, body: { code: 'internal_error' } });
    expect(answerOf(new Error('a bug'))).toMatchObject({ status: 500, body: { code: 'internal_error' } });
    // The database failing is the deployment's trouble, not the caller's: 503 with Retry-After.
    const stalled = [
      new Error('Query read timeout'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
      Object.assign(new Error('canceling statement due to statement timeout'), { code: '57014' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P03' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('batch failed', { cause: Object.assign(new Error('terminating connection due to idle-in-transaction timeout'), { code: '25P03' }) }),
    ];
    for (const error of stalled) expect(answerOf(error), error.message).toMatchObject({ status: 503, body: { code: 'unavailable' }, retryAfter: '1' });
    // A query the database refused as wrong is a bug, not an outage.
    expect(answerOf(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' }))).toMatchObject({ status: 500 });
    expect(grpcOf(new Error('a bug'))).toEqual({ code: grpcStatus.INTERNAL, payboundCode: 'internal_error' });
  });
});
