import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import { z } from 'zod';
import type { Release, ReportOutcome } from '../../../libs/domain/budget/commands.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { signedValidBeforeSec } from '../../../libs/settlement/authorization.js';
import { sellerOutcome } from '../../../libs/settlement/outcome.js';
import type { PaymentHeader } from '../../../libs/x402/headers.js';
import { principalOf, type AuthenticatedRequest } from '../http/auth.guard.js';
import { Clock } from '../http/clock.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { idempotencyClaim, parseBody } from '../http/input.js';
import { PaymentRequests } from './payment-requests.js';
import { PaymentSignatures } from './payment-signatures.js';
import { ReadModels, type PaymentView } from '../agent/read-models.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';

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

/** A payment as the agent sees it, with the header to send once it is signed. */
export type PaymentWithHeader = PaymentView & { header: PaymentHeader | null };

@Controller('v1')
export class PaymentsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(PaymentRequests) private readonly payments: PaymentRequests,
    @Inject(PaymentSignatures) private readonly signatures: PaymentSignatures,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /**
   * Sign-only: the runtime makes the HTTP call, Paybound decides and holds the money. The
   * answer carries the payment header once the settlement worker has signed; if it has not
   * within PAYBOUND_SIGN_WAIT_MS, 202 with status `reserved`, to be polled with GET
   * /v1/payments/{id}, which shows the header once signed.
   */
  @Post('sessions/:id/payments')
  async request(
    @Req() request: AuthenticatedRequest,
    @Param('id') sessionId: string,
    @Body() rawBody: unknown,
    @Res({ passthrough: true }) response: Response,
  ): Promise<PaymentWithHeader> {
    const agent = principalOf(request);
    const body = parseBody(requestPaymentBody, rawBody);
    const { payment } = await this.payments.reserve(agent, {
      sessionId,
      offer: typeof body.paymentRequired === 'string' && !body.paymentRequired.trimStart().startsWith('{') ? { header: body.paymentRequired } : { body: body.paymentRequired },
      url: body.url,
      method: body.method,
      idempotency: idempotencyClaim(request, `POST /v1/sessions/${sessionId}/payments`, body),
    });
    let header: PaymentHeader | undefined;
    if (payment.status === 'reserved') {
      const waited = await this.signatures.waitFor(payment.id, this.config.signWaitMs);
      if (waited.kind === 'signed') header = waited.header;
    } else if (payment.status !== 'awaiting_approval') {
      // A retry with the same Idempotency-Key of a payment signed since.
      header = await this.signatures.headerFor(payment.id);
    }
    if (header === undefined) {
      // Not signed yet (no signature in time, or waiting for an admin): poll the payment.
      const current = payment.status === 'reserved' || payment.status === 'awaiting_approval' ? payment : ((await this.reads.payment(agent.orgId, agent.agentId, payment.id)) ?? payment);
      const pending = current.status === 'reserved' || current.status === 'awaiting_approval';
      response.status(pending ? 202 : 201);
      if (pending) response.setHeader('Location', `/v1/payments/${payment.id}`);
      return { ...current, header: null };
    }
    response.status(201);
    return {
      ...payment,
      status: payment.status === 'reserved' ? 'signed' : payment.status,
      validBefore: payment.validBefore === null ? null : new Date(signedValidBeforeSec(payment.validBefore) * 1000).toISOString(),
      header,
    };
  }

  /** The payment; while it is signed and unreported, with the header to send. */
  @Get('payments/:id')
  async get(@Req() request: AuthenticatedRequest, @Param('id') id: string): Promise<PaymentView | PaymentWithHeader> {
    const payment = await this.payment(request, id);
    if (payment.status !== 'signed') return payment;
    return { ...payment, header: (await this.signatures.headerFor(payment.id)) ?? null };
  }

  /**
   * The runtime's report of the seller's answer. A refusal of a payment that was never
   * signed releases the hold at once: an authorization that does not exist cannot execute.
   * For a signed payment the report is recorded and nothing is released here: the settlement
   * worker settles it from the chain, or releases it once the authorization expired unused.
   */
  @Post('payments/:id/result')
  @HttpCode(200)
  async result(@Req() request: AuthenticatedRequest, @Param('id') id: string, @Body() rawBody: unknown): Promise<PaymentView> {
    const agent = principalOf(request);
    const body = parseBody(reportResultBody, rawBody);
    const payment = await this.payment(request, id);
    const at = this.clock.now().toISOString();
    if (body.status >= 400 && payment.status === 'reserved') {
      const command: Release = {
        type: 'Release',
        orgId: agent.orgId,
        actor: `agent:${agent.agentId}`,
        at,
        intentId: id,
        reason: `seller_answered_${body.status}`,
        proof: { kind: 'never_signed' },
      };
      await this.commands.execute(new DecideBudget(command, () => undefined));
    } else if (payment.status === 'signed' || payment.status === 'unknown') {
      const { outcome, transaction, detail } = sellerOutcome(body.status, body.paymentResponse);
      const command: ReportOutcome = { type: 'ReportOutcome', orgId: agent.orgId, actor: `agent:${agent.agentId}`, at, intentId: id, outcome, transaction, detail };
      await this.commands.execute(new DecideBudget(command, () => undefined));
    }
    return this.payment(request, id);
  }

  private async payment(request: AuthenticatedRequest, id: string): Promise<PaymentView> {
    const agent = principalOf(request);
    const payment = await this.reads.payment(agent.orgId, agent.agentId, id);
    if (payment === undefined) throw new ApiProblem('payment_not_found', `payment ${id.slice(0, 80)} does not exist`);
    return payment;
  }
}
