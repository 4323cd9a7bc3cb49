import { readFileSync } from 'node:fs';

import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';

import { X402OfferError } from '../x402/errors.js';
import { parsePaymentRequired } from '../x402/offer.js';
import { McpToolResultError } from './errors.js';
import {
  advertisingPaymentExtension,
  classifyToolCallAnswer,
  paymentPayloadDocument,
  readSettlement,
  TOOL_RESULT_CONTENT_BLOCKS_MAX,
  withoutPaymentMeta,
  withPayment,
  X402_MCP_EXTENSION_ID,
  type ToolCallAnswer,
  type ToolCallOutcome,
} from './transport.js';

// Fixtures are the examples of the x402 specifications, as JSON-RPC messages:
// - v2-*: specs/transports-v2/mcp.md of coinbase/x402 at dd927a26 (tool-result binding);
//   v2-jsonrpc-error-*: the same file before commit b74dd052 (the JSON-RPC error 402 form,
//   whose failure example elides `accepts`, written here as []);
// - v1-*: specs/transports-v1/mcp.md (its content text elides the data as {...}; here the
//   text carries the same object inside the `x402/error` wrapper it shows);
// - extension-*: specs/transports-v2/mcp.md of x402-foundation/x402 at 2cbfc56b, the
//   `org.x402/payment` extension binding of MCP 2026-07-28.
function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;
}

/** The JSON-RPC message of a fixture as the answer a client hands over: its result or its error. */
function answerOf(name: string): ToolCallAnswer {
  const message = fixture(name);
  return 'error' in message ? { error: message['error'] as { code: number; message: string; data?: unknown } } : { result: message['result'] };
}

function expectKind<K extends ToolCallOutcome['kind']>(outcome: ToolCallOutcome, kind: K): Extract<ToolCallOutcome, { kind: K }> {
  expect(outcome.kind).toBe(kind);
  return outcome as Extract<ToolCallOutcome, { kind: K }>;
}

function offerError(run: () => unknown): X402OfferError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(X402OfferError);
    return error as X402OfferError;
  }
  throw new Error('expected an X402OfferError');
}

function resultError(run: () => unknown): McpToolResultError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(McpToolResultError);
    expect((error as McpToolResultError).code).toBe('bad_tool_result');
    return error as McpToolResultError;
  }
  throw new Error('expected an McpToolResultError');
}

const SPEC_PAY_TO = getAddress('0x209693Bc6afc0C5328bA36FaF03C514EF312287C');

function paymentRequiredOf(toolResultFixture: string): Record<string, unknown> {
  return (fixture(toolResultFixture)['result'] as Record<string, unknown>)['structuredContent'] as Record<string, unknown>;
}

describe('classifyToolCallAnswer: the tool-result binding (current)', () => {
  it('reads the spec example from structuredContent', () => {
    const { signal, offer } = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-payment-required')), 'payment_required');
    expect(signal).toBe('tool_result');
    expect(offer.x402Version).toBe(2);
    expect(offer.resource?.url).toBe('mcp://tool/financial_analysis');
    expect(offer.requirements).toHaveLength(1);
    const [requirement] = offer.requirements;
    expect(requirement).toMatchObject({ scheme: 'exact', network: 'eip155:84532', amountAtomic: 10_000n, payTo: SPEC_PAY_TO, maxTimeoutSeconds: 60 });
    expect(requirement?.raw).toEqual((paymentRequiredOf('v2-tool-result-payment-required')['accepts'] as unknown[])[0]);
  });

  it('falls back to content[0].text when structuredContent is absent, reading the same offer', () => {
    const result = { ...(fixture('v2-tool-result-payment-required')['result'] as Record<string, unknown>) };
    delete result['structuredContent'];
    const fromText = expectKind(classifyToolCallAnswer({ result }), 'payment_required');
    const fromStructured = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-payment-required')), 'payment_required');
    expect(fromText.offer).toEqual(fromStructured.offer);
  });

  it('prefers structuredContent when content[0].text is not JSON (the settlement-failure example)', () => {
    const { offer } = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-settlement-failed')), 'payment_required');
    expect(offer.error).toBe('Settlement failed');
  });

  it('answers a paid call that is asked to pay again as payment_rejected, never as a new offer', () => {
    const rejected = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-settlement-failed'), { paymentSent: true }), 'payment_rejected');
    expect(rejected).toEqual({ kind: 'payment_rejected', signal: 'tool_result', reason: 'Settlement failed', settlement: { status: 'absent' } });
  });

  it('reads the v1 transport example, from structuredContent and from the x402/error text wrapper', () => {
    const { offer } = expectKind(classifyToolCallAnswer(answerOf('v1-tool-result-payment-required')), 'payment_required');
    expect(offer.x402Version).toBe(1);
    expect(offer.requirements[0]).toMatchObject({ network: 'eip155:84532', amountAtomic: 10_000n });
    const result = { ...(fixture('v1-tool-result-payment-required')['result'] as Record<string, unknown>) };
    delete result['structuredContent'];
    expect(expectKind(classifyToolCallAnswer({ result }), 'payment_required').offer).toEqual(offer);
  });

  it('accepts the MCP 2026-07-28 form of the same result, which adds resultType "complete"', () => {
    const result = { ...(fixture('v2-tool-result-payment-required')['result'] as Record<string, unknown>), resultType: 'complete' };
    expect(classifyToolCallAnswer({ result }).kind).toBe('payment_required');
  });

  it('leaves an ordinary tool error alone, JSON or not', () => {
    for (const text of ['city not found', '{"error":"city not found"}', '{"x402Version":2}', '{not json']) {
      const outcome = expectKind(classifyToolCallAnswer({ result: { isError: true, content: [{ type: 'text', text }] } }), 'completed');
      expect(outcome.result.isError).toBe(true);
      expect(outcome.result.content).toEqual([{ type: 'text', text }]);
    }
  });

  it('does not treat a successful result that happens to look like an offer as one', () => {
    const structuredContent = paymentRequiredOf('v2-tool-result-payment-required');
    for (const result of [{ content: [], structuredContent }, { content: [], structuredContent, isError: false }]) {
      const outcome = expectKind(classifyToolCallAnswer({ result }), 'completed');
      expect(outcome.result.structuredContent).toEqual(structuredContent);
    }
  });
});

describe('classifyToolCallAnswer: the JSON-RPC error 402 binding (older)', () => {
  it('reads the spec example from error.data as the same offer the tool-result form gives', () => {
    const { signal, offer } = expectKind(classifyToolCallAnswer(answerOf('v2-jsonrpc-error-payment-required')), 'payment_required');
    expect(signal).toBe('jsonrpc_error');
    const current = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-payment-required')), 'payment_required');
    expect(offer).toEqual(current.offer);
  });

  it('reads the settlement that the failure example carries in error.data', () => {
    const rejected = expectKind(classifyToolCallAnswer(answerOf('v2-jsonrpc-error-settlement-failed'), { paymentSent: true }), 'payment_rejected');
    expect(rejected.signal).toBe('jsonrpc_error');
    expect(rejected.reason).toBe('Payment settlement failed: insufficient funds');
    expect(rejected.settlement).toEqual({
      status: 'read',
      response: { success: false, transaction: '', network: 'eip155:84532', payer: '0x857b06519E91e3A54538791bDbb0E22373e36b66', errorReason: 'insufficient_funds' },
    });
  });

  it('refuses a 402 without a readable offer when nothing was paid yet', () => {
    expect(offerError(() => classifyToolCallAnswer(answerOf('v2-jsonrpc-error-settlement-failed'))).detail).toMatch(/accepts/);
    expect(offerError(() => classifyToolCallAnswer({ error: { code: 402, message: 'pay' } })).detail).toMatch(/error\.data/);
  });

  it('reports other JSON-RPC errors as failed, with a message safe to log', () => {
    const failed = expectKind(classifyToolCallAnswer({ error: { code: -32602, message: `Unknown tool\n\u0000evil${'x'.repeat(500)}\uD83D` } }), 'failed');
    expect(failed.code).toBe(-32602);
    expect(failed.message.length).toBeLessThanOrEqual(200);
    // eslint-disable-next-line no-control-regex -- the assertion is that none are left
    expect(failed.message).not.toMatch(/[\u0000-\u001f]/);
    expect(failed.message.startsWith('Unknown tool  evil')).toBe(true);
  });
});

describe('classifyToolCallAnswer: the extension binding (MCP 2026-07-28)', () => {
  it('reads result.paymentRequired when the request advertised org.x402/payment', () => {
    const { signal, offer } = expectKind(classifyToolCallAnswer(answerOf('extension-payment-required'), { extensionAdvertised: true }), 'payment_required');
    expect(signal).toBe('extension_result');
    expect(offer.requirements[0]).toMatchObject({ network: 'eip155:8453', amountAtomic: 10_000n });
    expect(offer.extensions).toEqual({});
  });

  it('refuses it when the request did not advertise the extension, as the spec forbids the server to send it', () => {
    expect(offerError(() => classifyToolCallAnswer(answerOf('extension-payment-required'))).detail).toMatch(/advertise/);
  });

  it('refuses an x402 v1 PaymentRequired in the extension, which carries v2 only', () => {
    const result = { resultType: 'payment_required', paymentRequired: paymentRequiredOf('v1-tool-result-payment-required') };
    expect(offerError(() => classifyToolCallAnswer({ result }, { extensionAdvertised: true })).detail).toMatch(/v2/);
  });

  it('refuses result types it does not understand (input_required and the like)', () => {
    resultError(() => classifyToolCallAnswer({ result: { resultType: 'input_required', inputRequests: {} } }));
  });
});

describe('classifyToolCallAnswer: hostile offers are refused before anything is reserved', () => {
  const base = () => structuredClone(paymentRequiredOf('v2-tool-result-payment-required'));
  const asToolError = (structuredContent: unknown): ToolCallAnswer => ({ result: { isError: true, structuredContent, content: [] } });
  const requirementWith = (change: Record<string, unknown>) => {
    const document = base();
    document['accepts'] = [{ ...(document['accepts'] as Record<string, unknown>[])[0], ...change }];
    return document;
  };

  it.each([
    ['a zero amount', requirementWith({ amount: '0' }), /amount/],
    ['a negative amount', requirementWith({ amount: '-1' }), /amount/],
    ['an amount beyond uint256', requirementWith({ amount: (2n ** 256n).toString() }), /uint256/],
    ['a payee that is not an address', requirementWith({ payTo: 'bob' }), /payTo/],
    ['a bad address checksum', requirementWith({ payTo: '0x209693bC6afc0C5328bA36FaF03C514EF312287C' }), /checksum/],
    ['a network that is not CAIP-2', requirementWith({ network: 'base' }), /network/],
    ['seventeen requirements', { ...base(), accepts: Array.from({ length: 17 }, () => (base()['accepts'] as unknown[])[0]) }, /at most 16/],
    ['an x402 version from the future', { ...base(), x402Version: 3 }, /x402Version/],
    ['nesting deeper than the limit', { ...base(), extensions: { deep: JSON.parse(`${'{"a":'.repeat(20)}1${'}'.repeat(20)}`) as unknown } }, /deeper/],
    ['a prototype key', JSON.parse(`{"x402Version":2,"accepts":[],"__proto__":{"polluted":true}}`) as unknown, /forbidden key/],
  ])('%s', (_label, document, detail) => {
    expect(offerError(() => classifyToolCallAnswer(asToolError(document))).detail).toMatch(detail);
  });

  it('an oversized offer in content[0].text', () => {
    const text = JSON.stringify({ ...base(), error: 'x'.repeat(70_000) });
    expect(offerError(() => classifyToolCallAnswer({ result: { isError: true, content: [{ type: 'text', text }] } })).detail).toMatch(/limit/);
  });

  it('keeps the unknown scheme for the selection to refuse, so the refusal names the reason', () => {
    const { offer } = expectKind(classifyToolCallAnswer(asToolError(requirementWith({ scheme: 'teleport' }))), 'payment_required');
    expect(offer.requirements[0]?.scheme).toBe('teleport');
  });
});

describe('classifyToolCallAnswer: completed results and their settlement', () => {
  it('reads the spec example of a paid result and its settlement', () => {
    const { result, settlement } = expectKind(classifyToolCallAnswer(answerOf('v2-paid-tool-result'), { paymentSent: true }), 'completed');
    expect(result.isError).toBe(false);
    expect(result.content[0]).toMatchObject({ type: 'text' });
    expect(settlement).toEqual({
      status: 'read',
      response: {
        success: true,
        transaction: '0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef',
        network: 'eip155:84532',
        payer: '0x857b06519E91e3A54538791bDbb0E22373e36b66',
      },
    });
  });

  it('marks an unreadable settlement malformed instead of losing the result', () => {
    const result = { content: [{ type: 'text', text: 'ok' }], _meta: { 'x402/payment-response': { success: true, transaction: 'not-a-hash', network: 'eip155:84532' } } };
    const outcome = expectKind(classifyToolCallAnswer({ result }, { paymentSent: true }), 'completed');
    expect(outcome.settlement).toEqual({ status: 'malformed', detail: 'transaction: a successful EVM settlement must carry a transaction hash' });
    expect(readSettlement('eyJzdWNjZXNzIjp0cnVlfQ==')).toEqual({ status: 'malformed', detail: 'x402/payment-response: must be an object' });
    expect(readSettlement(undefined)).toEqual({ status: 'absent' });
  });

  it('defaults content to [] as the MCP schema does, and keeps structuredContent and _meta', () => {
    const outcome = expectKind(classifyToolCallAnswer({ result: { structuredContent: { a: 1 }, _meta: { trace: 'x' } } }), 'completed');
    expect(outcome.result).toEqual({ content: [], isError: false, structuredContent: { a: 1 }, meta: { trace: 'x' } });
  });

  it.each([
    ['a result that is not an object', [] as unknown, /not a JSON object/],
    ['content that is not an array', { content: 'text' }, /content: must be an array/],
    ['a content block without a type', { content: [{ text: 'x' }] }, /content\.0\.type/],
    ['too many content blocks', { content: Array.from({ length: TOOL_RESULT_CONTENT_BLOCKS_MAX + 1 }, () => ({ type: 'text', text: '' })) }, /more than/],
    ['isError that is not a boolean', { content: [], isError: 'yes' }, /isError/],
    ['structuredContent that is not an object', { content: [], structuredContent: [1] }, /structuredContent/],
    ['nesting beyond 64 levels', { content: [], structuredContent: JSON.parse(`${'{"a":'.repeat(70)}1${'}'.repeat(70)}`) as unknown }, /deeper/],
    ['a prototype key from JSON.parse', JSON.parse('{"content":[],"structuredContent":{"__proto__":{"x":1}}}') as unknown, /forbidden key/],
    ['an object that is not plain JSON', { content: [], structuredContent: { at: new Date(0) } }, /not plain JSON/],
  ])('refuses %s', (_label, result, detail) => {
    expect(resultError(() => classifyToolCallAnswer({ result })).detail).toMatch(detail);
  });
});

describe('the paid retry: _meta["x402/payment"]', () => {
  const paidCall = (name: string) => fixture(name)['params'] as { name: string; arguments: Record<string, unknown>; _meta: Record<string, Record<string, unknown>> };

  it('builds exactly the spec example from its offer and the scheme payload (v2)', () => {
    const { offer } = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-payment-required')), 'payment_required');
    const expected = paidCall('v2-paid-tool-call');
    const payment = expected._meta['x402/payment'] ?? {};
    const requirement = offer.requirements[0];
    if (requirement === undefined) throw new Error('fixture has a requirement');
    const document = paymentPayloadDocument({ offer, requirement, payload: payment['payload'] });
    expect(withPayment({ name: expected.name, arguments: expected.arguments }, document)).toEqual(expected);
    // The echo is byte-for-byte: a server matching `accepted` by deep equality finds it.
    expect(JSON.stringify(document['accepted'])).toBe(JSON.stringify(payment['accepted']));
  });

  it('builds exactly the spec example of v1, with the seller network name echoed', () => {
    const { offer } = expectKind(classifyToolCallAnswer(answerOf('v1-tool-result-payment-required')), 'payment_required');
    const expected = paidCall('v1-paid-tool-call');
    const requirement = offer.requirements[0];
    if (requirement === undefined) throw new Error('fixture has a requirement');
    const document = paymentPayloadDocument({ offer, requirement, payload: expected._meta['x402/payment']?.['payload'] });
    expect(withPayment({ name: expected.name, arguments: expected.arguments }, document)).toEqual(expected);
  });

  it('keeps the other _meta keys of the call and carries extensions when given', () => {
    const { offer } = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-payment-required')), 'payment_required');
    const requirement = offer.requirements[0];
    if (requirement === undefined) throw new Error('fixture has a requirement');
    const document = paymentPayloadDocument({ offer, requirement, payload: { signature: '0x' }, extensions: { bazaar: { info: {} } } });
    expect(document['extensions']).toEqual({ bazaar: { info: {} } });
    const params = withPayment({ name: 't', _meta: { progressToken: 7 } }, document);
    expect(Object.keys(params._meta ?? {})).toEqual(['progressToken', 'x402/payment']);
  });

  it('refuses a requirement that is not from the offer, and a payload that is not plain JSON', () => {
    const first = expectKind(classifyToolCallAnswer(answerOf('v2-tool-result-payment-required')), 'payment_required').offer;
    const other = parsePaymentRequired({ body: paymentRequiredOf('v2-tool-result-payment-required') });
    const foreign = other.requirements[0];
    const own = first.requirements[0];
    if (foreign === undefined || own === undefined) throw new Error('fixtures have requirements');
    expect(() => paymentPayloadDocument({ offer: first, requirement: foreign, payload: {} })).toThrow(RangeError);
    expect(() => paymentPayloadDocument({ offer: first, requirement: own, payload: { value: 1n } })).toThrow(/bigint/);
  });

  it('strips every x402 key an agent puts in its own _meta', () => {
    const meta = { progressToken: 1, 'x402/payment': { forged: true }, 'x402/payment-response': {}, 'org.x402/payment': {}, 'x402.other': 2 };
    expect(withoutPaymentMeta(meta)).toEqual({ progressToken: 1, 'x402.other': 2 });
    expect(withoutPaymentMeta(undefined)).toBeUndefined();
  });

  it('advertises the extension in the per-request client capabilities, keeping what is there', () => {
    const meta = advertisingPaymentExtension({
      progressToken: 1,
      'io.modelcontextprotocol/clientCapabilities': { sampling: {}, extensions: { 'other/ext': { a: 1 } } },
    });
    expect(meta).toEqual({
      progressToken: 1,
      'io.modelcontextprotocol/clientCapabilities': { sampling: {}, extensions: { 'other/ext': { a: 1 }, [X402_MCP_EXTENSION_ID]: {} } },
    });
  });
});
