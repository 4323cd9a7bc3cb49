import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import { z } from 'zod';
import type { Release } from '../../libs/domain/budget/commands.js';
import { ApiProblem } from '../../libs/platform/problem.js';
import { principalOf, type AuthenticatedRequest } from './auth.guard.js';
import { DecideBudget } from './decide-budget.handler.js';
import { idempotencyClaim, parseBody, traceparentOf } from './http-input.js';
import { PaymentRequests } from './payment-requests.js';
import { ReadModels, type PaymentView } from './read-models.js';

const requestPaymentBody = z
  .object({
    paymentRequired: z.union([z.string().min(1).max(64 * 1024), z.record(z.string(), z.unknown())]),
    url: z.string().max(2048).url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL'),
    method: z.string().regex(/^[A-Z]{3,7}$/).default('GET'),
  })
  .strict();

const reportResultBody = z
  .object({
    status: z.number().int().min(100).max(599),
    paymentResponse: z.string().max(16 * 1024).optional(),
  })
  .strict();

@Controller('v1')
export class PaymentsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(PaymentRequests) private readonly payments: PaymentRequests,
  ) {}

  /**
   * Sign-only: the runtime makes the HTTP call, Paybound decides and holds the money. The
   * answer carries the payment header once the settlement worker has signed; if it has not
   * within the wait, 202 with status `reserved`, to be polled with GET /v1/payments/{id}.
   */
  @Post('sessions/:id/payments')
  async request(
    @Req() request: AuthenticatedRequest,
    @Param('id') sessionId: string,
    @Body() rawBody: unknown,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PaymentView & { header: { name: string; value: string } | null }> {
    const agent = principalOf(request);
    const body = parseBody(requestPaymentBody, rawBody);
    const { payment } = await this.payments.reserve(agent, {
      sessionId,
      offer: typeof body.paymentRequired === 'string' && !body.paymentRequired.trimStart().startsWith('{') ? { header: body.paymentRequired } : { body: body.paymentRequired },
      url: body.url,
      method: body.method,
      idempotency: idempotencyClaim(request, `POST /v1/sessions/${sessionId}/payments`, body),
      traceparent: traceparentOf(request),
    });
    // Not signed yet (no signature in time, or waiting for an admin): poll the payment.
    const pending = payment.status === 'reserved' || payment.status === 'awaiting_approval';
    response.status(pending ? 202 : 201);
    if (pending) response.setHeader('Location', `/v1/payments/${payment.id}`);
    return { ...payment, header: null };
  }

  @Get('payments/:id')
  async get(@Req() request: AuthenticatedRequest, @Param('id') id: string): Promise<PaymentView> {
    const agent = principalOf(request);
    const payment = await this.reads.payment(agent.orgId, agent.agentId, id);
    if (payment === undefined) throw new ApiProblem(404, 'payment_not_found', `payment ${id.slice(0, 80)} does not exist`);
    return payment;
  }

  /**
   * The runtime's report of the seller's answer. A refusal of a payment that was never
   * signed releases the hold at once: an authorization that does not exist cannot execute.
   */
  @Post('payments/:id/result')
  @HttpCode(200)
  async result(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Body() rawBody: unknown): Promise<PaymentView> {
    const agent = principalOf(request);
    const body = parseBody(reportResultBody, rawBody);
    const payment = await this.get(request, id);
    if (body.status >= 400 && payment.status === 'reserved') {
      const command: Release = {
        type: 'Release',
        orgId: agent.orgId,
        actor: `agent:${agent.agentId}`,
        at: new Date().toISOString(),
        intentId: id,
        reason: `seller_answered_${body.status}`,
        proof: { kind: 'never_signed' },
      };
      await this.commands.execute(new DecideBudget(command, () => undefined, traceparentOf(request)));
    }
    return this.get(request, id);
  }
}

