import { randomUUID } from 'node:crypto';
import { Body, Controller, Get, HttpCode, Inject, Param, Post, Req, Res } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { Response } from 'express';
import { z } from 'zod';
import type { Release, Reserve } from '../../libs/domain/budget/commands.js';
import type { LimitExceeded, Reserved } from '../../libs/domain/budget/events.js';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { idempotencyIndex } from '../../libs/domain/budget/state.js';
import { formatUsdMicros, stablecoinAtomicToUsdMicros } from '../../libs/domain/money.js';
import { ApiProblem } from '../../libs/platform/problem.js';
import { X402OfferError } from '../../libs/x402/errors.js';
import { parsePaymentRequired, type PaymentOffer } from '../../libs/x402/offer.js';
import { selectRequirement } from '../../libs/x402/select.js';
import { principalOf, type AuthenticatedRequest } from './auth.guard.js';
import type { GovernorConfig } from './config.js';
import { DecideBudget } from './decide-budget.handler.js';
import { idempotencyClaim, parseBody, traceparentOf } from './http-input.js';
import { paymentFromReserved, ReadModels, type PaymentView } from './read-models.js';
import { GOVERNOR_CONFIG } from './tokens.js';

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

/** Selection refusals that mean the seller's offer is unusable rather than disallowed. */
const OFFER_PROBLEMS = new Set(['scheme_not_supported', 'eip712_domain_missing']);

@Controller('v1')
export class PaymentsController {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
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
    const offer = parseOffer(body.paymentRequired);
    const assets = this.config.assets;
    const selection = selectRequirement(offer, {
      supportedSchemes: ['exact'],
      supportedNetworks: [...new Set(assets.map((a) => a.network))],
      allowedAssets: assets.map((a) => a.address),
    });
    if (!selection.ok) {
      if (OFFER_PROBLEMS.has(selection.code)) throw new ApiProblem(502, 'bad_payment_offer', selection.detail);
      throw new ApiProblem(403, selection.code, selection.detail);
    }
    const requirement = selection.requirement;
    const asset = assets.find((a) => a.network === requirement.network && a.address.toLowerCase() === requirement.asset.toLowerCase());
    if (asset === undefined) throw new ApiProblem(403, 'asset_not_allowed', `asset ${requirement.asset} is not configured`);
    const now = new Date();
    const command: Reserve = {
      type: 'Reserve',
      orgId: agent.orgId,
      actor: `agent:${agent.agentId}`,
      at: now.toISOString(),
      intentId: `pay_${randomUUID()}`,
      sessionId,
      agentId: agent.agentId,
      amountMicros: stablecoinAtomicToUsdMicros(requirement.amountAtomic, asset.decimals),
      amountAtomic: requirement.amountAtomic,
      asset: requirement.asset,
      network: requirement.network,
      payTo: requirement.payTo,
      resource: body.url,
      validBefore: new Date(now.getTime() + requirement.maxTimeoutSeconds * 1000).toISOString(),
      policyVersion: 0,
      idempotency: idempotencyClaim(request, `POST /v1/sessions/${sessionId}/payments`, body),
    };
    const { events, view: intentId } = await this.commands.execute(
      new DecideBudget(
        command,
        (state) =>
          command.idempotency === null
            ? command.intentId
            : (state.idempotency.get(idempotencyIndex(agent.agentId, command.idempotency.key))?.entityId ?? command.intentId),
        traceparentOf(request),
      ),
    );
    const refusal = events.find((e) => e.type === 'LimitExceeded') as { data: LimitExceeded['data'] } | undefined;
    if (refusal !== undefined) throw refusalProblem(refusal.data);
    const reserved = events.find((e) => e.type === 'Reserved') as RecordedEvent<Reserved['data']> | undefined;
    // A new decision is answered from its own event; only a retry reads the projection.
    const payment = reserved !== undefined ? paymentFromReserved(reserved) : await this.reads.payment(agent.orgId, agent.agentId, intentId);
    if (payment === undefined) throw new ApiProblem(404, 'payment_not_found', `payment ${intentId} does not exist`);
    if (payment.refusal !== null) {
      const { code, level, ...figures } = payment.refusal;
      throw new ApiProblem(403, code, `payment refused at the ${level} level: ${code.replace(/_/g, ' ')}`, { level, ...figures, paymentId: intentId });
    }
    response.status(payment.status === 'reserved' ? 202 : 201);
    if (payment.status === 'reserved') response.setHeader('Location', `/v1/payments/${payment.id}`);
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

function parseOffer(input: string | Record<string, unknown>): PaymentOffer {
  try {
    return parsePaymentRequired(typeof input === 'string' && !input.trimStart().startsWith('{') ? { header: input } : { body: input });
  } catch (error) {
    if (error instanceof X402OfferError) throw new ApiProblem(502, 'bad_payment_offer', error.message);
    throw error;
  }
}

export function refusalProblem(refusal: LimitExceeded['data']): ApiProblem {
  const figures = {
    level: refusal.level,
    limit: refusal.limitMicros === null ? null : formatUsdMicros(refusal.limitMicros),
    requested: formatUsdMicros(refusal.requestedMicros),
    remaining: refusal.remainingMicros === null ? null : formatUsdMicros(refusal.remainingMicros),
    paymentId: refusal.intentId,
  };
  return new ApiProblem(403, refusal.code, `payment refused at the ${refusal.level} level: ${refusal.code.replace(/_/g, ' ')}`, figures);
}
