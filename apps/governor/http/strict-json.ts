// JSON as the governor accepts it: RFC 8259 text, refused early when a value could harm what
// stores or re-reads it. PostgreSQL refuses NUL in jsonb and text (one bad string fails a
// whole batch of decisions), a lone surrogate cannot be encoded as UTF-8, a duplicate key
// means two readers may see two values ("limit":"0.01","limit":"99999"), and deep nesting
// turns every recursive reader (stringify, canonical hashing) into a stack overflow.
// Pure: no I/O, so it is tested on its own and used by the body parser.

/** Nesting deeper than any body the API takes (the deepest, a v1 402 body inside a payment request, is under ten). */
export const JSON_DEPTH_MAX = 64;

export type JsonInputFault = 'syntax' | 'duplicate_key' | 'too_deep' | 'forbidden_character' | 'number_out_of_range';

export class JsonInputError extends Error {
  constructor(
    readonly fault: JsonInputFault,
    /** Where, as a dotted path (`metadata.k`, `accepts.0.extra`); '' for the document itself. */
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'JsonInputError';
  }
}

/**
 * Characters refused in strings: C0 controls, DEL and C1 controls. Values may carry tab,
 * line feed and carriage return (a pay-and-fetch body or a description has lines); keys may not.
 */
function forbiddenInValue(code: number): boolean {
  return (code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) || (code >= 0x7f && code <= 0x9f);
}

function forbiddenInKey(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

/** Text as it may be shown back in a problem: control characters and lone surrogates escaped, at most `max` characters. */
export function printable(text: string, max = 80): string {
  let out = '';
  for (const char of text.slice(0, max)) {
    const code = char.codePointAt(0) ?? 0;
    const unsafe = forbiddenInKey(code) || (char.length === 1 && code >= 0xd800 && code <= 0xdfff);
    out += unsafe ? `\\u${code.toString(16).padStart(4, '0')}` : char;
  }
  return text.length > max ? `${out}…` : out;
}

/**
 * The first character a string may not carry, as a message, or undefined when it is clean:
 * NUL and other control characters, and surrogates that do not pair. Used for query values
 * and path parameters too, so that every input is held to the same rule.
 */
export function stringFault(text: string, role: 'key' | 'value'): string | undefined {
  const forbidden = role === 'key' ? forbiddenInKey : forbiddenInValue;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i += 1;
        continue;
      }
      return `an unpaired surrogate (\\u${code.toString(16)}) at character ${i}`;
    }
    if (code >= 0xdc00 && code <= 0xdfff) return `an unpaired surrogate (\\u${code.toString(16)}) at character ${i}`;
    if (forbidden(code)) return `a control character (\\u${code.toString(16).padStart(4, '0')}) at character ${i}`;
  }
  return undefined;
}

function join(path: string, segment: string): string {
  return path === '' ? segment : `${path}.${segment}`;
}

/** Parses JSON text strictly; every refusal is a JsonInputError naming where. */
export function parseStrictJson(text: string, depthMax = JSON_DEPTH_MAX): unknown {
  let at = 0;

  const fail = (fault: JsonInputFault, field: string, message: string): never => {
    throw new JsonInputError(fault, field, message);
  };
  const syntax = (expected: string): never => fail('syntax', '', `the body is not valid JSON: expected ${expected} at offset ${at}`);

  const skipWhitespace = (): void => {
    for (;;) {
      const code = text.charCodeAt(at);
      if (code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) at += 1;
      else return;
    }
  };

  const readString = (): string => {
    // at is on the opening quote.
    at += 1;
    let out = '';
    let runStart = at;
    for (;;) {
      if (at >= text.length) syntax('a closing quote');
      const code = text.charCodeAt(at);
      if (code === 0x22) {
        out += text.slice(runStart, at);
        at += 1;
        return out;
      }
      if (code < 0x20) syntax('no raw control character in a string');
      if (code !== 0x5c) {
        at += 1;
        continue;
      }
      out += text.slice(runStart, at);
      const escape = text[at + 1];
      switch (escape) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          const hex = text.slice(at + 2, at + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) syntax('four hex digits after \\u');
          out += String.fromCharCode(Number.parseInt(hex, 16));
          at += 4;
          break;
        }
        case undefined:
        default:
          syntax('a valid escape');
      }
      at += 2;
      runStart = at;
    }
  };

  const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

  const readValue = (path: string, depth: number): unknown => {
    skipWhitespace();
    const char = text[at];
    switch (char) {
      case '{': {
        if (depth >= depthMax) fail('too_deep', path, `${path === '' ? 'the body' : path}: nested deeper than ${depthMax} levels`);
        at += 1;
        const object: Record<string, unknown> = {};
        const seen = new Set<string>();
        skipWhitespace();
        if (text[at] === '}') {
          at += 1;
          return object;
        }
        for (;;) {
          skipWhitespace();
          if (text[at] !== '"') syntax('a key in double quotes');
          const key = readString();
          const field = join(path, printable(key));
          const keyFault = stringFault(key, 'key');
          if (keyFault !== undefined) fail('forbidden_character', field, `${field}: the key contains ${keyFault}`);
          if (seen.has(key)) fail('duplicate_key', field, `${field}: the key appears more than once in its object`);
          seen.add(key);
          skipWhitespace();
          if (text[at] !== ':') syntax('":" after a key');
          at += 1;
          const value = readValue(field, depth + 1);
          // As JSON.parse does: "__proto__" becomes an own property, never the prototype.
          if (key === '__proto__') Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
          else object[key] = value;
          skipWhitespace();
          if (text[at] === ',') {
            at += 1;
            continue;
          }
          if (text[at] === '}') {
            at += 1;
            return object;
          }
          syntax('"," or "}"');
        }
      }
      case '[': {
        if (depth >= depthMax) fail('too_deep', path, `${path === '' ? 'the body' : path}: nested deeper than ${depthMax} levels`);
        at += 1;
        const array: unknown[] = [];
        skipWhitespace();
        if (text[at] === ']') {
          at += 1;
          return array;
        }
        for (;;) {
          array.push(readValue(join(path, String(array.length)), depth + 1));
          skipWhitespace();
          if (text[at] === ',') {
            at += 1;
            continue;
          }
          if (text[at] === ']') {
            at += 1;
            return array;
          }
          syntax('"," or "]"');
        }
      }
      case '"': {
        const value = readString();
        const fault = stringFault(value, 'value');
        if (fault !== undefined) fail('forbidden_character', path, `${path === '' ? 'the body' : path}: contains ${fault}`);
        return value;
      }
      case 't':
        if (text.startsWith('true', at)) {
          at += 4;
          return true;
        }
        return syntax('a value');
      case 'f':
        if (text.startsWith('false', at)) {
          at += 5;
          return false;
        }
        return syntax('a value');
      case 'n':
        if (text.startsWith('null', at)) {
          at += 4;
          return null;
        }
        return syntax('a value');
      case undefined:
        return syntax('a value');
      default: {
        NUMBER.lastIndex = at;
        const match = NUMBER.exec(text);
        if (match === null) return syntax('a value');
        at += match[0].length;
        const value = Number(match[0]);
        if (!Number.isFinite(value)) fail('number_out_of_range', path, `${path === '' ? 'the body' : path}: the number ${match[0].slice(0, 40)} is out of range`);
        return value;
      }
    }
  };

  const value = readValue('', 0);
  skipWhitespace();
  if (at !== text.length) syntax('the end of the body');
  return value;
}
