import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { z } from 'zod';
import type { IdempotencyClaim } from '../../../libs/domain/budget/commands.js';
import { ApiProblem } from '../../../libs/platform/problem.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** Field schemas more than one body uses. */
export const addressField = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'must be a 0x address');
export const caip2Field = z.string().regex(/^[a-z0-9-]{3,8}:[a-zA-Z0-9_-]{1,32}$/, 'must be a CAIP-2 network such as eip155:8453');

/** Validates a body with a zod schema; the filter turns a failure into 400 with the field. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  return schema.parse(body ?? {});
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
