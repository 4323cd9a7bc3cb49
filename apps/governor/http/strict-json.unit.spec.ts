import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JSON_DEPTH_MAX, JsonInputError, parseStrictJson, stringFault } from './strict-json.js';

function faultOf(text: string): { fault: string; field: string } | 'accepted' {
  try {
    parseStrictJson(text);
    return 'accepted';
  } catch (error) {
    if (!(error instanceof JsonInputError)) throw error;
    return { fault: error.fault, field: error.field };
  }
}

/** JSON values whose strings hold nothing the parser refuses: it must read them as JSON.parse does. */
const cleanString = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((s) => stringFault(s, 'key') === undefined);
const cleanJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    cleanString,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(cleanString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

describe('parseStrictJson', () => {
  it('reads every clean JSON text as JSON.parse does', () => {
    fc.assert(
      fc.property(cleanJson, (value) => {
        const text = JSON.stringify(value);
        expect(parseStrictJson(text)).toEqual(JSON.parse(text));
      }),
      { seed: 17, numRuns: 500 },
    );
  });

  it('refuses what JSON.parse refuses, as a syntax fault', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (text) => {
        let valid = true;
        try {
          JSON.parse(text);
        } catch {
          valid = false;
        }
        // Deep nesting aside, the strict reader refuses a superset of what JSON.parse refuses.
        if (!valid) expect(faultOf(text)).toMatchObject({ fault: 'syntax' });
      }),
      { seed: 17, numRuns: 2_000 },
    );
    for (const text of ['', ' ', '{', '{"a":1,}', '[1,]', '{"a" 1}', "{'a':1}", '01', '1.', '.5', '+1', 'NaN', 'Infinity', '"\\x41"', '"\\u12"', '"a\u0000"', '"a\nb"', 'true false', '{"a":1}x']) {
      expect(faultOf(text), text).toMatchObject({ fault: 'syntax' });
    }
  });

  it('refuses a key given twice, naming its path', () => {
    expect(faultOf('{"limit":"0.01","limit":"99999"}')).toEqual({ fault: 'duplicate_key', field: 'limit' });
    expect(faultOf('{"a":[{"b":1},{"c":1,"c":2}]}')).toEqual({ fault: 'duplicate_key', field: 'a.1.c' });
    // The same key in sibling objects is not a duplicate.
    expect(faultOf('{"a":{"x":1},"b":{"x":1}}')).toBe('accepted');
    // Escapes are compared decoded: "\u0061" is "a".
    expect(faultOf('{"a":1,"\\u0061":2}')).toEqual({ fault: 'duplicate_key', field: 'a' });
  });

  it('refuses NUL, control characters and lone surrogates, in values and in keys', () => {
    expect(faultOf('{"m":{"k":"a\\u0000"}}')).toEqual({ fault: 'forbidden_character', field: 'm.k' });
    expect(faultOf('["\\ud800"]')).toEqual({ fault: 'forbidden_character', field: '0' });
    expect(faultOf('["\\udc00\\ud800"]')).toEqual({ fault: 'forbidden_character', field: '0' });
    expect(faultOf('"\\u001b[31m"')).toEqual({ fault: 'forbidden_character', field: '' });
    expect(faultOf('"\\u009b"')).toEqual({ fault: 'forbidden_character', field: '' });
    expect(faultOf('{"k\\u0000":1}')).toEqual({ fault: 'forbidden_character', field: 'k\\u0000' });
    expect(faultOf('{"a\\tb":1}')).toEqual({ fault: 'forbidden_character', field: 'a\\u0009b' });
    // Values may hold tab, line feed and carriage return; a surrogate pair is one character.
    expect(parseStrictJson('["a\\tb\\nc\\rd", "\\ud83d\\ude00", "\u{1F600}"]')).toEqual(['a\tb\nc\rd', '\u{1F600}', '\u{1F600}']);
  });

  it('refuses nesting deeper than the cap without recursing into it, and takes the cap itself', () => {
    expect(faultOf(`${'['.repeat(JSON_DEPTH_MAX)}${']'.repeat(JSON_DEPTH_MAX)}`)).toBe('accepted');
    expect(faultOf(`${'['.repeat(JSON_DEPTH_MAX + 1)}${']'.repeat(JSON_DEPTH_MAX + 1)}`)).toMatchObject({ fault: 'too_deep' });
    expect(faultOf(`{"a":${'['.repeat(100_000)}`)).toMatchObject({ fault: 'too_deep', field: `a${'.0'.repeat(JSON_DEPTH_MAX - 1)}` });
  });

  it('refuses numbers that are not finite', () => {
    expect(faultOf('{"n":1e999}')).toEqual({ fault: 'number_out_of_range', field: 'n' });
    expect(faultOf('{"n":-1e400}')).toEqual({ fault: 'number_out_of_range', field: 'n' });
    expect(parseStrictJson('[1e30, -0, 0.5e-3]')).toEqual([1e30, -0, 0.0005]);
  });

  it('makes "__proto__" an own property, as JSON.parse does, never the prototype', () => {
    const parsed = parseStrictJson('{"__proto__":{"polluted":true}}') as Record<string, unknown>;
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
