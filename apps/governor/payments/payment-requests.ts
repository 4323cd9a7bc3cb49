import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import type { IdempotencyClaim, Reserve } from '../../../libs/domain/budget/commands.js';
import type { LimitExceeded, Reserved } from '../../../libs/domain/budget/events.js';
import { idempotencyIndex } from '../../../libs/domain/budget/state.js';
import { formatUsdMicros, stablecoinAtomicToUsdMicros } from '../../../libs/domain/money.js';
import type { RecordedEvent } from '../../../libs/eventstore/event-store.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { X402OfferError } from '../../../libs/x402/errors.js';
import { parsePaymentRequired, type PaymentOffer, type PaymentRequiredInput, type PaymentRequirement } from '../../../libs/x402/offer.js';
import { selectRequirement } from '../../../libs/x402/select.js';
import type { AgentPrincipal } from '../http/access-keys.js';
import { Clock } from '../http/clock.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { PaymentOffers } from './payment-offers.js';
import { paymentFromReserved, ReadModels, type PaymentView } from '../agent/read-models.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';
import { WalletFunding } from './wallet-funding.js';

export interface PaymentRequestInput {
  sessionId: string;
  offer: PaymentRequiredInput;
  url: string;
  method: string;
  idempotency: IdempotencyClaim | null;
}

export interface ReservedPayment {
  payment: PaymentView;
  offer: PaymentOffer;
  requirement: PaymentRequirement;
}

/**
 * The shared first half of both payment flows (sign-only and pay-and-fetch): read the
 * seller's offer strictly, choose a requirement Paybound can pay, and reserve it on every
 * budget level. A refusal throws the 403 problem that the LimitExceeded event recorded.
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
  ) {}

  async reserve(agent: AgentPrincipal, input: PaymentRequestInput): Promise<ReservedPayment> {
    const offer = parseOffer(input.offer);
    const assets = this.config.assets;
    const selection = selectRequirement(offer, {
      supportedSchemes: ['exact'],
      supportedNetworks: [...new Set(assets.map((a) => a.network))],
      allowedAssets: assets.map((a) => a.address),
    });
    if (!selection.ok) {
      // A scheme Paybound cannot sign, or no EIP-712 domain: the offer is unusable, not disallowed.
      const { code, detail } = selection;
      if (code === 'scheme_not_supported' || code === 'eip712_domain_missing') throw new ApiProblem('bad_payment_offer', detail);
      throw new ApiProblem(code, detail);
    }
    const requirement = selection.requirement;
    const asset = assets.find((a) => a.network === requirement.network && a.address.toLowerCase() === requirement.asset.toLowerCase());
    if (asset === undefined) throw new ApiProblem('asset_not_allowed', `asset ${requirement.asset} is not configured`);
    const now = this.clock.now();
    const intentId = `pay_${randomUUID()}`;
    // Independent round trips, made at once. The worker signs from the offer's row, so it is
    // committed before the reservation it belongs to is submitted.
    const [walletAvailableAtomic] = await Promise.all([
      this.wallets.availableAtomic(requirement.network, requirement.asset),
      this.offers.rememberOffer(intentId, offer, requirement),
    ]);
    const command: Reserve = {
      type: 'Reserve',
      orgId: agent.orgId,
      actor: `agent:${agent.agentId}`,
      at: now.toISOString(),
      intentId,
      sessionId: input.sessionId,
      agentId: agent.agentId,
      amountMicros: stablecoinAtomicToUsdMicros(requirement.amountAtomic, asset.decimals),
      amountAtomic: requirement.amountAtomic,
      asset: requirement.asset,
      network: requirement.network,
      payTo: requirement.payTo,
      resource: input.url,
      validBefore: new Date(now.getTime() + requirement.maxTimeoutSeconds * 1000).toISOString(),
      method: input.method,
      idempotency: input.idempotency,
      walletAvailableAtomic,
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
    return { payment, offer, requirement };
  }
}

function parseOffer(input: PaymentRequiredInput): PaymentOffer {
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
