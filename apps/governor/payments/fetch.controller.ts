import { Body, Controller, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { PAYBOUND_PROBLEM_HEADER } from '../../../libs/platform/problem.js';
import { principalOf, type AuthenticatedRequest } from '../http/auth.guard.js';
import { parseBody } from '../http/input.js';
import { idempotencyKeyHeader } from './idempotency.js';
import { PaidFetchProblem, PayAndFetch, payAndFetchInput, type PaidFetchAnswer, type PaymentFigures } from './pay-and-fetch.js';

/** Set on an answer that repeats the first answer to its Idempotency-Key. */
export const IDEMPOTENT_REPLAY_HEADER = 'Paybound-Idempotent-Replay';

@Controller('v1/sessions')
export class FetchController {
  constructor(@Inject(PayAndFetch) private readonly payAndFetch: PayAndFetch) {}

  /** Pay-and-fetch: the seller's answer, with the payment in Paybound-* headers set after the seller's. */
  @Post(':id/fetch')
  async fetch(@Req() request: AuthenticatedRequest, @Param('id') sessionId: string, @Body() body: unknown, @Res() response: Response): Promise<void> {
    let answer: PaidFetchAnswer;
    try {
      answer = await this.payAndFetch.fetch(principalOf(request), sessionId, parseBody(payAndFetchInput, body), idempotencyKeyHeader(request.headers));
    } catch (error) {
      // The problem filter answers it; the payment it is about goes in the headers too.
      if (error instanceof PaidFetchProblem) setPaymentHeaders(response, error.payment);
      throw error;
    }
    writeAnswer(response, answer);
  }
}

function writeAnswer(response: Response, answer: PaidFetchAnswer): void {
  // Repeated headers (Set-Cookie) stay repeated.
  const byName = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of answer.headers) {
    const entry = byName.get(name.toLowerCase());
    if (entry === undefined) byName.set(name.toLowerCase(), { name, values: [value] });
    else entry.values.push(value);
  }
  for (const { name, values } of byName.values()) response.setHeader(name, values.length === 1 ? values[0]! : values);
  // Ours last: nothing the seller sent can stand in for them (its Paybound-* headers were dropped).
  if (answer.payment !== null) setPaymentHeaders(response, answer.payment);
  if (answer.replayed) response.setHeader(IDEMPOTENT_REPLAY_HEADER, 'true');
  if (answer.problemCode !== null) response.setHeader(PAYBOUND_PROBLEM_HEADER, answer.problemCode);
  response.status(answer.status).end(answer.body);
}

function setPaymentHeaders(response: Response, payment: PaymentFigures): void {
  response.setHeader('Paybound-Payment-Id', payment.id);
  if (payment.amount !== '') response.setHeader('Paybound-Amount', payment.amount);
  if (payment.remaining !== null) response.setHeader('Paybound-Remaining', payment.remaining);
}
