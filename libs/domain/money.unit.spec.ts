import { describe, expect, it } from 'vitest';
import { formatUsdMicros, MoneyFormatError, parseUsdMicros, stablecoinAtomicToUsdMicros } from './money.js';

describe('USD amounts', () => {
  it.each([
    ['2.00', 2_000_000n],
    ['0.005', 5_000n],
    ['0', 0n],
    ['12', 12_000_000n],
    ['0.000001', 1n],
  ])('parses %s', (text, micros) => {
    expect(parseUsdMicros(text)).toBe(micros);
  });

  it.each(['', '-1', '1.', '.5', '1.0000001', '01', '1e3', '0x10', ' 1', '1,00', '99999999999999'])('rejects %j', (text) => {
    expect(() => parseUsdMicros(text)).toThrow(MoneyFormatError);
  });

  it.each([
    [2_000_000n, '2.00'],
    [5_000n, '0.005'],
    [1n, '0.000001'],
    [0n, '0.00'],
    [-1_500_000n, '-1.50'],
  ])('formats %s micros as %s', (micros, text) => {
    expect(formatUsdMicros(micros)).toBe(text);
  });

  it('converts stablecoin units, rounding up so budgets are never undercharged', () => {
    expect(stablecoinAtomicToUsdMicros(10_000n, 6)).toBe(10_000n);
    expect(stablecoinAtomicToUsdMicros(1n, 18)).toBe(1n);
    expect(stablecoinAtomicToUsdMicros(10n ** 12n, 18)).toBe(1n);
    expect(stablecoinAtomicToUsdMicros(10n ** 12n + 1n, 18)).toBe(2n);
    expect(stablecoinAtomicToUsdMicros(5n, 2)).toBe(50_000n);
  });
});
