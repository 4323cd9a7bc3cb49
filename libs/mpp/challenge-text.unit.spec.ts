import { describe, expect, it } from 'vitest';
import { encodeBase64Url } from './base64url.js';
import { parsePaymentChallenges } from './challenge.js';
import { paymentChallengeFromText, paymentChallengeText } from './challenge-text.js';
import { canonicalJson } from './jcs.js';

const request = encodeBase64Url(canonicalJson({ amount: '10000', currency: '0x5FbDB2315678afecb367f032d93F642f64180aa3', methodDetails: { chainId: 31337 }, recipient: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8' }));

describe('a kept MPP challenge', () => {
  it('reads back with every auth-param exactly as received, quotes and backslashes included', () => {
    const header = `Payment id="abc", realm="shop \\"one\\" \\\\ two", method="evm", intent="charge", request="${request}", expires="2030-01-01T00:00:00Z", description="x"`;
    const first = parsePaymentChallenges(header)[0];
    if (first === undefined || !first.ok) throw new Error('fixture does not parse');
    expect(first.challenge.realm).toBe('shop "one" \\ two');
    const again = paymentChallengeFromText(paymentChallengeText(first.challenge));
    expect(again?.params).toEqual(first.challenge.params);
    expect(again?.request).toBe(request);
  });

  it('is refused when it does not read back as exactly one usable challenge', () => {
    expect(paymentChallengeFromText('Payment id="a"')).toBeUndefined();
    expect(paymentChallengeFromText('not a challenge "')).toBeUndefined();
    const one = `Payment id="a", realm="r", method="evm", intent="charge", request="${request}"`;
    expect(paymentChallengeFromText(`${one}, ${one}`)).toBeUndefined();
    expect(paymentChallengeFromText(one)?.id).toBe('a');
  });
});
