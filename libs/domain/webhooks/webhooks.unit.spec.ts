import { describe, expect, it } from 'vitest';
import {
  afterAttempt,
  DEFAULT_WEBHOOK_EVENT_TYPES,
  endpointWants,
  isWebhookEventType,
  parseSignatureHeader,
  retryDelayMs,
  signatureHeader,
  signedPayload,
  WEBHOOK_EVENT_TYPES,
  withinTolerance,
  type RetrySchedule,
  type WebhookSubscription,
} from './webhooks.js';

const CREATED_MS = Date.parse('2026-11-25T10:00:00.000Z');
const unscoped: WebhookSubscription = { eventTypes: DEFAULT_WEBHOOK_EVENT_TYPES, orgId: null, enabled: true, createdAtMs: CREATED_MS };
const scoped: WebhookSubscription = { ...unscoped, orgId: 'org-a' };
const event = (type: string, orgId: string, occurredAtMs = CREATED_MS + 1) => ({ type, orgId, occurredAtMs });
const schedule: RetrySchedule = { baseDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 5 };

describe('which endpoint gets which event', () => {
  it.each([
    ['an unscoped endpoint gets every org', unscoped, event('BudgetThresholdReached', 'org-b'), true],
    ['an unscoped endpoint gets wallet alerts (org "")', unscoped, event('WalletLowBalance', ''), true],
    ['a scoped endpoint gets its org', scoped, event('BudgetThresholdReached', 'org-a'), true],
    ['a scoped endpoint does not get another org', scoped, event('BudgetThresholdReached', 'org-b'), false],
    ['a scoped endpoint does not get wallet alerts', scoped, event('WalletBalanceRestored', ''), false],
    ['an endpoint does not get types it did not subscribe to', unscoped, event('Reserved', 'org-a'), false],
    ['a disabled endpoint gets nothing', { ...unscoped, enabled: false }, event('BudgetThresholdReached', 'org-a'), false],
    ['an endpoint does not get what happened before it existed', unscoped, event('BudgetThresholdReached', 'org-a', CREATED_MS - 1), false],
    ['an endpoint gets what happened the instant it was created', unscoped, event('BudgetThresholdReached', 'org-a', CREATED_MS), true],
  ])('%s', (_case, endpoint, candidate, wanted) => {
    expect(endpointWants(endpoint, candidate)).toBe(wanted);
  });

  it('knows every Paybound event type, and the alerts are the default', () => {
    expect(WEBHOOK_EVENT_TYPES).toHaveLength(23);
    expect(DEFAULT_WEBHOOK_EVENT_TYPES.every(isWebhookEventType)).toBe(true);
    expect(isWebhookEventType('Settled')).toBe(true);
    expect(isWebhookEventType('settled')).toBe(false);
    expect(isWebhookEventType('toString')).toBe(false);
  });
});

describe('retries', () => {
  it('doubles the wait from the base, caps it, and takes at most a fifth off for jitter', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => retryDelayMs(n, schedule, 0))).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
    expect(retryDelayMs(3, schedule, 0.999_999)).toBe(3_200);
    expect(retryDelayMs(10_000, schedule, 0)).toBe(60_000);
    expect(retryDelayMs(0, schedule, 0)).toBe(1_000);
  });

  it('delivers on 2xx, retries anything else until the attempts run out, then fails', () => {
    const now = 1_000_000;
    expect(afterAttempt(1, 200, now, schedule, 0)).toEqual({ status: 'delivered' });
    expect(afterAttempt(5, 204, now, schedule, 0)).toEqual({ status: 'delivered' });
    expect(afterAttempt(1, 503, now, schedule, 0)).toEqual({ status: 'pending', nextAttemptAtMs: now + 1_000 });
    expect(afterAttempt(2, null, now, schedule, 0)).toEqual({ status: 'pending', nextAttemptAtMs: now + 2_000 });
    expect(afterAttempt(3, 301, now, schedule, 0)).toEqual({ status: 'pending', nextAttemptAtMs: now + 4_000 });
    expect(afterAttempt(4, 199, now, schedule, 0)).toEqual({ status: 'pending', nextAttemptAtMs: now + 8_000 });
    expect(afterAttempt(5, 500, now, schedule, 0)).toEqual({ status: 'failed' });
    // A manual retry of a failed delivery is one more attempt.
    expect(afterAttempt(6, null, now, schedule, 0)).toEqual({ status: 'failed' });
  });
});

describe('the signature header', () => {
  const a = 'a'.repeat(64);
  const b = 'b'.repeat(64);

  it('covers the timestamp and the raw body', () => {
    expect(signedPayload(1_767_225_600, '{"x":1}')).toBe('1767225600.{"x":1}');
  });

  it('round-trips, with one v1 per secret', () => {
    const header = signatureHeader(1_767_225_600, [a, b]);
    expect(header).toBe(`t=1767225600,v1=${a},v1=${b}`);
    expect(parseSignatureHeader(header)).toEqual({ timestampSec: 1_767_225_600, signaturesHex: [a, b] });
    expect(parseSignatureHeader(`t=1, v0=zz, v1=${a}`)).toEqual({ timestampSec: 1, signaturesHex: [a] });
  });

  it.each([
    ['no timestamp', `v1=${a}`],
    ['no signature', 't=1'],
    ['two timestamps', `t=1,t=2,v1=${a}`],
    ['a timestamp that is not a number', `t=1e9,v1=${a}`],
    ['a short signature', 't=1,v1=abc'],
    ['upper-case hex', `t=1,v1=${a.toUpperCase()}`],
    ['a part without "="', `t=1,v1=${a},junk`],
    ['an oversized header', `t=1,v1=${a}`.padEnd(2_000, ' ')],
    ['too many signatures', `t=1${`,v1=${a}`.repeat(9)}`],
  ])('refuses %s', (_case, header) => {
    expect(parseSignatureHeader(header)).toBeUndefined();
  });

  it('accepts timestamps within the tolerance either side of now', () => {
    const nowMs = 1_767_225_600_000;
    expect(withinTolerance(1_767_225_600 - 300, nowMs, 300)).toBe(true);
    expect(withinTolerance(1_767_225_600 + 300, nowMs, 300)).toBe(true);
    expect(withinTolerance(1_767_225_600 - 301, nowMs, 300)).toBe(false);
    expect(withinTolerance(1_767_225_600 + 301, nowMs, 300)).toBe(false);
  });
});
