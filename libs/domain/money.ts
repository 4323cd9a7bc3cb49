// Money inside Paybound is bigint. Budgets count US dollars in micro-dollars (6 decimals,
// the precision of USDC); asset amounts count the asset's own atomic units. Outside, money
// is a decimal string. Floats never touch either.

export const USD_DECIMALS = 6;
const USD_SCALE = 10n ** BigInt(USD_DECIMALS);
/**
 * The largest USD amount Paybound accepts anywhere: a trillion dollars, far above any budget.
 * Every store holds it (projections keep micro-dollars in numeric(30,0), the catalog in a
 * bigint), so an amount beyond it is refused at the boundary rather than poisoning a store.
 */
export const USD_MICROS_MAX = 10n ** 18n;
/** The largest token amount: a uint256, what a token can move at all; numeric(78,0) holds it. */
export const ATOMIC_AMOUNT_MAX = 2n ** 256n - 1n;
const USD_PATTERN = /^(0|[1-9][0-9]{0,12})(?:\.([0-9]{1,6}))?$/;

export class MoneyFormatError extends Error {
  readonly code = 'invalid_amount';
}

/** Parses a USD decimal string such as "2.00" or "0.005" into micro-dollars. */
export function parseUsdMicros(text: string): bigint {
  const match = USD_PATTERN.exec(text);
  if (match === null) {
    throw new MoneyFormatError(`"${text.slice(0, 32)}" is not a USD amount with at most ${USD_DECIMALS} decimals`);
  }
  const whole = BigInt(match[1] ?? '0');
  const fraction = BigInt((match[2] ?? '').padEnd(USD_DECIMALS, '0'));
  const micros = whole * USD_SCALE + fraction;
  if (micros > USD_MICROS_MAX) throw new MoneyFormatError('amount is too large');
  return micros;
}

/** Formats micro-dollars as a USD decimal string with at least two decimals ("2.00", "0.005"). */
export function formatUsdMicros(micros: bigint): string {
  const sign = micros < 0n ? '-' : '';
  const abs = micros < 0n ? -micros : micros;
  const whole = abs / USD_SCALE;
  let fraction = (abs % USD_SCALE).toString().padStart(USD_DECIMALS, '0').replace(/0+$/, '');
  if (fraction.length < 2) fraction = fraction.padEnd(2, '0');
  return `${sign}${whole}.${fraction}`;
}

/**
 * Converts an amount of a USD stablecoin in its atomic units to micro-dollars. Rounds up,
 * so that a budget is never charged less than the payment is worth.
 */
export function stablecoinAtomicToUsdMicros(amountAtomic: bigint, assetDecimals: number): bigint {
  if (assetDecimals >= USD_DECIMALS) {
    const divisor = 10n ** BigInt(assetDecimals - USD_DECIMALS);
    return (amountAtomic + divisor - 1n) / divisor;
  }
  return amountAtomic * 10n ** BigInt(USD_DECIMALS - assetDecimals);
}
