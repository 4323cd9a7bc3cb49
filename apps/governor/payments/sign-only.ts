import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { z } from 'zod';
import type { Release, ReportOutcome } from '../../../libs/domain/budget/commands.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { signedValidBeforeSec } from '../../../libs/settlement/authorization.js';
import { sellerOutcome } from '../../../libs/settlement/outcome.js';
import type { PaymentHeader } from '../../../libs/x402/headers.js';
import type { PaymentOffer } from '../../../libs/x402/offer.js';
import type { AgentPrincipal } from '../http/access-keys.js';
import { Clock } from '../http/clock.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { ReadModels, type PaymentView } from '../agent/read-models.js';
import { idempotencyClaim } from './idempotency.js';
import { httpMethod, paymentUrl } from './inputs.js';
import { parseOffer, PaymentRequests } from './payment-requests.js';
import { PaymentSignatures } from './payment-signatures.js';

// Sign-only: the runtime makes the HTTP call itself; Paybound decides, holds the money, and
// hands back the payment header once the settlement worker has signed. Then the runtime
// reports what the seller answered. Alike for REST, gRPC and MCP.

export const signOnlyInput = z
  .object({
    /** The raw PAYMENT-REQUIRED header value (v2), or the v1 402 body as JSON text or object. */
    paymentRequired: z.union([z.string().min(1).max(64 * 1024), z.record(z.string(), z.unknown())]),
    url: paymentUrl,
    method: httpMethod.default('GET'),
  })
  .strict();

export type SignOnlyInput = z.infer<typeof signOnlyInput>;

export const reportResultInput = z
  .object({
    status: z.number().int().min(100).max(599),
    paymentResponse: z.string().max(16 * 1024).optional(),
  })
  .strict();

export type ReportResultInput = z.infer<typeof reportResultInput>;

/** A payment as the agent sees it, with the header to send once it is signed. */
export type PaymentWithHeader = PaymentView & { header: PaymentHeader | null };

export interface SignOnlyAnswer {
  payment: PaymentWithHeader;
  /** Not signed yet (no signature in time, or waiting for an admin): poll the payment. */
  pending: boolean;
}

@Injectable()
export class SignOnly {
  constructor(
    @Inject(CommandBus) private readonly commands: CommandBus,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(PaymentRequests) private readonly payments: PaymentRequests,
    @Inject(PaymentSignatures) private readonly signatures: PaymentSignatures,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /**
   * Decides the payment and waits up to PAYBOUND_SIGN_WAIT_MS for the worker's header. With
   * a key, a retry over any transport answers the same payment and never reserves twice.
   */
  async request(agent: AgentPrincipal, sessionId: string, input: SignOnlyInput, idempotencyKey: string | null): Promise<SignOnlyAnswer> {
    const offer = parseOffer(typeof input.paymentRequired === 'string' ? input.paymentRequired : { body: input.paymentRequired });
    const { payment } = await this.payments.reserve(agent, {
      sessionId,
      offer,
      url: input.url,
      method: input.method,
      idempotency: idempotencyClaim(idempotencyKey, 'sign_only', { sessionId, url: input.url, method: input.method, offer: offerIdentity(offer) }),
      maxPriceMicros: null,
      fetchedUrl: null,
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
      const current = payment.status === 'reserved' || payment.status === 'awaiting_approval' ? payment : ((await this.reads.payment(agent.orgId, agent.agentId, payment.id)) ?? payment);
      return { payment: { ...current, header: null }, pending: current.status === 'reserved' || current.status === 'awaiting_approval' };
    }
    return {
      payment: {
        ...payment,
        status: payment.status === 'reserved' ? 'signed' : payment.status,
        validBefore: payment.validBefore === null ? null : new Date(signedValidBeforeSec(payment.validBefore) * 1000).toISOString(),
        header,
      },
      pending: false,
    };
  }

  /** The payment; while it is signed and unreported, with the header to send. */
  async payment(agent: AgentPrincipal, paymentId: string): Promise<PaymentView | PaymentWithHeader> {
    const payment = await this.existing(agent, paymentId);
    if (payment.status !== 'signed') return payment;
    return { ...payment, header: (await this.signatures.headerFor(payment.id)) ?? null };
  }

  /**
   * The runtime's report of the seller's answer. A refusal of a payment that was never
   * signed releases the hold at once: an authorization that does not exist cannot execute.
   * For a signed payment the report is recorded and nothing is released here: the settlement
   * worker settles it from the chain, or releases it once the authorization expired unused.
   */
  async report(agent: AgentPrincipal, paymentId: string, input: ReportResultInput): Promise<PaymentView> {
    const payment = await this.existing(agent, paymentId);
    const at = this.clock.now().toISOString();
    const actor = `agent:${agent.agentId}`;
    if (input.status >= 400 && payment.status === 'reserved') {
      const command: Release = { type: 'Release', orgId: agent.orgId, actor, at, intentId: paymentId, reason: `seller_answered_${input.status}`, proof: { kind: 'never_signed' } };
      await this.commands.execute(new DecideBudget(command, () => undefined));
    } else if (payment.status === 'signed' || payment.status === 'unknown') {
      const command: ReportOutcome = { type: 'ReportOutcome', orgId: agent.orgId, actor, at, intentId: paymentId, ...sellerOutcome(input.status, input.paymentResponse) };
      await this.commands.execute(new DecideBudget(command, () => undefined));
    }
    return this.existing(agent, paymentId);
  }

  private async existing(agent: AgentPrincipal, paymentId: string): Promise<PaymentView> {
    const payment = await this.reads.payment(agent.orgId, agent.agentId, paymentId);
    if (payment === undefined) throw new ApiProblem('payment_not_found', `payment ${paymentId.slice(0, 80)} does not exist`);
    return payment;
  }
}

/**
 * What makes two offers the same payment: the seller's objects as received, whatever
 * encoding carried them (a v2 header, a v1 body as text or as an object).
 */
function offerIdentity(offer: PaymentOffer): unknown {
  return { x402Version: offer.x402Version, resource: offer.resourceRaw ?? offer.resource ?? null, accepts: offer.requirements.map((r) => r.raw), extensions: offer.extensions ?? null };
}
