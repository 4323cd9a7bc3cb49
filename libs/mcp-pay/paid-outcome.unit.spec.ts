import { describe, expect, it } from 'vitest';
import { encodeBase64Json } from '../x402/encoding.js';
import { paidToolCallOutcome } from './paid-outcome.js';
import { classifyToolCallAnswer, paymentPayloadFromHeader } from './transport.js';

const TX = `0x${'ab'.repeat(32)}`;
const settled = (response: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  classifyToolCallAnswer({ result: { content: [{ type: 'text', text: 'ok' }], ...extra, _meta: { 'x402/payment-response': response } } }, { paymentSent: true });

describe('what a paid tool call tells the ledger', () => {
  it('names the transaction only for a successful settlement of a tool that succeeded', () => {
    expect(paidToolCallOutcome(settled({ success: true, transaction: TX, network: 'eip155:31337' }))).toEqual({ outcome: 'paid', transaction: TX, detail: 'mcp_tool_settled' });
    expect(paidToolCallOutcome(settled({ success: true, transaction: TX, network: 'eip155:31337' }, { isError: true }))).toMatchObject({ outcome: 'unknown', transaction: TX });
    expect(paidToolCallOutcome(settled({ success: false, transaction: '', network: 'eip155:31337', errorReason: 'insufficient funds!' }))).toEqual({ outcome: 'unknown', transaction: null, detail: 'seller_insufficient_funds_' });
  });

  it('leaves a tool that failed unsettled, or a malformed settlement, to the chain', () => {
    const failed = classifyToolCallAnswer({ result: { isError: true, content: [{ type: 'text', text: 'backend down' }] } }, { paymentSent: true });
    expect(paidToolCallOutcome(failed)).toEqual({ outcome: 'unknown', transaction: null, detail: 'mcp_tool_failed_unsettled' });
    expect(paidToolCallOutcome(settled({ success: 'yes' }))).toEqual({ outcome: 'unknown', transaction: null, detail: 'payment_response_invalid' });
  });

  it('records a paid call answered with a payment signal again as refused, never paid', () => {
    const again = classifyToolCallAnswer(
      { error: { code: 402, message: 'Payment verification failed', data: { x402Version: 2, error: 'invalid_signature', accepts: [] } } },
      { paymentSent: true },
    );
    expect(paidToolCallOutcome(again)).toEqual({ outcome: 'refused', transaction: null, detail: 'seller_rejected_payment' });
  });
});

describe('paymentPayloadFromHeader', () => {
  it('reads the signed header into the document _meta["x402/payment"] carries, and refuses anything else', () => {
    const payload = { x402Version: 2, accepted: { scheme: 'exact' }, payload: { signature: '0x01' } };
    expect(paymentPayloadFromHeader(encodeBase64Json(payload))).toEqual(payload);
    expect(() => paymentPayloadFromHeader(encodeBase64Json({ x402Version: 3 }))).toThrow(RangeError);
    expect(() => paymentPayloadFromHeader(encodeBase64Json([1]))).toThrow(RangeError);
    expect(() => paymentPayloadFromHeader('not base64 json')).toThrow();
  });
});
