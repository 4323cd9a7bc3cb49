import { Inject, Injectable } from '@nestjs/common';
import { CommandBus } from '@nestjs/cqrs';
import { z } from 'zod';
import type { Release, ReportOutcome } from '../../../libs/domain/budget/commands.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { signedValidBeforeSec } from '../../../libs/settlement/authorization.js';
import { formatUsdMicros, stablecoinAtomicToUsdMicros } from '../../../libs/domain/money.js';
import { PAYMENT_RECEIPT_HEADER, parsePaymentReceipt } from '../../../libs/mpp/receipt.js';
import { railOutcome } from '../../../libs/settlement/rail-outcome.js';
import { PAYMENT_RESPONSE_HEADER, parsePaymentResponse } from '../../../libs/x402/headers.js';
import { PaymentRails } from './payment-rails.js';
import type { PaymentHeader } from '../../../libs/x402/headers.js';
import type { AgentPrincipal } from '../http/access-keys.js';
import { Clock } from '../http/clock.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';
import type { GovernorConfig } from '../config.js';
import { DecideBudget } from '../decide-budget.handler.js';
import { ReadModels, type PaymentView } from '../agent/read-models.js';
import { idempotencyClaim } from './idempotency.js';
import { httpMethod, paymentUrl } from './inputs.js';
import { PaymentRequests } from './payment-requests.js';
import { collectRailOptions, type PaymentRequiredAnswer } from './rail-choice.js';
import { PaymentSignatures } from './payment-signatures.js';

// Sign-only: the runtime makes the HTTP call itself; Paybound decides, holds the money, and
// hands back the payment header once the settlement worker has signed. Then the runtime
// reports what the seller answered. Alike for REST, gRPC and MCP.

const HEADER_VALUE_CHARS_MAX = 64 * 1024;
const SELLER_HEADERS_MAX = 64;

export const signOnlyInput = z
  .object({
    /** The raw PAYMENT-REQUIRED header value (v2), or the v1 402 body as JSON text or object. */
    paymentRequired: z.union([z.string().min(1).max(HEADER_VALUE_CHARS_MAX), z.record(z.string(), z.unknown())]).optional(),
    /** MPP: the seller's `WWW-Authenticate` values as received. */
    challenges: z.array(z.string().min(1).max(HEADER_VALUE_CHARS_MAX)).min(1).max(16).optional(),
    /** The seller's whole 402: its status and headers (name → value, or values). */
    response: z
      .object({
        status: z.literal(402),
        headers: z
          .record(z.string().min(1).max(128), z.union([z.string().max(HEADER_VALUE_CHARS_MAX), z.array(z.string().max(HEADER_VALUE_CHARS_MAX)).max(16)]))
          .refine((headers) => Object.keys(headers).length <= SELLER_HEADERS_MAX, `at most ${SELLER_HEADERS_MAX} headers`),
        body: z.union([z.string().max(HEADER_VALUE_CHARS_MAX), z.record(z.string(), z.unknown())]).optional(),
      })
      .strict()
      .optional(),
    /** The body the runtime will send with the paid request: an MPP challenge's `digest` is checked against it. */
    body: z.string().max(64 * 1024).optional(),
    url: paymentUrl,
    method: httpMethod.default('GET'),
  })
  .strict()
  .refine((input) => [input.paymentRequired, input.challenges, input.response].filter((given) => given !== undefined).length === 1, {
    message: 'give exactly one of paymentRequired, challenges or response',
    path: ['paymentRequired'],
  });

export type SignOnlyInput = z.infer<typeof signOnlyInput>;

export const reportResultInput = z
  .object({
    status: z.number().int().min(100).max(599),
    paymentResponse: z.string().max(16 * 1024).optional(),
    /** MPP: the seller's `Payment-Receipt` value. */
    paymentReceipt: z.string().max(8 * 1024).optional(),
  })
  .strict();

export type ReportResultInput = z.infer<typeof reportResultInput>;

/** A payment as the agent sees it, with the header to send once it is signed. */
export type PaymentWithHeader = PaymentView & RailFields & { header: PaymentHeader | null };

/** What API.md's rails row adds to a payment: how it is paid, and what the seller confirmed. */
export interface RailFields {
  rail?: 'x402' | 'mpp';
  scheme?: string;
  transfer?: 'eip3009' | 'permit2';
  /** What was reserved, in USD: the price, or for `upto` the signed maximum. */
  maxAmount?: string;
  maxAmountAtomic?: string;
  /** Every header to send with the paid request, name → value (once signed). */
  headers?: Record<string, string>;
  /** The seller's PAYMENT-RESPONSE or Payment-Receipt, decoded, once it answered. */
  receipt?: { header: string; value: string; document: unknown } | null;
  /** What the 402 offered and why each option other than the chosen one was not paid. */
  options?: { chosen: Record<string, unknown>; rejected: Record<string, unknown>[] };
}

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
    @Inject(PaymentRails) private readonly rails: PaymentRails,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
    @Inject(Clock) private readonly clock: Clock,
  ) {}

  /**
   * Decides the payment and waits up to PAYBOUND_SIGN_WAIT_MS for the worker's header. With
   * a key, a retry over any transport answers the same payment and never reserves twice.
   */
  async request(agent: AgentPrincipal, sessionId: string, input: SignOnlyInput, idempotencyKey: string | null): Promise<SignOnlyAnswer> {
    const options = collectRailOptions(paymentRequiredOf(input));
    const { payment } = await this.payments.reserve(agent, {
      sessionId,
      options,
      requestBody: input.body,
      url: input.url,
      method: input.method,
      idempotency: idempotencyClaim(idempotencyKey, 'sign_only', { sessionId, url: input.url, method: input.method, offer: optionsIdentity(options), body: input.body ?? null }),
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
      return { payment: { ...current, ...(await this.railFields(current, null)), header: null }, pending: current.status === 'reserved' || current.status === 'awaiting_approval' };
    }
    return {
      payment: {
        ...payment,
        ...(await this.railFields(payment, header)),
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
    if (payment.status !== 'signed') return { ...payment, ...(await this.railFields(payment, null)) };
    const header = (await this.signatures.headerFor(payment.id)) ?? null;
    return { ...payment, ...(await this.railFields(payment, header)), header };
  }

  /** The rail fields of a payment chosen among a 402's options; none for one decided before rails. */
  private async railFields(payment: PaymentView, header: PaymentHeader | null): Promise<RailFields> {
    const rail = await this.rails.find(payment.id);
    if (rail === undefined) return header === null ? {} : { headers: { [header.name]: header.value } };
    const decimals = this.config.assets.find((asset) => asset.network === payment.network && asset.address.toLowerCase() === payment.asset?.toLowerCase())?.decimals;
    return {
      rail: rail.rail,
      scheme: rail.scheme,
      transfer: rail.transfer,
      maxAmount: decimals === undefined ? payment.amount : formatUsdMicros(stablecoinAtomicToUsdMicros(BigInt(rail.maxAmountAtomic), decimals)),
      maxAmountAtomic: rail.maxAmountAtomic,
      ...(header === null ? {} : { headers: { [header.name]: header.value } }),
      receipt: rail.receipt === null ? null : { ...rail.receipt, document: receiptDocument(rail.receipt) },
      options: rail.options,
    };
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
      const answered = railOutcome(input.status, new Headers({
        ...(input.paymentResponse === undefined ? {} : { [PAYMENT_RESPONSE_HEADER]: input.paymentResponse }),
        ...(input.paymentReceipt === undefined ? {} : { [PAYMENT_RECEIPT_HEADER]: input.paymentReceipt }),
      }));
      const command: ReportOutcome = { type: 'ReportOutcome', orgId: agent.orgId, actor, at, intentId: paymentId, ...answered.outcome };
      await this.commands.execute(new DecideBudget(command, () => undefined));
      if (answered.receipt !== null) await this.rails.keepReceipt(paymentId, answered.receipt.header, answered.receipt.value);
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
 * encoding carried them (a v2 header, a v1 body as text or as an object, a whole 402).
 */
function optionsIdentity(options: ReturnType<typeof collectRailOptions>): unknown {
  const { offer } = options;
  const x402 = offer === undefined ? null : { x402Version: offer.x402Version, resource: offer.resourceRaw ?? offer.resource ?? null, accepts: offer.requirements.map((r) => r.raw), extensions: offer.extensions ?? null };
  const mpp = options.options.flatMap((option) => (option.source.kind === 'mpp' ? [option.source.challenge.params] : []));
  // An x402-only offer keeps the identity it had before MPP was read, so keys stay valid.
  return mpp.length === 0 && options.unreadable.length === 0 ? x402 : { x402, mpp, unreadable: options.unreadable.map((entry) => entry.id) };
}

/** The 402 in whichever of its three forms the runtime gave it. */
function paymentRequiredOf(input: SignOnlyInput): PaymentRequiredAnswer {
  if (input.paymentRequired !== undefined) return { x402: typeof input.paymentRequired === 'string' ? input.paymentRequired : { body: input.paymentRequired } };
  if (input.challenges !== undefined) return { wwwAuthenticate: input.challenges };
  const headers = Object.entries(input.response?.headers ?? {});
  const valuesOf = (wanted: string): string[] => headers.filter(([name]) => name.toLowerCase() === wanted).flatMap(([, value]) => (typeof value === 'string' ? [value] : value));
  const body = input.response?.body;
  let bodyJson: unknown = body;
  if (typeof body === 'string') {
    try {
      bodyJson = JSON.parse(body) as unknown;
    } catch {
      bodyJson = undefined;
    }
  }
  return { x402: { header: valuesOf('payment-required')[0] ?? null, body: bodyJson }, wwwAuthenticate: valuesOf('www-authenticate') };
}

/** A kept receipt decoded for the reader; null if it no longer reads (it was checked when kept). */
function receiptDocument(receipt: { header: string; value: string }): unknown {
  try {
    return receipt.header === PAYMENT_RECEIPT_HEADER ? parsePaymentReceipt(receipt.value).raw : parsePaymentResponse(receipt.value);
  } catch {
    return null;
  }
}
