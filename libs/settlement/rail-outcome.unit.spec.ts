import { describe, expect, it } from 'vitest';
import { encodeBase64Url } from '../mpp/base64url.js';
import { railOutcome } from './rail-outcome.js';

const TX = `0x${'ab'.repeat(32)}`;
const headers = (entries: Record<string, string>) => new Headers(entries);
const receipt = (document: Record<string, unknown>) => encodeBase64Url(JSON.stringify(document));

describe('the outcome of a paid request on either rail', () => {
  it('an MPP receipt names the transaction to check and is kept as received', () => {
    const value = receipt({ status: 'success', method: 'evm', reference: TX, timestamp: '2026-12-07T10:00:00Z' });
    expect(railOutcome(200, headers({ 'Payment-Receipt': value }))).toEqual({
      outcome: { outcome: 'paid', transaction: TX, detail: 'seller_answered_200' },
      receipt: { header: 'Payment-Receipt', value },
    });
    expect(railOutcome(500, headers({ 'Payment-Receipt': value })).outcome.outcome).toBe('unknown');
  });

  it('a malformed receipt is no evidence and is not kept', () => {
    expect(railOutcome(200, headers({ 'Payment-Receipt': 'not-base64url!' }))).toEqual({ outcome: { outcome: 'unknown', transaction: null, detail: 'payment_receipt_invalid' }, receipt: null });
    expect(railOutcome(200, headers({ 'Payment-Receipt': receipt({ status: 'success', method: 'evm', reference: 'nope', timestamp: '2026-12-07T10:00:00Z' }) })).receipt).toBeNull();
  });

  it('an x402 PAYMENT-RESPONSE is read as before, and kept', () => {
    const value = Buffer.from(JSON.stringify({ success: true, transaction: TX, network: 'eip155:31337' })).toString('base64');
    expect(railOutcome(200, headers({ 'PAYMENT-RESPONSE': value }))).toEqual({ outcome: { outcome: 'paid', transaction: TX, detail: 'seller_answered_200' }, receipt: { header: 'PAYMENT-RESPONSE', value } });
    expect(railOutcome(402, headers({}))).toEqual({ outcome: { outcome: 'refused', transaction: null, detail: 'seller_answered_402' }, receipt: null });
  });
});
