import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { IdempotencyClaim } from '../../../libs/domain/budget/commands.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { canonicalJson } from '../http/input.js';

// An Idempotency-Key is claimed with a hash of what the use case received, not of the route
// and body that carried it: a REST call and a gRPC call with the same key and the same
// payment are the same request, and a retry over either answers the first outcome.

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** The use cases whose inputs a key may be claimed for; each hashes under its own name. */
export type IdempotentUseCase = 'open_session' | 'sign_only' | 'pay_and_fetch' | 'mcp_call';

/** The key with the hash of the use case's input; null without a key. */
export function idempotencyClaim(key: string | null, useCase: IdempotentUseCase, input: unknown): IdempotencyClaim | null {
  if (key === null) return null;
  if (!IDEMPOTENCY_KEY.test(key)) {
    throw new ApiProblem('invalid_idempotency_key', 'Idempotency-Key must be 1 to 255 printable ASCII characters', { field: 'Idempotency-Key' });
  }
  const requestHash = createHash('sha256').update(useCase).update('\u0000').update(canonicalJson(input)).digest('hex');
  return { key, requestHash };
}

/** The `Idempotency-Key` header of an HTTP request; sent twice, it is refused like a malformed one. */
export function idempotencyKeyHeader(headers: IncomingHttpHeaders): string | null {
  const key = headers['idempotency-key'];
  if (key === undefined) return null;
  if (typeof key !== 'string') throw new ApiProblem('invalid_idempotency_key', 'send one Idempotency-Key header', { field: 'Idempotency-Key' });
  return key;
}

/** A gRPC request's `idempotency_key` field: proto3 strings are never absent, empty means none. */
export function idempotencyKeyField(key: string): string | null {
  return key === '' ? null : key;
}
