import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Pool } from 'pg';
import { parseSignatureHeader, signatureHeader, signedPayload, withinTolerance } from '../domain/webhooks/webhooks.js';
import { openSecret, sealSecret, type DataKeys, type StoredSecret } from '../platform/data-keys.js';

// Paybound-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>"> with the
// endpoint's secret. Receivers (and the tests) verify with verifyWebhookSignature.

const SECRET_PREFIX = 'whsec_';

/** A new signing secret: 256 random bits. The whole string, prefix included, is the HMAC key. */
export function newWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * What an endpoint's secrets are bound to when sealed: the endpoint, for both its current and
 * its previous secret, so that a rotation moves a ciphertext between the two as it is.
 */
function secretContext(endpointId: string): string {
  return `webhook_endpoints.secret:${endpointId}`;
}

/** A new secret as stored: sealed with the current data key when one is configured. */
export function sealWebhookSecret(keys: DataKeys | undefined, secret: string, endpointId: string): StoredSecret {
  return sealSecret(keys, secret, secretContext(endpointId));
}

export function openWebhookSecret(keys: DataKeys | undefined, stored: StoredSecret, endpointId: string): string {
  return openSecret(keys, stored, secretContext(endpointId));
}

const SEAL_BATCH_MAX = 500;
const SEAL_BATCHES_MAX = 1_000;

/**
 * Seals the secrets stored in the clear or under another key than the current one; returns
 * how many endpoints it rewrote. A row is rewritten only if it is still as it was read.
 */
export async function sealStoredWebhookSecrets(pool: Pool, keys: DataKeys): Promise<number> {
  let sealedCount = 0;
  for (let batch = 0; batch < SEAL_BATCHES_MAX; batch++) {
    const rows = await pool.query<{ endpoint_id: string; secret: string; secret_key_id: string | null; previous_secret: string | null; previous_secret_key_id: string | null }>(
      `SELECT endpoint_id, secret, secret_key_id, previous_secret, previous_secret_key_id FROM webhook_endpoints
       WHERE secret_key_id IS DISTINCT FROM $1 OR (previous_secret IS NOT NULL AND previous_secret_key_id IS DISTINCT FROM $1)
       ORDER BY endpoint_id LIMIT $2`,
      [keys.currentKeyId, SEAL_BATCH_MAX],
    );
    if (rows.rows.length === 0) break;
    for (const row of rows.rows) {
      const secret = keys.seal(openWebhookSecret(keys, { value: row.secret, keyId: row.secret_key_id }, row.endpoint_id), secretContext(row.endpoint_id));
      const previous = row.previous_secret === null ? null : keys.seal(openWebhookSecret(keys, { value: row.previous_secret, keyId: row.previous_secret_key_id }, row.endpoint_id), secretContext(row.endpoint_id));
      await pool.query(
        `UPDATE webhook_endpoints SET secret = $2, secret_key_id = $3, previous_secret = $4, previous_secret_key_id = $5
         WHERE endpoint_id = $1 AND secret = $6 AND previous_secret IS NOT DISTINCT FROM $7`,
        [row.endpoint_id, secret.value, secret.keyId, previous?.value ?? null, previous?.keyId ?? null, row.secret, row.previous_secret],
      );
    }
    sealedCount += rows.rows.length;
  }
  return sealedCount;
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
