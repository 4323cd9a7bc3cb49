import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import type { IdempotencyClaim } from '../../../libs/domain/budget/commands.js';
import { MoneyFormatError, parseUsdMicros } from '../../../libs/domain/money.js';
import { ApiProblem } from '../../../libs/platform/problem.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Field schemas more than one body uses. */
export const addressField = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x address');
export const caip2Field = z.string().regex(/^[a-z0-9-]{3,8}:[a-zA-Z0-9_-]{1,32}$/, 'must be a CAIP-2 network such as eip155:8453');

/**
 * A USD decimal string that Paybound can hold ("2.00", "0.005"): one that parseUsdMicros will
 * take. Not a decimal string: `invalid_request`; one beyond what Paybound holds (more than
 * 13 integer digits): `invalid_amount`; either way naming the field, not later without one.
 */
export const usdAmountField = z
  .string()
  .max(24)
  .regex(/^\d+(\.\d{1,6})?$/, 'must be a USD decimal string such as "2.00"')
  .superRefine((text, ctx) => {
    try {
      parseUsdMicros(text);
    } catch (error) {
      if (!(error instanceof MoneyFormatError)) throw error;
      ctx.addIssue({ code: 'custom', message: `${error.message}, such as "2.00"`, params: { code: 'invalid_amount' } });
    }
  });

/**
 * Validates a body with a zod schema; the filter turns a failure into 400 with the field.
 * A request without a body (the parser leaves it undefined) is refused here, so that a PUT
 * or POST sent empty is never read as `{}`: that would reset what it replaces.
 */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  if (body === undefined) throw new ApiProblem('invalid_request', 'this request needs a JSON body (Content-Type: application/json)', { field: '' });
  return schema.parse(body);
}

/** For the few routes whose every field has a default: no body reads as `{}`. */
export function parseOptionalBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  return schema.parse(body ?? {});
}

/** Validates the query string (the input guard already refused repeats and control characters). */
export function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.infer<S> {
  return schema.parse(query ?? {});
}

/**
 * The Idempotency-Key with a hash of what it was sent with. Replaying the key with another
 * request is refused rather than silently answered with the first response.
 */
export function idempotencyClaim(request: Request, scope: string, body: unknown): IdempotencyClaim | null {
  const key = request.headers['idempotency-key'];
  if (key === undefined) return null;
  if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
    throw new ApiProblem('invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 printable ASCII characters', { field: 'Idempotency-Key' });
  }
  const requestHash = createHash('sha256').update(scope).update('\u0000').update(canonicalJson(body)).digest('hex');
  return { key, requestHash };
}

/** JSON with sorted keys, so that the same request hashes the same whatever its key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
