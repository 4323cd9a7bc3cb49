import type pg from 'pg';
import type { Logger } from 'pino';
import type { Reserved } from '../domain/budget/events.js';
import { formatUsdMicros } from '../domain/money.js';
import type { RecordedEvent } from '../eventstore/event-store.js';
import { paymentSpanAttributes } from '../ledger/decision-telemetry.js';
import { Coalescer, ConcurrencyLimit } from '../platform/concurrency.js';
import { contextOf, inSpan } from '../platform/tracing.js';
import type { PaymentHeader } from '../x402/headers.js';
import type { SignRefusal } from './authorization.js';
import { planRailAuthorization, type StoredPaymentOffer } from './rail-authorization.js';
import type { EvmChainReader } from './chain.js';
import type { PaymentHeaderStore } from './payment-headers.js';
import type { HandlingOutcome } from './sign-window.js';
import type { PaymentSigner } from './signer.js';
import { submitExpecting, WORKER_ACTOR, type WorkerDecisions } from './worker-decisions.js';
import type { SigningOutcome, WorkerMetrics } from './worker-metrics.js';

// Signing one reservation, whichever source it came from (the Postgres log or Kafka): read
// its offer, sign, record the signature in the ledger, store the header. Each step is safe
// to repeat: the same intent always yields the same authorization, and every command is
// idempotent, so a source hands a reservation again after any failure or crash.

export const SIGN_CONCURRENCY_DEFAULT = 32;
/**
 * How long a Reserved event may wait for its offer row. The governor writes the row before
 * reserving, so it is normally there; this covers a governor that stores it just after.
 */
export const OFFER_GRACE_MS = 10_000;
const FAILURE_WARNING_INTERVAL_MS = 5_000;
/** Headers stored in one statement at most. */
const HEADER_BATCH_MAX = 200;

export type ReservedEvent = RecordedEvent<Reserved['data']>;

/**
 * Points in the signing of one reservation where a test may make the process die, passed in
 * by the application (apps/settlement-worker) so that the library holds no fault of its own.
 */
export interface SigningFaults {
  /** Signed, and the signature not yet recorded in the ledger. */
  afterSign?(intentId: string): void;
  /** Recorded, and the header not yet stored. */
  afterRecord?(intentId: string): void;
}

export interface ReservationSigningOptions {
  pool: pg.Pool;
  /** Where its budget commands are decided: the governor (GovernorDecisions), or a processor of its own. */
  decisions: WorkerDecisions;
  signer: PaymentSigner;
  /** Chain access per CAIP-2 network; a network without one is never signed for. */
  chains: ReadonlyMap<string, EvmChainReader>;
  headers: PaymentHeaderStore;
  logger: Logger;
  /** Reservations handled at once at most: signing, recording the signature, storing the header. */
  signConcurrencyMax?: number;
  metrics?: WorkerMetrics | undefined;
  faults?: SigningFaults | undefined;
  now?: () => number;
}

/** How one reservation went: signed, refused (released, or the ledger said no), or not yet decidable. */
type ReservedResult = { outcome: 'done'; signed: boolean } | { outcome: 'retry_later' };

/** Signs or releases reservations, a bounded number at once. */
export class ReservationSigning {
  private stopping = false;
  private readonly now: () => number;
  private readonly limit: ConcurrencyLimit;
  private readonly headerWrites: Coalescer<{ intentId: string; header: PaymentHeader }, void>;
  /** The last error a handler met, for one warning now and then rather than one per reservation. */
  private lastHandlingError: Error | undefined;
  private failedSinceWarning = 0;
  private lastFailureWarningMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: ReservationSigningOptions) {
    this.now = options.now ?? Date.now;
    this.limit = new ConcurrencyLimit(options.signConcurrencyMax ?? SIGN_CONCURRENCY_DEFAULT);
    this.headerWrites = new Coalescer<{ intentId: string; header: PaymentHeader }, void>(async (items) => {
      await options.headers.store(items);
      return items.map((): void => undefined);
    }, HEADER_BATCH_MAX);
  }

  /** No reservation starts after this; those running finish. */
  stop(): void {
    this.stopping = true;
  }

  /** One reservation within the concurrency limit; a failure is an outcome, so the others of a page still finish. */
  handle(event: ReservedEvent, offer: { prefetched: StoredPaymentOffer | undefined } | 'fetch'): Promise<HandlingOutcome> {
    return this.limit.run(async () => {
      if (this.stopping) return 'not_started';
      try {
        const stored = offer === 'fetch' ? (await this.storedOffers([event.data.intentId])).get(event.data.intentId) : offer.prefetched;
        return await this.handleReserved(event, stored);
      } catch (error) {
        this.lastHandlingError = error as Error;
        return 'failed';
      }
    });
  }

  /** The stored offers of these intents, in one query; an intent without a row is absent from the map. */
  async storedOffers(intentIds: readonly string[]): Promise<Map<string, StoredPaymentOffer>> {
    const offers = new Map<string, StoredPaymentOffer>();
    if (intentIds.length === 0) return offers;
    const result = await this.options.pool.query<{ intent_id: string; x402_version: number; requirement_raw: Record<string, unknown>; resource_raw: Record<string, unknown> | null; extensions: Record<string, unknown> | null }>(
      'SELECT intent_id, x402_version, requirement_raw, resource_raw, extensions FROM payment_offers WHERE intent_id = ANY($1::text[])',
      [intentIds],
    );
    for (const row of result.rows) {
      offers.set(row.intent_id, { x402Version: row.x402_version === 1 ? 1 : 2, requirementRaw: row.requirement_raw, resourceRaw: row.resource_raw, extensions: row.extensions });
    }
    // MPP payments have no x402 offer: the challenge they are bound to is kept with their rail.
    const missing = intentIds.filter((intentId) => !offers.has(intentId));
    if (missing.length > 0) {
      const challenges = await this.options.pool.query<{ intent_id: string; mpp_challenge: string; token_domain: { name: string; version: string } | null }>(
        `SELECT intent_id, mpp_challenge, token_domain FROM payment_rails WHERE intent_id = ANY($1::text[]) AND rail = 'mpp' AND mpp_challenge IS NOT NULL`,
        [missing],
      );
      for (const row of challenges.rows) offers.set(row.intent_id, { kind: 'mpp', challenge: row.mpp_challenge, tokenDomain: row.token_domain });
    }
    return offers;
  }

  /** One warning per interval at most: with the database down, every handler fails at once. */
  warnFailures(outcomes: readonly HandlingOutcome[]): void {
    this.failedSinceWarning += outcomes.filter((outcome) => outcome === 'failed').length;
    const nowMs = this.now();
    if (this.failedSinceWarning === 0 || nowMs - this.lastFailureWarningMs < FAILURE_WARNING_INTERVAL_MS) return;
    // Postgres or the chain is unreachable: nothing more is signed, and these are handled again.
    this.options.logger.warn({ failedCount: this.failedSinceWarning, err: { message: this.lastHandlingError?.message } }, 'handling reservations failed; retrying');
    this.failedSinceWarning = 0;
    this.lastFailureWarningMs = nowMs;
  }

  /**
   * Signs or releases one reservation inside a `paybound.signature` span that continues the
   * trace of the decision that reserved it (its traceparent is stored with the event, and
   * comes in the Kafka message's header).
   */
  private async handleReserved(event: ReservedEvent, stored: StoredPaymentOffer | undefined): Promise<'done' | 'retry_later'> {
    const reservation = event.data;
    const attributes = paymentSpanAttributes({ ...reservation, amount: formatUsdMicros(reservation.amountMicros) });
    const startedAt = process.hrtime.bigint();
    let outcome: SigningOutcome = 'refused';
    try {
      return await inSpan('paybound.signature', { parent: contextOf({ traceparent: event.metadata.traceparent }), attributes }, async (span) => {
        const result = await this.signOrRelease(event, stored);
        outcome = result.outcome === 'retry_later' ? 'retry_later' : result.signed ? 'signed' : 'refused';
        span.setAttribute('paybound.outcome', outcome);
        return result.outcome;
      });
    } finally {
      this.options.metrics?.signingSeconds.observe({ outcome }, Number(process.hrtime.bigint() - startedAt) / 1e9);
    }
  }

  private async signOrRelease(event: ReservedEvent, stored: StoredPaymentOffer | undefined): Promise<ReservedResult> {
    const { logger, signer, decisions, faults } = this.options;
    const reservation = event.data;
    if (stored === undefined && this.now() - Date.parse(reservation.reservedAt) < OFFER_GRACE_MS) return { outcome: 'retry_later' };
    const chain = this.options.chains.get(reservation.network);
    const planned = chain === undefined ? ({ ok: false, reason: 'no_wallet_for_network' } as const) : planRailAuthorization(reservation, stored, signer.address, Math.floor(this.now() / 1000));
    if (!planned.ok) {
      await this.releaseUnsigned(reservation, planned.reason);
      return { outcome: 'done', signed: false };
    }
    const { plan } = planned;
    const signature = plan.transfer === 'permit2' ? await signer.signPermit2Transfer(plan.typedData) : await signer.signTransferAuthorization(plan.typedData);
    const header = plan.header(signature);
    faults?.afterSign?.(reservation.intentId);
    // The signature is recorded before the header is stored: a header in payment_signatures
    // therefore always belongs to a payment the ledger knows is signed, and one that was
    // released meanwhile never gets a usable header.
    const recorded = await submitExpecting(
      decisions,
      {
        type: 'RecordSignature',
        orgId: reservation.orgId,
        actor: WORKER_ACTOR,
        at: new Date(this.now()).toISOString(),
        intentId: reservation.intentId,
        scheme: plan.scheme,
        payer: signer.address,
        nonce: plan.nonce,
        validAfter: new Date(0).toISOString(),
        validBefore: new Date(plan.validBeforeSec * 1000).toISOString(),
        ...(plan.transfer === 'permit2' ? { transfer: 'permit2' as const } : {}),
      },
      ['intent_already_refunded', 'payment_already_signed', 'payment_not_found'],
    );
    if (!recorded.ok) {
      logger.info({ intentId: reservation.intentId, code: recorded.code }, 'payment not signed: the ledger refused the signature');
      return { outcome: 'done', signed: false };
    }
    faults?.afterRecord?.(reservation.intentId);
    await this.headerWrites.submit({ intentId: reservation.intentId, header });
    logger.info({ intentId: reservation.intentId, network: reservation.network, payer: signer.address, validBeforeSec: plan.validBeforeSec }, 'payment signed');
    return { outcome: 'done', signed: true };
  }

  private async releaseUnsigned(reservation: Reserved['data'], reason: SignRefusal): Promise<void> {
    this.options.logger.warn({ intentId: reservation.intentId, network: reservation.network, reason }, 'refusing to sign; releasing the reservation');
    // A payment that got signed meanwhile (another worker) is not released: that is decided
    // by the ledger, which refuses a never_signed release of a signed payment.
    await submitExpecting(
      this.options.decisions,
      { type: 'Release', orgId: reservation.orgId, actor: WORKER_ACTOR, at: new Date(this.now()).toISOString(), intentId: reservation.intentId, reason, proof: { kind: 'never_signed' } },
      ['release_not_proven', 'intent_already_settled', 'payment_not_found'],
    );
  }
}
