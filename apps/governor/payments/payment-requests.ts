import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { IdempotencyClaim, Reserve } from '../../../libs/domain/budget/commands.js';
import type { LimitExceeded, Reserved } from '../../../libs/domain/budget/events.js';
import { idempotencyIndex } from '../../../libs/domain/budget/state.js';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import type { RecordedEvent } from '../../../libs/eventstore/event-store.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { X402OfferError } from '../../../libs/x402/errors.js';
import type { PaymentOption } from '../../../libs/rails/options.js';
import { parsePaymentRequired, type PaymentOffer, type PaymentRequiredInput } from '../../../libs/x402/offer.js';
import type { AgentPrincipal } from '../http/access-keys.js';
import { Clock } from '../http/clock.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { PaymentOffers } from './payment-offers.js';
import { paymentFromReserved, ReadModels, type PaymentView } from '../agent/read-models.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';
import { PaymentRails } from './payment-rails.js';
import { collectRailOptions, RailChoices } from './rail-choice.js';
import { WalletFunding } from './wallet-funding.js';

/**
 * How long an MPP `authorization` may stay executable when its challenge expires later (or
 * never): the challenge names no timeout of its own, as an x402 requirement does.
 */
const MPP_AUTHORIZATION_WINDOW_SEC = 300;

export interface ReserveInput {
  sessionId: string;
  /** Every option of the seller's 402 (collectRailOptions): exactly one is chosen and reserved. */
  options: ReturnType<typeof collectRailOptions>;
  /** The body the paid request carries: an MPP challenge's `digest` must match it. */
  requestBody?: string | undefined;
  url: string;
  method: string;
  idempotency: IdempotencyClaim | null;
  /** The most the request agrees to pay; the domain refuses above it (price_above_max, level `request`). */
  maxPriceMicros: bigint | null;
  /** Pay-and-fetch: the URL Paybound fetched the offer from, which may describe it in the catalog once paid. */
  fetchedUrl: string | null;
  /** What the loop guard counts as the same request, when more than method and URL (an MCP tool call: tool and arguments). */
  loopKey?: string;
}

export interface ReservedPayment {
  payment: PaymentView;
  /** The option chosen among the 402's (for a retry, the one this call would have chosen). */
  option: PaymentOption;
  /** False when the Idempotency-Key named a payment decided before: this call reserved nothing. */
  created: boolean;
}

/**
 * The shared first half of every payment use case (sign-only, pay-and-fetch): choose the
 * requirement this deployment can pay, and reserve it on every budget level. A refusal
 * throws the 403 problem that the LimitExceeded event recorded.
 */
@Injectable()
export class PaymentRequests {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(PaymentOffers) private readonly offers: PaymentOffers,
    @Inject(WalletFunding) private readonly wallets: WalletFunding,
    @Inject(RailChoices) private readonly rails: RailChoices,
    @Inject(PaymentRails) private readonly railRows: PaymentRails,
  ) {}

  async reserve(agent: AgentPrincipal, input: ReserveInput): Promise<ReservedPayment> {
    // Nothing is reserved for an option the worker could not sign: refused here, not released later.
    const chosen = await this.rails.choose(input.options, input.requestBody);
    const { option, asset } = chosen;
    const now = this.clock.now();
    const intentId = `pay_${randomUUID()}`;
    // Independent round trips, made at once. The worker signs from the offer's rows, so they
    // are committed before the reservation they belong to is submitted.
    const [walletAvailableAtomic] = await Promise.all([
      this.wallets.availableAtomic(option.network, option.asset),
      option.source.kind === 'x402' ? this.offers.rememberOffer(intentId, option.source.offer, option.source.requirement, input.fetchedUrl) : Promise.resolve(),
      this.railRows.remember(intentId, option, asset, chosen.rail),
    ]);
    const timeoutSec = option.source.kind === 'x402' ? option.source.requirement.maxTimeoutSeconds : MPP_AUTHORIZATION_WINDOW_SEC;
    const command: Reserve = {
      type: 'Reserve',
      orgId: agent.orgId,
      actor: `agent:${agent.agentId}`,
      at: now.toISOString(),
      intentId,
      sessionId: input.sessionId,
      agentId: agent.agentId,
      amountMicros: chosen.usdMicros,
      amountAtomic: option.maxAmountAtomic,
      asset: option.asset,
      network: option.network,
      payTo: option.payTo,
      resource: input.url,
      validBefore: new Date(Math.min(now.getTime() + timeoutSec * 1000, option.expiresAtMs ?? Number.POSITIVE_INFINITY)).toISOString(),
      method: input.method,
      idempotency: input.idempotency,
      walletAvailableAtomic,
      maxPriceMicros: input.maxPriceMicros,
      rail: chosen.rail,
      ...(chosen.rail.transfer === 'permit2' ? { permit2AllowanceAtomic: chosen.permit2AllowanceAtomic } : {}),
      ...(input.loopKey === undefined ? {} : { loopKey: input.loopKey }),
    };
    const { events, view: decidedIntentId } = await this.commands.execute(
      new DecideBudget(
        command,
        (state) =>
          command.idempotency === null
            ? command.intentId
            : (state.idempotency.get(idempotencyIndex(agent.agentId, command.idempotency.key))?.entityId ?? command.intentId),
      ),
    );
    const refusal = events.find((e) => e.type === 'LimitExceeded') as { data: LimitExceeded['data'] } | undefined;
    if (refusal !== undefined) throw refusalProblem(refusal.data);
    const reserved = events.find((e) => e.type === 'Reserved' || e.type === 'ApprovalRequested') as RecordedEvent<Reserved['data']> | undefined;
    // A new decision is answered from its own event; only a retry reads the projection.
    const payment = reserved !== undefined ? paymentFromReserved(reserved) : await this.reads.payment(agent.orgId, agent.agentId, decidedIntentId);
    if (payment === undefined) throw new ApiProblem('payment_not_found', `payment ${decidedIntentId} does not exist`);
    if (payment.refusal !== null) {
      const { code, level, ...figures } = payment.refusal;
      throw new ApiProblem(code, `payment refused at the ${level} level: ${code.replace(/_/g, ' ')}`, { level, ...figures, paymentId: decidedIntentId });
    }
    return { payment, option, created: reserved !== undefined };
  }
}

/** Reads a seller's offer strictly; anything it cannot vouch for is 502 bad_payment_offer. */
export function parseOffer(input: PaymentRequiredInput): PaymentOffer {
  try {
    return parsePaymentRequired(input);
  } catch (error) {
    if (error instanceof X402OfferError) throw new ApiProblem('bad_payment_offer', error.message);
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
  return new ApiProblem(refusal.code, `payment refused at the ${refusal.level} level: ${refusal.code.replace(/_/g, ' ')}`, figures);
}
