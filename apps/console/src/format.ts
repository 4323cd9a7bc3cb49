// Pure formatting for the console: money stays a decimal string from end to end, never a float.

/** "1230000" micro-dollars → "$1.23"; keeps sub-cent amounts such as $0.005 visible. */
export function usdFromMicros(micros: string | number | bigint | null | undefined): string {
  if (micros === null || micros === undefined) return '—';
  const text = String(micros);
  if (!/^-?\d+$/.test(text)) return '—';
  const negative = text.startsWith('-');
  const digits = (negative ? text.slice(1) : text).padStart(7, '0');
  const whole = digits.slice(0, -6).replace(/^0+(?=\d)/, '');
  let fraction = digits.slice(-6).replace(/0+$/, '');
  if (fraction.length < 2) fraction = fraction.padEnd(2, '0');
  return `${negative ? '-' : ''}$${whole}.${fraction}`;
}

/** "0.10" (a USD decimal string from the API) → "$0.10". */
export function dollars(text: string | null | undefined): string {
  return text === null || text === undefined ? '—' : `$${text}`;
}

/** "0.015" → 15000n: the API's decimal strings as exact micro-dollars. Anything else is null. */
export function microsOf(text: string | null | undefined): bigint | null {
  if (typeof text !== 'string') return null;
  const match = /^(-?)(\d{1,18})(?:\.(\d{1,6}))?$/.exec(text);
  if (match === null) return null;
  const micros = BigInt(match[2]!) * 1_000_000n + BigInt((match[3] ?? '').padEnd(6, '0'));
  return match[1] === '-' ? -micros : micros;
}

/** Adds decimal strings exactly; the result is a decimal string again. */
export function sumDollars(values: readonly (string | null | undefined)[]): string {
  let total = 0n;
  for (const value of values) total += microsOf(value) ?? 0n;
  return decimalOfMicros(total);
}

/** 15000n → "0.015", 10000000n → "10.00": two decimals at least, six at most. */
export function decimalOfMicros(micros: bigint): string {
  return usdFromMicros(micros).replace('$', '');
}

/**
 * A chart needs numbers; dollars are plotted as a float only for drawing. The figures people
 * read (captions, tables, tooltips) come from the decimal strings.
 */
export function plotValue(text: string | null | undefined): number {
  const micros = microsOf(text);
  return micros === null ? 0 : Number(micros) / 1e6;
}

export function short(id: unknown, keep = 12): string {
  if (typeof id !== 'string') return '';
  return id.length > keep + 2 ? `${id.slice(0, keep)}…` : id;
}

/** "https://api.example.com/data?x=1" → "api.example.com/data". */
export function pathOf(resource: unknown): string {
  if (typeof resource !== 'string') return '';
  try {
    const url = new URL(resource);
    return `${url.host}${url.pathname}`;
  } catch {
    return resource;
  }
}

/** Seconds → "9m 05s", "42s", "expired". */
export function timeLeft(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds <= 0) return 'expired';
  const whole = Math.floor(seconds);
  const hours = Math.floor(whole / 3600);
  const minutes = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (hours > 0) return `${hours}h ${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m ${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

/** A bucket start as the axis shows it: "12-07 14:00" per hour, "2026-12-07" per day (UTC). */
export function bucketLabel(startIso: string, bucket: 'hour' | 'day'): string {
  const iso = new Date(startIso).toISOString();
  return bucket === 'day' ? iso.slice(0, 10) : `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
}
