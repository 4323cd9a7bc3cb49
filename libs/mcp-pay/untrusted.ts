// Helpers for values an upstream MCP server wrote: it is not trusted, so its objects are
// checked to be plain data and its text is cleaned before anyone logs or shows it.

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const CONTROLS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g; // eslint-disable-line no-control-regex -- what safeText removes
const CONTROLS_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/g; // eslint-disable-line no-control-regex -- what safeText removes
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * Text safe to log and show: control characters become spaces (newlines kept only when
 * asked), lone surrogates become U+FFFD, and it is cut at `charsMax` with "...".
 */
export function safeText(text: string, charsMax: number, options: { keepNewlines?: boolean } = {}): string {
  const clean = text.replace(options.keepNewlines === true ? CONTROLS_BUT_NEWLINE : CONTROLS, ' ').replace(LONE_SURROGATE, '\uFFFD');
  if (clean.length <= charsMax) return clean;
  // Cutting between the halves of a surrogate pair would leave a lone half; drop it.
  return `${clean.slice(0, charsMax - 3).replace(/[\uD800-\uDBFF]$/, '')}...`;
}
