import { describe, expect, it } from 'vitest';
import { changeOf, endpointOf, parseMessage, utcDayOf } from './fold.js';

const IDS = { intentId: 'pay_1', sessionId: 'ses_1', agentId: 'agent-1', orgId: 'org-1' };

describe('the FinOps fold', () => {
  it('remembers the endpoint of a reservation, with or without an approval', () => {
    for (const type of ['paybound.reserved.v1', 'paybound.approval_requested.v1']) {
      expect(changeOf({ id: 'e1', type, data: { ...IDS, resource: 'https://api.example.com/search?q=a#top', amountMicros: '10000' } })).toEqual({
        kind: 'remember_endpoint',
        eventId: 'e1',
        intentId: 'pay_1',
        orgId: 'org-1',
        agentId: 'agent-1',
        endpoint: 'https://api.example.com/search',
      });
    }
  });

  it('adds a settlement to its UTC day, in micro-dollars', () => {
    const settled = (settledAt: string, amountMicros: unknown = '25000') => changeOf({ id: 'e2', type: 'paybound.settled.v1', data: { ...IDS, amountMicros, settledAt } });
    expect(settled('2026-03-01T23:59:59.999Z')).toMatchObject({ kind: 'add_spend', day: '2026-03-01', amountMicros: 25_000n });
    expect(settled('2026-03-01T23:30:00.000-01:00')).toMatchObject({ day: '2026-03-02' });
    expect(settled('2026-03-01T00:00:00Z', 0.025)).toMatchObject({ kind: 'invalid' });
    expect(settled('2026-03-01T00:00:00Z', '-5')).toMatchObject({ kind: 'invalid' });
    expect(settled('yesterday')).toMatchObject({ kind: 'invalid' });
  });

  it('ignores other types and later versions, and refuses broken envelopes', () => {
    expect(changeOf({ id: 'e3', type: 'paybound.refunded.v1', data: IDS })).toEqual({ kind: 'ignore', eventId: 'e3', type: 'paybound.refunded.v1' });
    expect(changeOf({ id: 'e4', type: 'paybound.settled.v2', data: IDS }).kind).toBe('ignore');
    expect(changeOf({ id: 'e5', type: 'paybound.reserved.v1', data: { ...IDS, resource: 'not a url' } }).kind).toBe('invalid');
    expect(parseMessage('{')).toEqual({ invalid: 'the value is not JSON' });
    expect(parseMessage('{"id":"x","type":"t","data":[]}')).toEqual({ invalid: 'the envelope has no data object' });
    expect(parseMessage('{"id":"x","type":"t","data":{}}')).toEqual({ id: 'x', type: 't', data: {} });
    expect(endpointOf('http://127.0.0.1:8080/a/b?x=1')).toBe('http://127.0.0.1:8080/a/b');
    expect(utcDayOf('nonsense')).toBeUndefined();
  });
});
