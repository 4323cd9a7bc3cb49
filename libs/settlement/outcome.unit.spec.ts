import { describe, expect, it } from 'vitest';
import { sellerOutcome } from './outcome.js';

const TX = `0x${'cd'.repeat(32)}`;
const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64');

describe('sellerOutcome', () => {
  it.each([
    ['200 with a successful PAYMENT-RESPONSE is paid', 200, encode({ success: true, transaction: TX, network: 'eip155:31337' }), { outcome: 'paid', transaction: TX }],
    ['402 with a failed PAYMENT-RESPONSE is refused', 402, encode({ success: false, transaction: '', network: 'eip155:31337', errorReason: 'invalid_nonce' }), { outcome: 'refused', transaction: null }],
    ['402 without a response header is refused', 402, undefined, { outcome: 'refused', transaction: null }],
    ['502 is unknown', 502, undefined, { outcome: 'unknown', transaction: null }],
    ['200 without PAYMENT-RESPONSE is unknown, not paid', 200, undefined, { outcome: 'unknown', transaction: null }],
    ['a success header on a 500 is unknown, with the transaction to check', 500, encode({ success: true, transaction: TX, network: 'eip155:31337' }), { outcome: 'unknown', transaction: TX }],
    ['a garbled PAYMENT-RESPONSE is unknown', 200, '%%%not-base64', { outcome: 'unknown', transaction: null }],
    ['no answer at all is unknown', null, undefined, { outcome: 'unknown', transaction: null }],
  ] as const)('%s', (_name, status, header, expected) => {
    expect(sellerOutcome(status, header)).toMatchObject(expected);
  });
});
