import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { parseSignatureHeader, signatureHeader, signedPayload, withinTolerance } from '../domain/webhooks/webhooks.js';

// Paybound-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with the
// endpoint's secret. Receivers (and the tests) verify with verifyWebhookSignature.

const SECRET_PREFIX = 'whsec_';

/** A new signing secret: 256 random bits. The whole string, prefix included, is the HMAC key. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

export function hmacHex(secret: string, timestampSec: number, rawBody: string): string {
  return createHmac('sha256', secret).update(signedPayload(timestampSec, rawBody), 'utf8').digest('hex');
}

/** The Paybound-Signature header for a body, signed with every secret given (the current one first). */
export function signWebhook(secrets: readonly string[], timestampSec: number, rawBody: string): string {
  return signatureHeader(
    timestampSec,
    secrets.map((secret) => hmacHex(secret, timestampSec, rawBody)),
  );
}

/** Five minutes, as most webhook senders allow: enough for clock drift, short for replays. */
export const DEFAULT_TOLERANCE_SEC = 300;

export type WebhookVerification = 'ok' | 'malformed_signature_header' | 'timestamp_outside_tolerance' | 'signature_mismatch';

/**
 * Checks a delivery the way a receiver should: the header parses, its timestamp is within
 * the tolerance of the receiver's clock, and one of its v1 signatures is the HMAC of the raw
 * body (the bytes received, before any JSON parsing) under the secret, compared in constant time.
 */
export function verifyWebhookSignature(input: { header: string | undefined; rawBody: string; secret: string; nowMs: number; toleranceSec?: number }): WebhookVerification {
  const parsed = input.header === undefined ? undefined : parseSignatureHeader(input.header);
  if (parsed === undefined) return 'malformed_signature_header';
  if (!withinTolerance(parsed.timestampSec, input.nowMs, input.toleranceSec ?? DEFAULT_TOLERANCE_SEC)) return 'timestamp_outside_tolerance';
  const expected = Buffer.from(hmacHex(input.secret, parsed.timestampSec, input.rawBody), 'hex');
  // Every candidate is compared, so the time taken does not tell which one matched.
  let matched = false;
  for (const candidate of parsed.signaturesHex) {
    if (timingSafeEqual(Buffer.from(candidate, 'hex'), expected)) matched = true;
  }
  return matched ? 'ok' : 'signature_mismatch';
}
