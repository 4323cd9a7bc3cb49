import { createHash } from 'node:crypto';

import fc from 'fast-check';
import { Challenge } from 'mppx';
import { describe, expect, it } from 'vitest';

import { AUTH_CHALLENGES_MAX, parseWwwAuthenticate } from './auth-params.js';
import { encodeBase64Url } from './base64url.js';
import { challengeUsableAt, digestMatchesBody, parsePaymentChallenges, type ChallengeParse, type PaymentChallenge } from './challenge.js';
import { MppChallengeError } from './errors.js';
import { parseEvmChargeRequest } from './evm-charge.js';
import { canonicalJson } from './jcs.js';

const SECRET = 'a-test-secret-that-is-long-enough-for-hmac';
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const RECIPIENT = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const OTHER = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';

function chargeRequest(overrides: Record<string, unknown> = {}, details: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    amount: '10000',
    currency: TOKEN,
    recipient: RECIPIENT,
    methodDetails: { chainId: 31337, credentialTypes: ['authorization'], decimals: 6, ...details },
    ...overrides,
  };
}

/** A challenge written by mppx itself, HMAC-bound as an mppx server binds it. */
function mppxHeader(parameters: Partial<Parameters<typeof Challenge.from>[0]> = {}): string {
  return Challenge.serialize(
    Challenge.from({
      realm: 'api.example.test',
      method: 'evm',
      intent: 'charge',
      request: chargeRequest(),
      expires: '2030-01-01T00:00:00.000Z',
      secretKey: SECRET,
      ...parameters,
    } as Parameters<typeof Challenge.from>[0]),
  );
}

function only(results: ChallengeParse[]): PaymentChallenge {
  expect(results).toHaveLength(1);
  const [result] = results;
  if (result === undefined || !result.ok) throw new Error(`expected a usable challenge, got ${JSON.stringify(result)}`);
  return result.challenge;
}

function refusal(results: ChallengeParse[]): Extract<ChallengeParse, { ok: false }> {
  expect(results).toHaveLength(1);
  const [result] = results;
  if (result === undefined || result.ok) throw new Error('expected a refused challenge');
  expect(result.detail.length).toBeLessThanOrEqual(200);
  return result;
}

function headerError(run: () => unknown): MppChallengeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(MppChallengeError);
    expect((error as MppChallengeError).code).toBe('bad_payment_offer');
    return error as MppChallengeError;
  }
  throw new Error('expected MppChallengeError');
}

const requestParam = (request: unknown): string => encodeBase64Url(canonicalJson(request));

describe('parsePaymentChallenges: what mppx writes', () => {
  it('reads an mppx challenge: every auth-param, the decoded request, the expiry', () => {
    const header = mppxHeader({ description: 'One "quoted" report \\ with a backslash — and an em dash', digest: 'sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' });
    const challenge = only(parsePaymentChallenges(header));
    const original = Challenge.deserialize(header);
    expect(challenge).toMatchObject({
      index: 0,
      id: original.id,
      realm: 'api.example.test',
      method: 'evm',
      intent: 'charge',
      expires: '2030-01-01T00:00:00.000Z',
      expiresAtMs: Date.parse('2030-01-01T00:00:00.000Z'),
      digest: original.digest,
      description: original.description,
      credentialHeader: 'Authorization',
    });
    expect(challenge.requestJson).toEqual(original.request);
    expect(Object.isFrozen(challenge.requestJson)).toBe(true);
    expect(challenge.params['request']).toBe(challenge.request);
  });

  it('reads several challenges from one value and from several header lines, skipping other schemes', () => {
    const first = mppxHeader();
    const second = mppxHeader({ request: chargeRequest({ amount: '20000' }) });
    const results = parsePaymentChallenges([`Bearer realm="api", ${first}`, `Basic dXNlcjpwYXNz, ${second}`]);
    expect(results.map((result) => (result.ok ? result.challenge.requestJson['amount'] : result.code))).toEqual(['10000', '20000']);
    expect(results.map((result) => (result.ok ? result.challenge.index : -1))).toEqual([0, 1]);
  });

  it('returns nothing when no Payment challenge is present', () => {
    expect(parsePaymentChallenges('Bearer realm="api", error="invalid_token"')).toEqual([]);
  });

  it('reads what mppx reads for any quoted value (property)', () => {
    // Latin-1 and above, quotes and backslashes: what the serialiser escapes must come back.
    const text = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).filter((value) => ![...value].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f || (char.charCodeAt(0) >= 0xd800 && char.charCodeAt(0) <= 0xdfff)));
    fc.assert(
      fc.property(text, text, (realm, description) => {
        const header = mppxHeader({ realm, description });
        const ours = only(parsePaymentChallenges(header));
        const theirs = Challenge.deserialize(header);
        expect(ours.realm).toBe(theirs.realm);
        expect(ours.description).toBe(theirs.description);
        expect(ours.id).toBe(theirs.id);
      }),
      { numRuns: 200 },
    );
  });
});

describe('parsePaymentChallenges: hostile headers fail as a whole', () => {
  const cases: Array<[string, string | string[], RegExp]> = [
    ['an unterminated quoted string', 'Payment id="abc, realm=x', /not terminated/],
    ['a duplicate auth-param (case-insensitive)', 'Payment id="a", ID="b", realm="x"', /appears twice/],
    ['a NUL byte', 'Payment id="a\u0000", realm="x"', /forbidden character/],
    ['a line break', 'Payment id="a",\r\n realm="x"', /forbidden character/],
    ['a character above Latin-1', 'Payment id="a\u2014", realm="x"', /forbidden character/],
    ['a quoted value where a token68 or auth-param must be', 'Payment id="a", realm "x"', /expected a token68/],
    ['an auth-param without a value', 'Payment id=, realm="x"', /expected a space after the auth-scheme/],
    ['garbage after a value', 'Payment id="a" realm="x"', /expected ","/],
    ['an escaped surrogate', 'Payment id="a", description="\\ud800"', /surrogate/],
    ['an oversized value', `Payment request="${'A'.repeat(16 * 1024 + 1)}"`, /longer than/],
    ['an oversized header', ['Payment id="a"', 'x'.repeat(64 * 1024)], /longer than/],
    ['too many auth-params', `Payment ${Array.from({ length: 17 }, (_, i) => `p${i}="v"`).join(', ')}`, /more than 16 auth-params/],
  ];
  it.each(cases)('%s', (_name, header, detail) => {
    expect(headerError(() => parsePaymentChallenges(header)).detail).toMatch(detail);
  });

  it('too many challenges', () => {
    const header = Array.from({ length: AUTH_CHALLENGES_MAX + 1 }, () => 'Bearer realm="x"').join(', ');
    expect(headerError(() => parsePaymentChallenges(header)).detail).toMatch(/more than 16 challenges/);
  });

  it('never throws anything but MppChallengeError, and never loops (property)', () => {
    const alphabet = fc.constantFrom('Payment', 'Bearer', ' ', ',', '=', '"', '\\', 'a', 'id', 'request', '\t', 'é', '\u0000', 'u00e9');
    fc.assert(
      fc.property(fc.array(alphabet, { maxLength: 60 }).map((parts) => parts.join('')), (header) => {
        try {
          parsePaymentChallenges(header);
        } catch (error) {
          expect(error).toBeInstanceOf(MppChallengeError);
        }
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('parsePaymentChallenges: one hostile challenge is refused, the others stay', () => {
  const base = { id: 'abc', realm: 'x', method: 'evm', intent: 'charge', request: requestParam(chargeRequest()) };
  const header = (params: Record<string, string>): string =>
    `Payment ${Object.entries(params)
      .map(([name, value]) => `${name}="${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`)
      .join(', ')}`;
  const without = (name: keyof typeof base) => Object.fromEntries(Object.entries(base).filter(([key]) => key !== name));

  const cases: Array<[string, Record<string, string>, string, RegExp]> = [
    ['missing id', without('id'), 'mpp_challenge_invalid', /id/],
    ['missing realm', without('realm'), 'mpp_challenge_invalid', /realm/],
    ['missing request', without('request'), 'mpp_challenge_invalid', /request/],
    ['an uppercase method', { ...base, method: 'EVM' }, 'mpp_challenge_invalid', /method/],
    ['expires that is not RFC 3339', { ...base, expires: 'tomorrow' }, 'mpp_challenge_invalid', /expires/],
    ['a credential header the scheme does not define', { ...base, header: 'Cookie' }, 'mpp_challenge_invalid', /header/],
    ['opaque that is not base64url', { ...base, opaque: 'a+b/' }, 'mpp_challenge_invalid', /opaque/],
    ['standard base64 in request', { ...base, request: Buffer.from('{"a":"~~~???"}').toString('base64') }, 'mpp_request_invalid', /base64url/],
    ['padding in the middle of request', { ...base, request: 'e30=e30' }, 'mpp_request_invalid', /base64url/],
    ['request that is not UTF-8', { ...base, request: encodeBase64Url(new Uint8Array([0x7b, 0xff, 0x7d])) }, 'mpp_request_invalid', /UTF-8/],
    ['request that is not JSON', { ...base, request: encodeBase64Url('not json') }, 'mpp_request_invalid', /not JSON/],
    ['request that is an array', { ...base, request: encodeBase64Url('[1]') }, 'mpp_request_invalid', /not a JSON object/],
    ['request with duplicate members', { ...base, request: encodeBase64Url('{"amount":"1","amount":"99999"}') }, 'mpp_request_invalid', /canonical/],
    ['request with members out of order', { ...base, request: encodeBase64Url('{"recipient":"x","amount":"1"}') }, 'mpp_request_invalid', /canonical/],
    ['request with a __proto__ member', { ...base, request: encodeBase64Url('{"__proto__":{"admin":true}}') }, 'mpp_request_invalid', /forbidden key/],
    ['request nested too deep', { ...base, request: encodeBase64Url(`${'['.repeat(40)}${']'.repeat(40)}`) }, 'mpp_request_invalid', /nested deeper/],
  ];
  it.each(cases)('%s', (_name, params, code, detail) => {
    const result = refusal(parsePaymentChallenges(header(params)));
    expect(result.code).toBe(code);
    expect(result.detail).toMatch(detail);
  });

  it('an auth-param named __proto__', () => {
    const result = refusal(parsePaymentChallenges(`${header(base)}, __proto__="x"`));
    expect(result).toMatchObject({ code: 'mpp_challenge_invalid', method: 'evm', intent: 'charge' });
    expect(result.detail).toMatch(/reserved/);
  });

  it('keeps the good challenge beside a refused one', () => {
    const results = parsePaymentChallenges(`${header({ ...base, request: 'not base64url!' })}, ${mppxHeader()}`);
    expect(results.map((result) => result.ok)).toEqual([false, true]);
  });
});

describe('parseEvmChargeRequest', () => {
  const parse = (request: unknown, params: Partial<Record<'method' | 'intent', string>> = {}) => {
    const results = parsePaymentChallenges(mppxHeader({ request: request as Record<string, unknown>, ...params }));
    return parseEvmChargeRequest(only(results));
  };

  it('reads an mppx evm/charge request', () => {
    const parsed = parse(chargeRequest({ externalId: 'order-7' }));
    expect(parsed).toEqual({
      ok: true,
      request: {
        amountAtomic: 10_000n,
        currency: TOKEN,
        recipient: RECIPIENT,
        chainId: 31337,
        network: 'eip155:31337',
        decimals: 6,
        credentialTypes: ['authorization'],
        splits: [],
        payees: [{ address: RECIPIENT, amountAtomic: 10_000n }],
        externalId: 'order-7',
      },
    });
  });

  it('makes every split recipient a payee, the primary keeping the rest', () => {
    const parsed = parse(chargeRequest({}, { splits: [{ amount: '2500', recipient: OTHER.toLowerCase() }] }));
    if (!parsed.ok) throw new Error(parsed.detail);
    expect(parsed.request.payees).toEqual([
      { address: RECIPIENT, amountAtomic: 7_500n },
      { address: OTHER, amountAtomic: 2_500n },
    ]);
  });

  it('takes mppx default credential types when the list is absent', () => {
    const request = chargeRequest();
    delete (request['methodDetails'] as Record<string, unknown>)['credentialTypes'];
    const parsed = parse(request);
    expect(parsed.ok && parsed.request.credentialTypes).toEqual(['authorization']);
  });

  const refusals: Array<[string, unknown, Partial<Record<'method' | 'intent', string>>, string, RegExp]> = [
    ['another method', chargeRequest(), { method: 'tempo' }, 'mpp_method_not_supported', /tempo/],
    ['another intent', chargeRequest(), { intent: 'session' }, 'mpp_intent_not_supported', /session/],
    ['a zero amount', chargeRequest({ amount: '0' }), {}, 'mpp_request_invalid', /positive/],
    ['a decimal amount', chargeRequest({ amount: '1.5' }), {}, 'mpp_request_invalid', /amount/],
    ['a leading zero', chargeRequest({ amount: '010' }), {}, 'mpp_request_invalid', /amount/],
    ['an amount above uint256', chargeRequest({ amount: (2n ** 256n).toString() }), {}, 'mpp_request_invalid', /uint256/],
    ['a numeric amount', chargeRequest({ amount: 10000 }), {}, 'mpp_request_invalid', /amount/],
    ['a recipient that is not an address', chargeRequest({ recipient: '0x1234' }), {}, 'mpp_request_invalid', /recipient/],
    ['a bad checksum', chargeRequest({ recipient: RECIPIENT.replace('C51812', 'c51812') }), {}, 'mpp_request_invalid', /checksum/],
    ['an unknown member', chargeRequest({ memo: 'x' }), {}, 'mpp_request_invalid', /memo|unrecognized/i],
    ['an unknown method detail', chargeRequest({}, { feeToken: TOKEN }), {}, 'mpp_request_invalid', /methodDetails/],
    ['a chain id of zero', chargeRequest({}, { chainId: 0 }), {}, 'mpp_request_invalid', /chainId/],
    ['splits adding up to the amount', chargeRequest({}, { splits: [{ amount: '10000', recipient: OTHER }] }), {}, 'mpp_request_invalid', /splits/],
    ['a zero split', chargeRequest({}, { splits: [{ amount: '0', recipient: OTHER }] }), {}, 'mpp_request_invalid', /positive/],
    ['eleven splits', chargeRequest({}, { splits: Array.from({ length: 11 }, () => ({ amount: '1', recipient: OTHER })) }), {}, 'mpp_request_invalid', /splits/],
  ];
  it.each(refusals)('refuses %s', (_name, request, params, code, detail) => {
    const parsed = parse(request, params);
    if (parsed.ok) throw new Error('expected a refusal');
    expect(parsed.code).toBe(code);
    expect(parsed.detail).toMatch(detail);
  });
});

describe('expiry and body digest', () => {
  it('a challenge is usable only while enough time is left', () => {
    const challenge = only(parsePaymentChallenges(mppxHeader({ expires: '2030-01-01T00:00:30Z' })));
    const expiresMs = Date.parse('2030-01-01T00:00:30Z');
    expect(challengeUsableAt(challenge, expiresMs - 20_000, 20)).toBe(true);
    expect(challengeUsableAt(challenge, expiresMs - 19_999, 20)).toBe(false);
    expect(challengeUsableAt(challenge, expiresMs + 1, 0)).toBe(false);
  });

  it('binds the body in both digest spellings, and refuses another body or algorithm', () => {
    const body = '{"query":"weather"}';
    const hash = `sha-256=${createHash('sha256').update(body, 'utf8').digest('base64')}`;
    for (const digest of [hash, hash.replace('sha-256=', 'sha-256=:') + ':']) {
      const challenge = only(parsePaymentChallenges(mppxHeader({ digest })));
      expect(digestMatchesBody(challenge, body)).toBe(true);
      expect(digestMatchesBody(challenge, Buffer.from(body))).toBe(true);
      expect(digestMatchesBody(challenge, '{"query":"weather" }')).toBe(false);
      expect(digestMatchesBody(challenge, undefined)).toBe(false);
    }
    const sha512 = only(parsePaymentChallenges(`${mppxHeader()}, digest="sha-512=abc"`));
    expect(digestMatchesBody(sha512, body)).toBe(false);
    expect(digestMatchesBody(only(parsePaymentChallenges(mppxHeader())), 'any body')).toBe(true);
  });
});

describe('the auth-param reader', () => {
  it('tells a token68 from auth-params', () => {
    expect(parseWwwAuthenticate('Basic dXNlcjpwYXNz==, Payment id=abc, realm="r"')).toEqual([
      { scheme: 'Basic', params: [], token68: 'dXNlcjpwYXNz==' },
      { scheme: 'Payment', params: [['id', 'abc'], ['realm', 'r']] },
    ]);
    expect(parseWwwAuthenticate('Negotiate, Payment realm = "r" ,id="x"')).toEqual([
      { scheme: 'Negotiate', params: [] },
      { scheme: 'Payment', params: [['realm', 'r'], ['id', 'x']] },
    ]);
  });
});
