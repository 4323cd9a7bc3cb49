import { describe, expect, it } from 'vitest';
import { hmacHex, newWebhookSecret, signWebhook, verifyWebhookSignature } from './signature.js';

const T = 1_767_225_600;
const NOW_MS = T * 1000 + 2_000;
const BODY = '{"id":"evt_1"}';

describe('webhook signatures', () => {
  it('is HMAC-SHA256 of "<t>.<body>" in hex (checked against openssl dgst -sha256 -hmac)', () => {
    expect(hmacHex('whsec_test', T, BODY)).toBe('45b40331de0325606dc5400202ade162460fbe48daf9401adfdcd0d7b4f35470');
    expect(signWebhook(['whsec_test'], T, BODY)).toBe(`t=${T},v1=45b40331de0325606dc5400202ade162460fbe48daf9401adfdcd0d7b4f35470`);
  });

  it('verifies with the secret, and with either secret while a rotation overlaps', () => {
    const header = signWebhook(['whsec_new', 'whsec_old'], T, BODY);
    expect(verifyWebhookSignature({ header, rawBody: BODY, secret: 'whsec_new', nowMs: NOW_MS })).toBe('ok');
    expect(verifyWebhookSignature({ header, rawBody: BODY, secret: 'whsec_old', nowMs: NOW_MS })).toBe('ok');
  });

  it.each([
    ['a wrong secret', { secret: 'whsec_wrong' }, 'signature_mismatch'],
    ['a changed body', { rawBody: '{"id":"evt_2"}' }, 'signature_mismatch'],
    ['a body re-serialised with spaces', { rawBody: '{"id": "evt_1"}' }, 'signature_mismatch'],
    ['a replay after the tolerance', { nowMs: (T + 301) * 1000 }, 'timestamp_outside_tolerance'],
    ['no header', { header: undefined }, 'malformed_signature_header'],
    ['a header of another scheme only', { header: `t=${T},v0=${'0'.repeat(64)}` }, 'malformed_signature_header'],
  ])('refuses %s', (_case, change, code) => {
    const good = { header: signWebhook(['whsec_test'], T, BODY) as string | undefined, rawBody: BODY, secret: 'whsec_test', nowMs: NOW_MS };
    expect(verifyWebhookSignature({ ...good, ...change })).toBe(code);
  });

  it('refuses a timestamp moved to look fresh: the signature covers it', () => {
    const header = signWebhook(['whsec_test'], T, BODY).replace(`t=${T}`, `t=${T + 1}`);
    expect(verifyWebhookSignature({ header, rawBody: BODY, secret: 'whsec_test', nowMs: NOW_MS })).toBe('signature_mismatch');
  });

  it('makes distinct 256-bit secrets with the whsec_ prefix', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    expect(newWebhookSecret()).not.toBe(a);
  });
});
