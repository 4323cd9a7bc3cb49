import { readFileSync } from 'node:fs';

import { encodePaymentRequiredHeader } from '@x402/core/http';
import type { PaymentRequired } from '@x402/core/types';
import { getAddress } from 'viem';
import { describe, expect, it } from 'vitest';

import { X402OfferError } from './errors.js';
import { parsePaymentRequired, PAYMENT_REQUIRED_HEADER_BYTES_MAX, REQUIREMENTS_MAX } from './offer.js';

// Hand-written from the v1 spec's 402 body shape (Base Sepolia USDC), standing in for a
// recorded offer because the v1 packages cannot name a local chain.
const v1Fixture: unknown = JSON.parse(
  readFileSync(new URL('./fixtures/v1-base-sepolia-offer.json', import.meta.url), 'utf8'),
);

const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const PAY_TO = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

function v2Offer(overrides: Partial<PaymentRequired['accepts'][number]> = {}): PaymentRequired {
  return {
    x402Version: 2,
    error: 'Payment required',
    resource: { url: 'http://127.0.0.1:4021/data', description: 'Paid data', mimeType: 'application/json' },
    accepts: [
      {
        scheme: 'exact',
        network: 'eip155:31337',
        amount: '10000',
        asset: TOKEN,
        payTo: PAY_TO,
        maxTimeoutSeconds: 300,
        extra: { name: 'Test USD', version: '1' },
        ...overrides,
      },
    ],
  };
}

function encodeRaw(document: unknown): string {
  return Buffer.from(JSON.stringify(document), 'utf8').toString('base64');
}

function rejection(run: () => unknown): X402OfferError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(X402OfferError);
    const offerError = error as X402OfferError;
    expect(offerError.code).toBe('bad_payment_offer');
    expect(offerError.detail.length).toBeLessThanOrEqual(200);
    return offerError;
  }
  throw new Error('expected parsePaymentRequired to throw');
}

describe('parsePaymentRequired: v2', () => {
  it('reads a header made by the official encoder', () => {
    const header = encodePaymentRequiredHeader(v2Offer());
    const offer = parsePaymentRequired({ header, body: {} });
    expect(offer.x402Version).toBe(2);
    expect(offer.resource).toEqual({
      url: 'http://127.0.0.1:4021/data',
      description: 'Paid data',
      mimeType: 'application/json',
    });
    expect(offer.requirements).toHaveLength(1);
    const [requirement] = offer.requirements;
    expect(requirement).toMatchObject({
      index: 0,
      scheme: 'exact',
      network: 'eip155:31337',
      amountAtomic: 10000n,
      asset: TOKEN,
      payTo: PAY_TO,
      maxTimeoutSeconds: 300,
      extra: { name: 'Test USD', version: '1' },
    });
    expect(requirement?.raw).toEqual(v2Offer().accepts[0]);
  });

  it('accepts a bare header string', () => {
    expect(parsePaymentRequired(encodePaymentRequiredHeader(v2Offer())).x402Version).toBe(2);
  });

  it('checksums addresses but keeps the raw requirement verbatim', () => {
    const header = encodePaymentRequiredHeader(v2Offer({ payTo: PAY_TO.toLowerCase() }));
    const [requirement] = parsePaymentRequired({ header }).requirements;
    expect(requirement?.payTo).toBe(PAY_TO);
    expect(requirement?.raw['payTo']).toBe(PAY_TO.toLowerCase());
  });

  it('keeps an unknown but well-formed scheme', () => {
    const header = encodePaymentRequiredHeader(v2Offer({ scheme: 'upto' }));
    expect(parsePaymentRequired({ header }).requirements[0]?.scheme).toBe('upto');
  });

  it('freezes the offer so the echoed requirement cannot change', () => {
    const offer = parsePaymentRequired({ header: encodePaymentRequiredHeader(v2Offer()) });
    expect(Object.isFrozen(offer.requirements[0]?.raw)).toBe(true);
  });
});

describe('parsePaymentRequired: v1', () => {
  it('reads the recorded v1 body as an object and as text', () => {
    for (const body of [v1Fixture, JSON.stringify(v1Fixture)]) {
      const offer = parsePaymentRequired({ header: null, body });
      expect(offer.x402Version).toBe(1);
      expect(offer.resource?.url).toBe('https://api.example.com/weather');
      expect(offer.requirements[0]).toMatchObject({
        scheme: 'exact',
        network: 'eip155:84532',
        amountAtomic: 10000n,
        asset: '0x036CbD53842c5426634e7929541eC2318f3dCF7e',
        payTo: getAddress('0x209693bc6afc0c5328ba36faf03c514ef312287c'),
        maxTimeoutSeconds: 60,
      });
      expect(offer.requirements[0]?.raw['network']).toBe('base-sepolia');
    }
  });

  it.each([
    ['base', 'eip155:8453'],
    ['avalanche-fuji', 'eip155:43113'],
    ['avalanche', 'eip155:43114'],
    ['polygon', 'eip155:137'],
    ['polygon-amoy', 'eip155:80002'],
    ['sei', 'eip155:1329'],
    ['iotex', 'eip155:4689'],
  ])('maps v1 network %s to %s', (name, caip2) => {
    const body = withV1Requirement({ network: name });
    expect(parsePaymentRequired({ body }).requirements[0]?.network).toBe(caip2);
  });

  it('rejects an unknown v1 network name', () => {
    expect(rejection(() => parsePaymentRequired({ body: withV1Requirement({ network: 'base-mainnet' }) })).detail).toMatch(
      /accepts\.0\.network/,
    );
  });
});

function withV1Requirement(overrides: Record<string, unknown>): unknown {
  const document = structuredClone(v1Fixture) as { accepts: Array<Record<string, unknown>> };
  document.accepts[0] = { ...document.accepts[0], ...overrides };
  return document;
}

describe('parsePaymentRequired: rejections', () => {
  it('bad base64', () => {
    expect(rejection(() => parsePaymentRequired({ header: 'not base64!!' })).detail).toMatch(/base64/);
  });

  it('base64url is not standard base64', () => {
    // '???>>>~~~' encodes to runs of '/' and '+', so the base64url form differs from the
    // standard one in both alphabets' extra characters; the standard form is the control.
    const offer = v2Offer();
    const document = { ...offer, resource: { ...offer.resource, description: 'Paid data ???>>>~~~' } };
    const standard = encodeRaw(document);
    expect(standard).toMatch(/\+/);
    expect(standard).toMatch(/\//);
    expect(parsePaymentRequired({ header: standard }).resource?.description).toBe('Paid data ???>>>~~~');
    const header = standard.replaceAll('+', '-').replaceAll('/', '_');
    expect(rejection(() => parsePaymentRequired({ header })).detail).toMatch(/not standard base64/);
  });

  it('not JSON', () => {
    const header = Buffer.from('hello, world', 'utf8').toString('base64');
    expect(rejection(() => parsePaymentRequired({ header })).detail).toMatch(/not JSON/);
  });

  it('JSON that is not an object', () => {
    rejection(() => parsePaymentRequired({ header: encodeRaw([1, 2, 3]) }));
  });

  it('unsupported x402Version', () => {
    expect(rejection(() => parsePaymentRequired({ header: encodeRaw({ ...v2Offer(), x402Version: 3 }) })).detail).toMatch(
      /x402Version/,
    );
  });

  it('invalid scheme name', () => {
    expect(rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ scheme: 'Exact Scheme!' })))).detail).toMatch(
      /accepts\.0\.scheme/,
    );
  });

  it.each([
    ['negative', '-1'],
    ['zero', '0'],
    ['decimal', '0.01'],
    ['leading zero', '010'],
    ['exponent', '1e6'],
    ['huge', '9'.repeat(79)],
  ])('%s amount', (_label, amount) => {
    expect(rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ amount })))).detail).toMatch(/accepts\.0\.amount/);
  });

  it('amount above uint256 on EVM', () => {
    expect(rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ amount: '9'.repeat(78) })))).detail).toMatch(/uint256/);
  });

  it('amount as a number', () => {
    rejection(() => parsePaymentRequired(encodeRaw({ ...v2Offer(), accepts: [{ ...v2Offer().accepts[0], amount: 10000 }] })));
  });

  it.each([0, -5, 1.5, 86_401])('maxTimeoutSeconds %s', (maxTimeoutSeconds) => {
    expect(rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ maxTimeoutSeconds })))).detail).toMatch(
      /maxTimeoutSeconds/,
    );
  });

  it('oversized header', () => {
    const padded = { ...v2Offer(), error: 'x'.repeat(PAYMENT_REQUIRED_HEADER_BYTES_MAX) };
    const error = rejection(() => parsePaymentRequired({ header: encodeRaw(padded) }));
    expect(error.detail).toMatch(/limit/);
  });

  it('too many requirements', () => {
    const requirement = v2Offer().accepts[0];
    const document = { ...v2Offer(), accepts: Array.from({ length: REQUIREMENTS_MAX + 1 }, () => requirement) };
    expect(rejection(() => parsePaymentRequired(encodeRaw(document))).detail).toMatch(/at most 16/);
  });

  it('no requirements', () => {
    rejection(() => parsePaymentRequired(encodeRaw({ ...v2Offer(), accepts: [] })));
  });

  it('bad payTo address', () => {
    expect(rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ payTo: '0x1234' })))).detail).toMatch(
      /accepts\.0\.payTo/,
    );
  });

  it('bad asset checksum', () => {
    const badChecksum = TOKEN.replace('Fb', 'fB');
    expect(rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ asset: badChecksum })))).detail).toMatch(/checksum/);
  });

  it('bad network id', () => {
    rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ network: 'base-sepolia' as `${string}:${string}` }))));
  });

  it('__proto__ key in the header', () => {
    const text = JSON.stringify(v2Offer()).replace('"extra":{', '"extra":{"__proto__":{"polluted":true},');
    const header = Buffer.from(text, 'utf8').toString('base64');
    expect(rejection(() => parsePaymentRequired({ header })).detail).toMatch(/__proto__/);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('__proto__ key in a v1 body given as text', () => {
    const text = JSON.stringify(v1Fixture).replace('"accepts":[{', '"accepts":[{"__proto__":{"x":1},');
    rejection(() => parsePaymentRequired({ body: text }));
  });

  it.each([
    ['NUL in the description', (o: PaymentRequired) => ({ ...o, resource: { ...o.resource, description: 'a\u0000b' } })],
    ['NUL in extra', (o: PaymentRequired) => ({ ...o, accepts: [{ ...o.accepts[0]!, extra: { name: 'Test USD', version: '1', note: '\u0000' } }] })],
    ['a lone surrogate in the description', (o: PaymentRequired) => ({ ...o, resource: { ...o.resource, description: 'x\ud800' } })],
    ['NUL in a key of extensions', (o: PaymentRequired) => ({ ...o, extensions: { 'k\u0000': 1 } })],
  ])('%s: nothing a store would refuse', (_name, change) => {
    expect(rejection(() => parsePaymentRequired(encodeRaw(change(v2Offer())))).detail).toMatch(/NUL|surrogate/);
  });

  it('keeps a well-formed surrogate pair and control characters other than NUL', () => {
    const offer = v2Offer();
    expect(() => parsePaymentRequired(encodeRaw({ ...offer, resource: { ...offer.resource, description: 'data \u{1F600}\ttab' } }))).not.toThrow();
  });

  it('constructor key in an object body', () => {
    rejection(() => parsePaymentRequired({ body: { ...(v1Fixture as object), constructor: { prototype: {} } } }));
  });

  it('deeply nested extensions', () => {
    let nested: unknown = {};
    for (let depth = 0; depth < 40; depth++) nested = { a: nested };
    rejection(() => parsePaymentRequired(encodeRaw({ ...v2Offer(), extensions: { deep: nested } })));
  });

  // PostgreSQL refuses NUL and unpaired surrogates in jsonb: such an offer failed with 500
  // when its row was written. It is refused here, as the seller's fault.
  it.each([
    ['NUL in the resource description', { ...v2Offer(), resource: { url: 'http://127.0.0.1:4021/data', description: 'a\u0000b' } }],
    ['NUL in extra', v2Offer({ extra: { name: 'Test USD', version: '1', note: 'c\u0000d' } })],
    ['an unpaired surrogate in extra', v2Offer({ extra: { name: 'Test USD', version: '1', note: 'x\ud800y' } })],
    ['NUL in a key of extensions', { ...v2Offer(), extensions: { 'k\u0000': 1 } }],
  ])('%s', (_case, document) => {
    expect(rejection(() => parsePaymentRequired(encodeRaw(document))).detail).toMatch(/NUL or an unpaired surrogate/);
  });

  it('keeps paired surrogates (emoji) in a description', () => {
    const offer = parsePaymentRequired(encodeRaw({ ...v2Offer(), resource: { url: 'http://127.0.0.1:4021/data', description: 'weather \ud83c\udf24' } }));
    expect(offer.resource?.description).toBe('weather \u{1f324}');
  });

  it('missing header and body', () => {
    rejection(() => parsePaymentRequired({ header: null }));
  });

  it('does not echo the input in the detail', () => {
    const secret = 'A'.repeat(500);
    const error = rejection(() => parsePaymentRequired(encodeRaw(v2Offer({ payTo: secret }))));
    expect(error.detail).not.toContain(secret.slice(0, 50));
  });
});
