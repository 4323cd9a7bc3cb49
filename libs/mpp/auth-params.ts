import { MppChallengeError } from './errors.js';

// A strict reader for `WWW-Authenticate` (RFC 9110 §11.6.1): a comma-separated list of
// challenges, each an auth-scheme followed by a token68 or by auth-params
// (`name=token` or `name="quoted string"`). One header may mix schemes (`Bearer …,
// Payment …`), and a 402 may carry several header lines; both are read here. Anything
// that does not follow the grammar fails the whole value, because once a quote or a comma
// is misread no boundary after it can be trusted.

/** Limits on what a seller may send. mppx caps `request` at 16 KiB; the rest is headroom. */
export const WWW_AUTHENTICATE_CHARS_MAX = 64 * 1024;
export const AUTH_CHALLENGES_MAX = 16;
export const AUTH_PARAMS_MAX = 16;
export const AUTH_PARAM_NAME_CHARS_MAX = 64;
export const AUTH_PARAM_VALUE_CHARS_MAX = 16 * 1024;
const SCHEME_CHARS_MAX = 64;

export interface AuthChallenge {
  /** As sent; schemes compare case-insensitively. */
  readonly scheme: string;
  /** Names lowercased (they are case-insensitive), values unquoted and unescaped, in order. */
  readonly params: readonly (readonly [name: string, value: string])[];
  readonly token68?: string;
}

const TCHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;
const TOKEN68_CHAR = /[A-Za-z0-9._~+/-]/;

/** Reads every challenge of one or more `WWW-Authenticate` values. */
export function parseWwwAuthenticate(values: string | readonly string[]): AuthChallenge[] {
  const list = typeof values === 'string' ? [values] : values;
  let total = 0;
  const challenges: AuthChallenge[] = [];
  for (const value of list) {
    total += value.length;
    if (total > WWW_AUTHENTICATE_CHARS_MAX) {
      throw new MppChallengeError(`WWW-Authenticate is longer than ${WWW_AUTHENTICATE_CHARS_MAX} characters`);
    }
    assertHeaderText(value);
    for (const challenge of new Reader(value).challenges()) {
      challenges.push(challenge);
      if (challenges.length > AUTH_CHALLENGES_MAX) {
        throw new MppChallengeError(`WWW-Authenticate carries more than ${AUTH_CHALLENGES_MAX} challenges`);
      }
    }
  }
  return challenges;
}

// Header values are byte strings: a control character (other than HTAB) or a code point
// above 0xFF means the value was not read off the wire as a header, or was crafted.
function assertHeaderText(value: string): void {
  for (let index = 0; index < value.length; index += 1) {
    const code = value.charCodeAt(index);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f || code > 0xff) {
      throw new MppChallengeError(`WWW-Authenticate holds a forbidden character at ${index}`);
    }
  }
}

class Reader {
  private index = 0;

  constructor(private readonly text: string) {}

  *challenges(): Generator<AuthChallenge> {
    this.skipListSeparators();
    while (!this.atEnd()) {
      yield this.challenge();
      this.skipListSeparators();
    }
  }

  private challenge(): AuthChallenge {
    const scheme = this.token('auth-scheme', SCHEME_CHARS_MAX);
    const params: [string, string][] = [];
    const names = new Set<string>();
    const spaced = this.skipWhitespace();
    if (this.atEnd() || this.peek() === ',') return { scheme, params };
    if (!spaced) throw this.error('expected a space after the auth-scheme');
    const token68 = this.tryToken68();
    if (token68 !== undefined) return { scheme, params, token68 };
    for (;;) {
      const name = this.token('auth-param name', AUTH_PARAM_NAME_CHARS_MAX).toLowerCase();
      this.skipWhitespace();
      if (this.peek() !== '=') throw this.error(`auth-param "${name}" has no "="`);
      this.index += 1;
      this.skipWhitespace();
      const value = this.peek() === '"' ? this.quotedString() : this.token(`value of "${name}"`, AUTH_PARAM_VALUE_CHARS_MAX);
      if (names.has(name)) throw this.error(`auth-param "${name}" appears twice`);
      names.add(name);
      params.push([name, value]);
      if (params.length > AUTH_PARAMS_MAX) throw this.error(`a challenge has more than ${AUTH_PARAMS_MAX} auth-params`);
      // After a value: the end, or a comma followed by another auth-param of this
      // challenge (`name =`) or by the next challenge (`scheme SP` or `scheme ,`).
      this.skipWhitespace();
      if (this.atEnd()) return { scheme, params };
      if (this.peek() !== ',') throw this.error('expected "," after an auth-param');
      const mark = this.index;
      this.skipListSeparators();
      if (this.atEnd()) return { scheme, params };
      if (!this.startsAuthParam()) {
        this.index = mark;
        return { scheme, params };
      }
    }
  }

  /** At a token followed (after optional whitespace) by "=" and then not by "=" (token68 padding). */
  private startsAuthParam(): boolean {
    let cursor = this.index;
    while (cursor < this.text.length && TCHAR.test(this.text[cursor] ?? '')) cursor += 1;
    if (cursor === this.index) return false;
    while (this.text[cursor] === ' ' || this.text[cursor] === '\t') cursor += 1;
    return this.text[cursor] === '=';
  }

  // token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". What follows a
  // scheme is auth-params when it opens with `name =` and a value; anything else must be a
  // token68 that runs to the end or to the next comma.
  private tryToken68(): string | undefined {
    if (this.startsAuthParamWithValue()) return undefined;
    const start = this.index;
    while (!this.atEnd() && TOKEN68_CHAR.test(this.text[this.index] ?? '')) this.index += 1;
    if (this.index === start) throw this.error('expected a token68 or auth-params');
    while (this.peek() === '=') this.index += 1;
    if (this.index - start > AUTH_PARAM_VALUE_CHARS_MAX) throw this.error('token68 is too long');
    const token68 = this.text.slice(start, this.index);
    this.skipWhitespace();
    if (!this.atEnd() && this.peek() !== ',') throw this.error('unexpected text after a token68');
    return token68;
  }

  private startsAuthParamWithValue(): boolean {
    let cursor = this.index;
    while (cursor < this.text.length && TCHAR.test(this.text[cursor] ?? '')) cursor += 1;
    if (cursor === this.index) return false;
    while (this.text[cursor] === ' ' || this.text[cursor] === '\t') cursor += 1;
    if (this.text[cursor] !== '=') return false;
    cursor += 1;
    while (this.text[cursor] === ' ' || this.text[cursor] === '\t') cursor += 1;
    const next = this.text[cursor];
    return next !== undefined && next !== '=' && next !== ',';
  }

  private quotedString(): string {
    // Opening quote.
    this.index += 1;
    let value = '';
    while (!this.atEnd()) {
      const char = this.text[this.index] ?? '';
      this.index += 1;
      if (char === '"') return value;
      if (char === '\\') {
        const escaped = this.text[this.index];
        if (escaped === undefined) break;
        this.index += 1;
        // mppx writes characters above Latin-1 as \uXXXX (a header value is a byte
        // string); read them back so values match what the seller bound into its id.
        const hex = this.text.slice(this.index, this.index + 4);
        if (escaped === 'u' && /^[0-9A-Fa-f]{4}$/.test(hex)) {
          const code = Number.parseInt(hex, 16);
          if (code >= 0xd800 && code <= 0xdfff) throw this.error('a quoted string escapes a surrogate code unit');
          if (code < 0x20 || code === 0x7f) throw this.error('a quoted string escapes a control character');
          value += String.fromCharCode(code);
          this.index += 4;
        } else {
          value += escaped;
        }
      } else {
        value += char;
      }
      if (value.length > AUTH_PARAM_VALUE_CHARS_MAX) throw this.error(`a quoted value is longer than ${AUTH_PARAM_VALUE_CHARS_MAX} characters`);
    }
    throw this.error('a quoted string is not terminated');
  }

  private token(what: string, charsMax: number): string {
    const start = this.index;
    while (!this.atEnd() && TCHAR.test(this.text[this.index] ?? '')) this.index += 1;
    if (this.index === start) throw this.error(`expected ${what}`);
    if (this.index - start > charsMax) throw this.error(`${what} is longer than ${charsMax} characters`);
    return this.text.slice(start, this.index);
  }

  private skipWhitespace(): boolean {
    const start = this.index;
    while (this.peek() === ' ' || this.peek() === '\t') this.index += 1;
    return this.index > start;
  }

  private skipListSeparators(): void {
    while (this.peek() === ' ' || this.peek() === '\t' || this.peek() === ',') this.index += 1;
  }

  private peek(): string | undefined {
    return this.text[this.index];
  }

  private atEnd(): boolean {
    return this.index >= this.text.length;
  }

  private error(detail: string): MppChallengeError {
    return new MppChallengeError(`WWW-Authenticate: ${detail} (at ${this.index})`);
  }
}
