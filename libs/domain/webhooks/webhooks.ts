import type { BudgetEventType } from '../budget/events.js';
import type { WalletEvent } from '../wallet/wallet.js';

// Webhook delivery rules, pure: which endpoint gets which event, when a failed delivery is
// tried again, and the text a signature covers. The governor's sender does the I/O; time
// and randomness arrive as arguments.

export type WebhookEventType = BudgetEventType | WalletEvent['type'];

/** Every event type an endpoint may subscribe to; the compiler keeps it complete. */
const SUBSCRIBABLE: { [K in WebhookEventType]: true } = {
  OrgCreated: true,
  TeamCreated: true,
  AgentRegistered: true,
  BudgetChanged: true,
  PolicyChanged: true,
  AgentKeyChanged: true,
  SessionOpened: true,
  SessionClosed: true,
  Reserved: true,
  ApprovalRequested: true,
  ApprovalGranted: true,
  ApprovalDenied: true,
  LimitExceeded: true,
  BudgetThresholdReached: true,
  PaymentSigned: true,
  SettlementReported: true,
  Settled: true,
  Refunded: true,
  Frozen: true,
  Unfrozen: true,
  ShadowRefusal: true,
  WalletLowBalance: true,
  WalletBalanceRestored: true,
};

export const WEBHOOK_EVENT_TYPES = Object.keys(SUBSCRIBABLE) as readonly WebhookEventType[];

/** What an endpoint gets when it names no event types: the alerts. */
export const DEFAULT_WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = ['BudgetThresholdReached', 'WalletLowBalance', 'WalletBalanceRestored'];

/** Live endpoints per installation: the dispatcher matches every event against all of them. */
export const WEBHOOK_ENDPOINTS_MAX = 100;

export function isWebhookEventType(type: string): type is WebhookEventType {
  return Object.hasOwn(SUBSCRIBABLE, type);
}

export interface WebhookSubscription {
  eventTypes: readonly string[];
  /** null: every org, and the events that belong to none (wallets). */
  orgId: string | null;
  enabled: boolean;
  createdAtMs: number;
}

export interface WebhookCandidate {
  type: string;
  /** '' for events that belong to no org (wallet alerts). */
  orgId: string;
  occurredAtMs: number;
}

/**
 * Whether an endpoint gets an event. An org-scoped endpoint gets only that org's events, so
 * the org-less wallet alerts go to unscoped endpoints only; and an endpoint gets only what
 * happened since it was created, even when the dispatcher is catching up on a backlog.
 */
export function endpointWants(endpoint: WebhookSubscription, event: WebhookCandidate): boolean {
  if (!endpoint.enabled) return false;
  if (!endpoint.eventTypes.includes(event.type)) return false;
  if (endpoint.orgId !== null && endpoint.orgId !== event.orgId) return false;
  return event.occurredAtMs >= endpoint.createdAtMs;
}

export interface RetrySchedule {
  /** The wait after the first failed attempt; each further failure doubles it. */
  baseDelayMs: number;
  /** No wait is longer than this. */
  maxDelayMs: number;
  /** After this many attempts without a 2xx the delivery is failed. */
  maxAttempts: number;
}

/** Up to a fifth off each wait, so deliveries that failed together do not all retry together. */
const JITTER_FRACTION = 0.2;
/** 2^30 × any base is beyond every cap; the exponent stops growing there. */
const DOUBLINGS_MAX = 30;

/**
 * The wait before the next attempt after `attempts` failed ones: base × 2^(attempts − 1),
 * capped, less up to 20 % jitter. `random` is in [0, 1).
 */
export function retryDelayMs(attempts: number, schedule: RetrySchedule, random: number): number {
  const doublings = Math.min(Math.max(attempts - 1, 0), DOUBLINGS_MAX);
  const uncapped = schedule.baseDelayMs * 2 ** doublings;
  const delay = Math.min(uncapped, schedule.maxDelayMs);
  return Math.round(delay * (1 - JITTER_FRACTION * Math.min(Math.max(random, 0), 1)));
}

export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export type DeliveryNext = { status: 'delivered' } | { status: 'failed' } | { status: 'pending'; nextAttemptAtMs: number };

/** 2xx is delivered; anything else (other status, timeout, refused connection) is tried again until the attempts run out. */
export function afterAttempt(attempts: number, httpStatus: number | null, nowMs: number, schedule: RetrySchedule, random: number): DeliveryNext {
  if (httpStatus !== null && httpStatus >= 200 && httpStatus < 300) return { status: 'delivered' };
  if (attempts >= schedule.maxAttempts) return { status: 'failed' };
  return { status: 'pending', nextAttemptAtMs: nowMs + retryDelayMs(attempts, schedule, random) };
}

/** What the HMAC covers: the timestamp and the exact bytes sent, so neither can be changed or replayed later. */
export function signedPayload(timestampSec: number, rawBody: string): string {
  return `${timestampSec}.${rawBody}`;
}

/** `t=<unix seconds>,v1=<hex>[,v1=<hex>]`: one v1 per secret in use (two while a rotated secret overlaps). */
export function signatureHeader(timestampSec: number, signaturesHex: readonly string[]): string {
  return [`t=${timestampSec}`, ...signaturesHex.map((s) => `v1=${s}`)].join(',');
}

/** Bounds what a receiver parses from a header it cannot trust. */
const SIGNATURE_HEADER_CHARS_MAX = 1_024;
const SIGNATURES_MAX = 8;

export interface ParsedSignatureHeader {
  timestampSec: number;
  signaturesHex: string[];
}

/** The timestamp and v1 signatures of a Paybound-Signature header; undefined when malformed. Unknown schemes are ignored. */
export function parseSignatureHeader(header: string): ParsedSignatureHeader | undefined {
  if (header.length > SIGNATURE_HEADER_CHARS_MAX) return undefined;
  let timestampSec: number | undefined;
  const signaturesHex: string[] = [];
  for (const part of header.split(',')) {
    const [key, value, extra] = part.trim().split('=');
    if (key === undefined || value === undefined || extra !== undefined) return undefined;
    if (key === 't') {
      if (timestampSec !== undefined || !/^\d{1,12}$/.test(value)) return undefined;
      timestampSec = Number(value);
    } else if (key === 'v1') {
      if (!/^[0-9a-f]{64}$/.test(value) || signaturesHex.length >= SIGNATURES_MAX) return undefined;
      signaturesHex.push(value);
    }
  }
  if (timestampSec === undefined || signaturesHex.length === 0) return undefined;
  return { timestampSec, signaturesHex };
}

/** Whether a signature's timestamp is close enough to the receiver's clock to not be a replay. */
export function withinTolerance(timestampSec: number, nowMs: number, toleranceSec: number): boolean {
  return Math.abs(Math.floor(nowMs / 1000) - timestampSec) <= toleranceSec;
}
