import { describe, expect, it } from 'vitest';
import { bucketLabel, decimalOfMicros, microsOf, sumDollars, timeLeft, usdFromMicros } from './format.js';
import { parseRoute } from './route.js';
import { splitFrames } from './sse.js';

describe('console money formatting', () => {
  it.each([
    ['0', '$0.00'],
    ['5000', '$0.005'],
    ['10000', '$0.01'],
    ['1230000', '$1.23'],
    ['-2500000', '-$2.50'],
    ['1000000000000000000', '$1000000000000.00'],
    ['12.5', '—'],
    [null, '—'],
  ])('%s micro-dollars read %s', (micros, shown) => {
    expect(usdFromMicros(micros)).toBe(shown);
  });

  it('adds decimal strings exactly, where floats would drift', () => {
    // 0.1 + 0.2 in floats is 0.30000000000000004.
    expect(sumDollars(['0.1', '0.2'])).toBe('0.30');
    expect(sumDollars(Array<string>(1000).fill('0.000001'))).toBe('0.001');
    expect(sumDollars(['999999999999.999999', '0.000001'])).toBe('1000000000000.00');
    expect(sumDollars(['1.00', 'not money', null, undefined])).toBe('1.00');
  });

  it('reads only well-formed decimal strings as micro-dollars', () => {
    expect(microsOf('0.015')).toBe(15_000n);
    expect(microsOf('-1.5')).toBe(-1_500_000n);
    expect(microsOf('1.0000001')).toBeNull();
    expect(microsOf('1e3')).toBeNull();
    expect(microsOf('')).toBeNull();
    expect(decimalOfMicros(10_000_000n)).toBe('10.00');
  });

  it('counts time left down to expiry', () => {
    expect(timeLeft(545)).toBe('9m 05s');
    expect(timeLeft(42.9)).toBe('42s');
    expect(timeLeft(7_260)).toBe('2h 01m');
    expect(timeLeft(0)).toBe('expired');
    expect(timeLeft(Number.NaN)).toBe('expired');
  });

  it('labels buckets in UTC', () => {
    expect(bucketLabel('2026-12-07T14:00:00.000Z', 'hour')).toBe('12-07 14:00');
    expect(bucketLabel('2026-12-07T00:00:00.000Z', 'day')).toBe('2026-12-07');
  });
});

describe('the SSE frame reader', () => {
  it('splits complete frames, keeps the unfinished rest, and drops comments', () => {
    const { frames, rest } = splitFrames('retry: 1000\n\nid: 1.5\nevent: Reserved\ndata: {"a":1}\n\n: keep-alive\n\nid: 1.6\ndata: {"b"');
    expect(frames).toEqual([{ id: '1.5', event: 'Reserved', data: '{"a":1}' }]);
    expect(rest).toBe('id: 1.6\ndata: {"b"');
    expect(splitFrames(`${rest}:2}\n\n`).frames).toEqual([{ id: '1.6', event: 'message', data: '{"b":2}' }]);
  });

  it('joins multi-line data and accepts CRLF line ends', () => {
    expect(splitFrames('data: a\r\ndata: b\r\n\r\n').frames).toEqual([{ id: '', event: 'message', data: 'a\nb' }]);
  });
});

describe('console routes', () => {
  it.each([
    ['', { page: 'overview' }],
    ['#/', { page: 'overview' }],
    ['#/approvals', { page: 'approvals' }],
    ['#/freeze/', { page: 'freeze' }],
    ['#/policies', { page: 'policies' }],
    ['#/spend', { page: 'spend' }],
    ['#/payments', { page: 'payments' }],
    ['#/payments/pay_01%2Fx', { page: 'payment', paymentId: 'pay_01/x' }],
    ['#/payments/%E0%A4%A', { page: 'payments' }],
    [`#/payments/${'x'.repeat(201)}`, { page: 'payments' }],
    ['#/nowhere', { page: 'overview' }],
  ])('%s shows %o', (hash, route) => {
    expect(parseRoute(hash)).toEqual(route);
  });
});
