// Events are stored as JSON, which has no bigint. Money fields are named for their unit
// (`…Micros`, `…Atomic`), so the codec writes every bigint as a decimal string and reads
// those fields back as bigint, without a per-event mapper.

const BIGINT_FIELD = /(Micros|Atomic)$/;

export function encodeJson(value: unknown): string {
  return JSON.stringify(value, (_key, field: unknown) => (typeof field === 'bigint' ? field.toString() : field));
}

export function reviveBigints<T>(value: unknown): T {
  return reviveValue(value) as T;
}

function reviveValue(value: unknown, key = ''): unknown {
  if (typeof value === 'string' && BIGINT_FIELD.test(key) && /^-?[0-9]+$/.test(value)) return BigInt(value);
  if (Array.isArray(value)) return value.map((item) => reviveValue(item));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = reviveValue(v, k);
    return out;
  }
  return value;
}
