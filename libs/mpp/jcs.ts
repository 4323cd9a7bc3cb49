// JSON Canonicalization Scheme (RFC 8785) for the values JSON.parse produces. RFC 8785
// defines string and number serialisation as ECMAScript's JSON.stringify does, so only
// the member order (by UTF-16 code units) needs code of its own.

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new RangeError('canonicalJson: non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    // The default sort compares UTF-16 code units, which is exactly RFC 8785's order.
    const keys = Object.keys(record).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  throw new RangeError(`canonicalJson: a ${typeof value} is not JSON`);
}
