import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import type { Response } from 'express';
import { principalOf, type AuthenticatedRequest } from '../http/auth.guard.js';
import { parseBody } from '../http/input.js';
import type { PaymentView } from '../agent/read-models.js';
import { idempotencyKeyHeader } from './idempotency.js';
import { reportResultInput, SignOnly, signOnlyInput, type PaymentWithHeader } from './sign-only.js';

@Controller('v1')
export class PaymentsController {
  constructor(@Inject(SignOnly) private readonly signOnly: SignOnly) {}

  /**
   * Sign-only: 201 with the payment header once the settlement worker has signed; 202 with
   * status `reserved` (or `awaiting_approval`) when it has not within PAYBOUND_SIGN_WAIT_MS,
   * to be polled with GET /v1/payments/{id}, which shows the header once signed.
   */
  @Post('sessions/:id/payments')
  async request(@Req() request: AuthenticatedRequest, @Param('id') sessionId: string, @Body() body: unknown, @Res({ passthrough: true }) response: Response): Promise<PaymentWithHeader> {
    const { payment, pending } = await this.signOnly.request(principalOf(request), sessionId, parseBody(signOnlyInput, body), idempotencyKeyHeader(request.headers));
    response.status(pending ? 202 : 201);
    if (pending) response.setHeader('Location', `/v1/payments/${payment.id}`);
    return payment;
  }

  @Get('payments/:id')
  get(@Req() request: AuthenticatedRequest, @Param('id') id: string): Promise<PaymentView | PaymentWithHeader> {
    return this.signOnly.payment(principalOf(request), id);
  }

  @Post('payments/:id/result')
  @HttpCode(200)
  result(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Body() body: unknown): Promise<PaymentView> {
    return this.signOnly.report(principalOf(request), id, parseBody(reportResultInput, body));
  }
}
