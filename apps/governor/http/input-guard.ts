import { type CanActivate, type ExecutionContext, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { printable, stringFault } from './strict-json.js';

// The path and query half of the boundary (json-body.ts is the body half), for every route
// at once: a path parameter or query value with NUL or another control character, a lone
// surrogate or a malformed escape, and a query parameter given twice, are refused with 400
// naming the parameter before any controller sees them. Ids never contain such characters,
// and PostgreSQL refuses NUL in text: without this, each one was a 500. A header that means
// one thing (who is calling, what the body is, which version is expected) given twice is
// refused too: Node keeps the first and drops the rest, so two parts of a chain could each
// act on a different one.

/** A query string longer than any legitimate one (a full-text search plus filters). */
const QUERY_CHARS_MAX = 4096;

function decodeQueryPart(part: string, what: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    throw new ApiProblem('invalid_request', `${what}: malformed percent-encoding`, { field: what });
  }
}

/** Checks the raw query string of a URL; returns nothing, throws the first problem. */
export function checkQueryString(url: string): void {
  const start = url.indexOf('?');
  if (start < 0) return;
  const raw = url.slice(start + 1);
  if (raw.length > QUERY_CHARS_MAX) throw new ApiProblem('invalid_request', `the query string is longer than ${QUERY_CHARS_MAX} characters`, { field: 'query' });
  const seen = new Set<string>();
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const rawName = equals < 0 ? pair : pair.slice(0, equals);
    const name = decodeQueryPart(rawName, printable(rawName, 40));
    const field = printable(name, 40);
    const nameFault = stringFault(name, 'key');
    if (nameFault !== undefined) throw new ApiProblem('invalid_request', `${field}: the query parameter name contains ${nameFault}`, { field });
    if (seen.has(name)) throw new ApiProblem('invalid_request', `${field}: the query parameter is given more than once`, { field });
    seen.add(name);
    const value = decodeQueryPart(equals < 0 ? '' : pair.slice(equals + 1), field);
    const valueFault = stringFault(value, 'key');
    if (valueFault !== undefined) throw new ApiProblem('invalid_request', `${field}: contains ${valueFault}`, { field });
  }
}

/** Checks path parameters as the router decoded them. */
export function checkPathParameters(params: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(params)) {
    if (typeof value !== 'string') continue;
    const fault = stringFault(value, 'key');
    if (fault !== undefined) throw new ApiProblem('invalid_request', `${name}: the path parameter contains ${fault}`, { field: name });
  }
}

/** Headers that carry one value; a request that repeats one is ambiguous. */
const SINGLE_VALUE_HEADERS = new Set(['authorization', 'content-type', 'content-encoding', 'idempotency-key', 'if-match', 'last-event-id', 'host']);

/** Checks the raw header list (names as sent, in order) for a single-value header given twice. */
export function checkRepeatedHeaders(rawHeaders: string[]): void {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? '').toLowerCase();
    if (!SINGLE_VALUE_HEADERS.has(name)) continue;
    if (seen.has(name)) throw new ApiProblem('invalid_request', `${name}: the header is given more than once`, { field: name });
    seen.add(name);
  }
}

@Injectable()
export class InputGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const request = context.switchToHttp().getRequest<Request>();
    checkRepeatedHeaders(request.rawHeaders);
    checkPathParameters(request.params);
    checkQueryString(request.originalUrl);
    return true;
  }
}
