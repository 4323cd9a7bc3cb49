import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, ERROR_CODES, errorsSchemaJson, isDomainErrorCode, isErrorCode, type ErrorKind } from './error-catalogue.js';
import { PROBLEM_STANDARD_MEMBERS } from './problem.js';

const SCHEMA_FILE = new URL('../../schemas/errors.json', import.meta.url);

/** The statuses each kind may answer with, written out here rather than read from the catalogue. */
const STATUSES_OF_KIND: Record<ErrorKind, readonly number[]> = {
  refusal: [403],
  invalid_request: [400, 403, 413, 415, 428],
  not_found: [404],
  conflict: [409, 412, 422],
  upstream: [502, 504],
  unavailable: [429, 503],
  auth: [401, 403],
  internal: [500],
};

describe('the error catalogue', () => {
  it('is what schemas/errors.json publishes (run `npm run schemas:errors` after changing it)', () => {
    expect(readFileSync(SCHEMA_FILE, 'utf8')).toBe(errorsSchemaJson());
  });

  it('publishes every code once, in precedence order, in the documented format', () => {
    const published = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as { $comment: string; version: number; errors: Record<string, unknown>[] };
    expect(Object.keys(published)).toEqual(['$comment', 'version', 'errors']);
    expect(published.version).toBe(1);
    expect(published.errors.map((e) => e.code)).toEqual(ERROR_CODES);
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const entry of published.errors) expect(Object.keys(entry)).toEqual(['code', 'httpStatus', 'grpcStatus', 'kind', 'figures', 'description']);
  });

  it.each(ERROR_CODES)('%s: a snake_case code, a status its kind allows, figures that shadow nothing, one sentence', (code) => {
    const entry = ERROR_CATALOGUE[code];
    expect(code).toMatch(/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/);
    expect(STATUSES_OF_KIND[entry.kind]).toContain(entry.httpStatus);
    for (const figure of entry.figures) expect(PROBLEM_STANDARD_MEMBERS as readonly string[]).not.toContain(figure);
    expect(entry.description).toMatch(/^[A-Z].*\.$/);
    expect(entry.description).not.toMatch(/\n/);
  });

  it('knows its codes and the domain\'s, and nothing inherited', () => {
    expect(isErrorCode('payment_already_used')).toBe(true);
    expect(isErrorCode('http_error')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    expect(isDomainErrorCode('payment_not_signed')).toBe(true);
    expect(isDomainErrorCode('release_not_proven')).toBe(true);
    expect(isDomainErrorCode('invalid_request')).toBe(false);
    expect(isDomainErrorCode('__proto__')).toBe(false);
  });
});
