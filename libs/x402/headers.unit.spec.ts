import {
  decodePaymentSignatureHeader,
  encodePaymentRequiredHeader,
  encodePaymentResponseHeader,
} from '@x402/core/http';
import { describe, expect, it } from 'vitest';

import { X402ResponseError } from './errors.js';
import { buildPaymentSignatureHeader, buildXPaymentHeader, parsePaymentResponse } from './headers.js';
import { parsePaymentRequired } from './offer.js';

const TX = `0x${'ab'.repeat(32)}`;
const PAY_TO_LOWER = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';

const v2Header = encodePaymentRequiredHeader({
  x402Version: 2,
  resource: { url: 'http://127.0.0.1/data', description: 'Paid data', mimeType: 'application/json' },
  accepts: [
    {
      scheme: 'exact',
      network: 'eip155:31337',
      amount: '10000',
      asset: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      payTo: PAY_TO_LOWER,
      maxTimeoutSeconds: 300,
      extra: { name: 'Test USD', version: '1' },
    },
  ],
});

describe('buildPaymentSignatureHeader', () => {
  it('echoes the raw requirement and resource, readable by the official decoder', () => {
    const offer = parsePaymentRequired({ header: v2Header });
    const requirement = offer.requirements[0];
    if (requirement === undefined) throw new Error('fixture has a requirement');
    const header = buildPaymentSignatureHeader({ offer, requirement, payload: { signature: '0x01' } });
    expect(header.name).toBe('PAYMENT-SIGNATURE');
    const decoded = decodePaymentSignatureHeader(header.value);
    expect(decoded.x402Version).toBe(2);
    expect(decoded.accepted).toEqual(requirement.raw);
    expect(decoded.accepted.payTo).toBe(PAY_TO_LOWER);
    expect(decoded.resource).toEqual(offer.resourceRaw);
    expect(decoded.payload).toEqual({ signature: '0x01' });
  });

  it('refuses a requirement from another offer', () => {
    const offer = parsePaymentRequired({ header: v2Header });
    const other = parsePaymentRequired({ header: v2Header }).requirements[0];
    if (other === undefined) throw new Error('fixture has a requirement');
    expect(() => buildPaymentSignatureHeader({ offer, requirement: other, payload: {} })).toThrow(RangeError);
  });
});

describe('buildXPaymentHeader', () => {
  it('uses the v1 network name the seller sent', () => {
    const offer = parsePaymentRequired({
      body: {
        x402Version: 1,
        error: 'X-PAYMENT header is required',
        accepts: [
          {
            scheme: 'exact',
            network: 'base-sepolia',
            maxAmountRequired: '10000',
            resource: 'https://api.example.com/weather',
            description: '',
            payTo: PAY_TO_LOWER,
            maxTimeoutSeconds: 60,
            asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
            extra: { name: 'USDC', version: '2' },
          },
        ],
      },
    });
    const requirement = offer.requirements[0];
    if (requirement === undefined) throw new Error('fixture has a requirement');
    const header = buildXPaymentHeader({ offer, requirement, payload: { signature: '0x01' } });
    expect(header.name).toBe('X-PAYMENT');
    expect(JSON.parse(Buffer.from(header.value, 'base64').toString('utf8'))).toEqual({
      x402Version: 1,
      scheme: 'exact',
      network: 'base-sepolia',
      payload: { signature: '0x01' },
    });
  });
});

describe('parsePaymentResponse', () => {
  it('reads a response made by the official encoder', () => {
    const value = encodePaymentResponseHeader({
      success: true,
      transaction: TX,
      network: 'eip155:31337',
      payer: PAY_TO_LOWER,
      amount: '10000',
    });
    expect(parsePaymentResponse(value)).toEqual({
      success: true,
      transaction: TX,
      network: 'eip155:31337',
      payer: PAY_TO_LOWER,
      amount: '10000',
    });
  });

  it('reads a failure with an empty transaction', () => {
    const value = encodePaymentResponseHeader({
      success: false,
      transaction: '',
      network: 'eip155:31337',
      errorReason: 'invalid_signature',
    });
    expect(parsePaymentResponse(value)).toMatchObject({ success: false, errorReason: 'invalid_signature' });
  });

  it.each([
    ['bad base64', '%%%'],
    ['not JSON', Buffer.from('nope').toString('base64')],
    ['missing success', Buffer.from(JSON.stringify({ transaction: TX, network: 'eip155:1' })).toString('base64')],
    [
      'success without a hash',
      Buffer.from(JSON.stringify({ success: true, transaction: 'x', network: 'eip155:1' })).toString('base64'),
    ],
    ['oversized', 'A'.repeat(20_000)],
  ])('rejects %s', (_label, value) => {
    expect(() => parsePaymentResponse(value)).toThrow(X402ResponseError);
  });
});
