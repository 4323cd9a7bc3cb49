// Shared decoding for the base64 JSON headers of x402. Kept separate so the offer and the
// payment-response parsers apply the same limits and the same prototype-pollution guard.

const STANDARD_BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

// JSON nesting and node limits. Real offers are a few levels deep with a few dozen
// values; the limits leave room for extensions while bounding the walk below.
export const JSON_DEPTH_MAX = 16;
export const JSON_NODES_MAX = 4_096;

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** NUL, which no store of Paybound's accepts, and a UTF-16 surrogate without its pair. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this pattern finds.
const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

export type DecodeFailure = 'too_large' | 'bad_base64' | 'bad_utf8' | 'bad_json' | 'unsafe_json';

export class DecodeError extends Error {
  constructor(
    readonly failure: DecodeFailure,
    readonly detail: string,
  ) {
    super(detail);
    this.name = 'DecodeError';
  }
}

/** Decodes standard base64 of UTF-8 JSON with a size limit on the encoded text. */
export function decodeBase64Json(value: string, bytesMax: number): unknown {
  const trimmed = value.trim();
  if (trimmed.length > bytesMax) {
    throw new DecodeError('too_large', `value is ${trimmed.length} bytes, the limit is ${bytesMax}`);
  }
  if (trimmed.length === 0 || trimmed.length % 4 !== 0 || !STANDARD_BASE64.test(trimmed)) {
    throw new DecodeError('bad_base64', 'value is not standard base64');
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(trimmed, 'base64'));
  } catch {
    throw new DecodeError('bad_utf8', 'decoded value is not UTF-8');
  }
  return parseJsonText(text, bytesMax);
}

/** Parses JSON text with a size limit, then applies the same safety walk. */
export function parseJsonText(text: string, bytesMax: number): unknown {
  if (text.length > bytesMax) {
    throw new DecodeError('too_large', `JSON is ${text.length} characters, the limit is ${bytesMax}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new DecodeError('bad_json', 'value is not JSON');
  }
  assertSafeJson(parsed);
  return parsed;
}

export function encodeBase64Json(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64');
}

/**
 * Rejects keys that could reach an object prototype when the value is later spread or
 * merged, strings that no store can hold (NUL, unpaired surrogates: PostgreSQL's jsonb
 * refuses them, so they would fail at the first write, far from the seller who sent them),
 * and bounds depth and size. JSON.parse makes `__proto__` an own property, which
 * is harmless by itself but dangerous in any later `Object.assign` or deep merge, so such
 * input is refused outright. Non-JSON values (functions, bigints, symbols) are refused
 * too, since a caller may hand us an object that did not come from JSON.parse.
 */
export function assertSafeJson(root: unknown): void {
  const stack: Array<{ value: unknown; depth: number }> = [{ value: root, depth: 0 }];
  let nodes = 0;
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === undefined) break;
    nodes += 1;
    if (nodes > JSON_NODES_MAX) {
      throw new DecodeError('too_large', `JSON has more than ${JSON_NODES_MAX} values`);
    }
    if (item.depth > JSON_DEPTH_MAX) {
      throw new DecodeError('too_large', `JSON is nested deeper than ${JSON_DEPTH_MAX} levels`);
    }
    const { value } = item;
    if (typeof value === 'string') {
      if (UNSTORABLE_TEXT.test(value)) throw new DecodeError('unsafe_json', 'JSON holds a string with NUL or an unpaired surrogate');
      continue;
    }
    if (value === null || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new DecodeError('unsafe_json', 'JSON holds a non-finite number');
      continue;
    }
    if (Array.isArray(value)) {
      for (const element of value) stack.push({ value: element, depth: item.depth + 1 });
      continue;
    }
    if (typeof value === 'object') {
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new DecodeError('unsafe_json', 'JSON holds an object that is not a plain object');
      }
      for (const key of Object.keys(value)) {
        if (FORBIDDEN_KEYS.has(key)) {
          throw new DecodeError('unsafe_json', `JSON holds a forbidden key "${key}"`);
        }
        if (UNSTORABLE_TEXT.test(key)) throw new DecodeError('unsafe_json', 'JSON holds a key with NUL or an unpaired surrogate');
        stack.push({ value: (value as Record<string, unknown>)[key], depth: item.depth + 1 });
      }
      continue;
    }
    throw new DecodeError('unsafe_json', `JSON holds a value of type ${typeof value}`);
  }
}

