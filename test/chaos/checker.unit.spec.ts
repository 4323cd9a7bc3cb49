import { beforeEach, describe, expect, it } from 'vitest';

import { judgeApi } from '../../chaos/check/api.js';
import { judgeChain } from '../../chaos/check/chain.js';
import { expectedNonce, LedgerJudge } from '../../chaos/check/ledger.js';
import { INVARIANTS, Violations, type ChainLog, type Invariant, type LogEvent } from '../../chaos/check/model.js';
import { compareTable } from '../../chaos/check/projection.js';
import { TopicJudge, indexEvent, expectedCloudEventType } from '../../chaos/check/topic.js';

// The chaos run's checker, held to account: each kind of violation it can report is planted
// in a small hand-made history, and the checker must name it. Between them these tests plant
// every invariant of chaos/check/model.ts (the last test proves that), so a checker that
// stopped seeing one would fail here, in \`npm test\`, without the chaos run.

/** What each history below plants: together, every invariant. */
const PLANTED = {
  first: ['idempotency', 'overspend', 'premature_release', 'spent_vs_chain', 'unattributed_payment'],
  second: ['api_contradiction', 'double_payment', 'overspend', 'spent_vs_chain', 'unresolved_reservation'],
  topic: ['projection', 'topic_exactly_once', 'topic_order'],
  rules: ['policy', 'session_rules'],
  lifecycle: ['intent_lifecycle', 'nonce_derivation', 'topic_envelope'],
} satisfies Record<string, Invariant[]>;

describe('the checker', () => {
  const wallet = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8';
  const payTo = '0x90f79bf6eb2c4f870365e785982e1f101e93b906';
  let version = 0;
  let id = 0;
  const event = (type: string, data: Record<string, unknown>): LogEvent => {
    version += 1;
    id += 1;
    return { eventId: `00000000-0000-4000-8000-${String(id).padStart(12, '0')}`, streamId: 'org-o1', streamVersion: version, type, schemaVersion: 1, orgId: 'o1', data: { orgId: 'o1', ...data } };
  };
  const reserved = (intentId: string, sessionId: string, amount: string, key: string | null = null): LogEvent =>
    event('Reserved', {
      intentId,
      sessionId,
      agentId: 'a1',
      teamId: null,
      amountMicros: amount,
      amountAtomic: amount,
      asset: '0xtoken',
      network: 'eip155:31337',
      payTo,
      resource: `http://seller/data?${intentId}`,
      method: 'GET',
      reservedAt: '2026-01-01T10:00:00.000Z',
      validBefore: '2026-01-01T10:05:00.000Z',
      policyVersion: 0,
      idempotencyKey: key,
      requestHash: key === null ? null : 'h',
    });
  const signed = (intentId: string): LogEvent =>
    event('PaymentSigned', { intentId, sessionId: 's1', agentId: 'a1', scheme: 'exact', network: 'eip155:31337', payer: wallet, nonce: expectedNonce(wallet, intentId), validAfter: '1970-01-01T00:00:00.000Z', validBefore: '2026-01-01T10:05:00.000Z' });
  const paidOnChain = (intentId: string, transaction: string, value: bigint): ChainLog[] => [
    { kind: 'AuthorizationUsed', transaction, blockNumber: 1n, logIndex: 0, from: wallet, to: '', valueAtomic: 0n, nonce: expectedNonce(wallet, intentId) },
    { kind: 'Transfer', transaction, blockNumber: 1n, logIndex: 1, from: wallet, to: payTo, valueAtomic: value, nonce: '' },
  ];
  const kinds = (violations: Violations): Invariant[] => [...violations.counts.keys()].sort();
  beforeEach(() => {
    version = 0;
  });

  it('finds an overspend, a double key, a payment released while paid, a phantom settlement and a payment no intent made', () => {
    const violations = new Violations();
    const ledger = new LedgerJudge(violations);
    const log = [
      event('OrgCreated', { name: 'o1', limitMicros: '100000' }),
      event('AgentRegistered', { agentId: 'a1', teamId: null, name: 'a1', limitMicros: null }),
      event('SessionOpened', { sessionId: 's1', agentId: 'a1', teamId: null, limitMicros: '1000000', expiresAt: '2026-01-01T11:00:00.000Z', maxPayments: null, metadata: {}, idempotencyKey: null, requestHash: null }),
      reserved('i1', 's1', '60000', 'k1'),
      // Over the org's limit of 100000 together with i1.
      reserved('i2', 's1', '50000', 'k1'),
      signed('i1'),
      signed('i2'),
      // i1 is released although the chain shows it paid: a premature release.
      event('Refunded', { intentId: 'i1', sessionId: 's1', agentId: 'a1', amountMicros: '60000', amountAtomic: '60000', reason: 'expired_unused' }),
      // i2 is settled but nothing moved for it.
      event('Settled', { intentId: 'i2', sessionId: 's1', agentId: 'a1', amountMicros: '50000', amountAtomic: '50000', network: 'eip155:31337', transaction: '0xphantom', payer: wallet, settledAt: '2026-01-01T10:01:00.000Z' }),
    ];
    for (const entry of log) ledger.apply(entry);
    ledger.finish();
    judgeChain([...paidOnChain('i1', '0xaa', 60_000n), ...paidOnChain('stranger', '0xbb', 5_000n)], wallet, ledger.intents, violations);
    expect(kinds(violations)).toEqual(PLANTED.first);
  });

  it('finds a payment that never ended, one paid twice on chain (more than it held) and never settled, and a refusal the log contradicts', () => {
    const violations = new Violations();
    const ledger = new LedgerJudge(violations);
    for (const entry of [
      event('OrgCreated', { name: 'o1', limitMicros: null }),
      event('AgentRegistered', { agentId: 'a1', teamId: null, name: 'a1', limitMicros: null }),
      event('SessionOpened', { sessionId: 's1', agentId: 'a1', teamId: null, limitMicros: '1000000', expiresAt: '2026-01-01T11:00:00.000Z', maxPayments: null, metadata: {}, idempotencyKey: null, requestHash: null }),
      reserved('i3', 's1', '10000'),
      signed('i3'),
      reserved('i4', 's1', '10000'),
    ]) {
      ledger.apply(entry);
    }
    ledger.finish();
    // The token refuses a used nonce, so this history cannot happen with it; the judge must still see it.
    judgeChain([...paidOnChain('i3', '0xcc', 10_000n), ...paidOnChain('i3', '0xdd', 10_000n)], wallet, ledger.intents, violations);
    judgeApi([{ key: 'k', kind: 'fetch', orgId: 'o1', status: 403, code: 'session_limit_exceeded', paymentId: 'i4', attempts: 1, paidPerSeller: false, repeatOf: null }], ledger.intents, violations);
    expect(kinds(violations)).toEqual(PLANTED.second);
  });

  it('finds a message lost, a message published twice, a stream out of order, and a projection row that differs', () => {
    const violations = new Violations();
    const log = [event('OrgCreated', { name: 'o1', limitMicros: null }), event('TeamCreated', { teamId: 't1', name: 't1', limitMicros: null }), event('TeamCreated', { teamId: 't2', name: 't2', limitMicros: null })];
    const index = new Map(log.map((entry) => [entry.eventId, indexEvent(entry)]));
    const message = (entry: LogEvent, offset: number) => ({
      partition: 0,
      offset: String(offset),
      key: 'o1',
      value: JSON.stringify({ specversion: '1.0', id: entry.eventId, type: expectedCloudEventType(entry.type, 1), streamid: entry.streamId, streamversion: entry.streamVersion, orgid: 'o1', datacontenttype: 'application/json', data: entry.data }),
    });
    const topic = new TopicJudge(index, violations);
    // v2 is lost, v3 arrives, then v1 again.
    for (const [offset, entry] of [log[0]!, log[2]!, log[0]!].entries()) topic.add(message(entry, offset));
    const figures = topic.finish();
    expect(figures).toMatchObject({ messages: 3, duplicates: 1, missing: 1, streamsOutOfOrderRaw: 1, streamsOutOfOrderDeduplicated: 1 });
    compareTable('sessions_view', new Map([['s1', '{"spent_micros": 10}']]), new Map([['s1', '{"spent_micros": 20}']]), violations);
    expect(kinds(violations)).toEqual(PLANTED.topic);
  });

  it('finds a reservation against a policy, after its session expired, or beyond its payment count', () => {
    const violations = new Violations();
    const ledger = new LedgerJudge(violations);
    for (const entry of [
      event('OrgCreated', { name: 'o1', limitMicros: null }),
      event('AgentRegistered', { agentId: 'a1', teamId: null, name: 'a1', limitMicros: null }),
      event('PolicyChanged', { level: 'org', levelId: 'o1', version: 1, before: {}, after: { maxPerPaymentMicros: '40000' } }),
      event('SessionOpened', { sessionId: 's1', agentId: 'a1', teamId: null, limitMicros: '1000000', expiresAt: '2026-01-01T10:00:00.000Z', maxPayments: 1, metadata: {}, idempotencyKey: null, requestHash: null }),
      reserved('i5', 's1', '50000'),
      reserved('i6', 's1', '10000'),
    ]) {
      ledger.apply(entry);
    }
    expect(kinds(violations)).toEqual(PLANTED.rules);
    expect(violations.counts.get('session_rules')).toBe(3);
  });

  it('finds a refund beyond what was held, a settlement of an intent never reserved, a nonce not derived from the intent, and a message that is not its event', () => {
    const violations = new Violations();
    const ledger = new LedgerJudge(violations);
    const log = [
      event('OrgCreated', { name: 'o1', limitMicros: null }),
      event('AgentRegistered', { agentId: 'a1', teamId: null, name: 'a1', limitMicros: null }),
      event('SessionOpened', { sessionId: 's1', agentId: 'a1', teamId: null, limitMicros: '1000000', expiresAt: '2026-01-01T11:00:00.000Z', maxPayments: null, metadata: {}, idempotencyKey: null, requestHash: null }),
      reserved('i7', 's1', '10000'),
      // Signed with the nonce of another intent: one authorization could then pay for two.
      event('PaymentSigned', { intentId: 'i7', sessionId: 's1', agentId: 'a1', scheme: 'exact', network: 'eip155:31337', payer: wallet, nonce: expectedNonce(wallet, 'i8'), validAfter: '1970-01-01T00:00:00.000Z', validBefore: '2026-01-01T10:05:00.000Z' }),
      event('Refunded', { intentId: 'i7', sessionId: 's1', agentId: 'a1', amountMicros: '20000', amountAtomic: '20000', reason: 'expired_unused' }),
      event('Settled', { intentId: 'ghost', sessionId: 's1', agentId: 'a1', amountMicros: '1', amountAtomic: '1', network: 'eip155:31337', transaction: '0xee', payer: wallet, settledAt: '2026-01-01T10:01:00.000Z' }),
    ];
    for (const entry of log) ledger.apply(entry);
    ledger.finish();
    expect(violations.counts.get('intent_lifecycle')).toBe(2);

    const index = new Map(log.map((entry) => [entry.eventId, indexEvent(entry)]));
    const topic = new TopicJudge(index, violations);
    log.forEach((entry, offset) => {
      // The OrgCreated message claims another type; one message is not JSON at all.
      const type = entry.type === 'OrgCreated' ? expectedCloudEventType('OrgDeleted', 1) : expectedCloudEventType(entry.type, 1);
      topic.add({ partition: 0, offset: String(offset), key: 'o1', value: JSON.stringify({ specversion: '1.0', id: entry.eventId, type, streamid: entry.streamId, streamversion: entry.streamVersion, orgid: 'o1', datacontenttype: 'application/json', data: entry.data }) });
    });
    topic.add({ partition: 0, offset: String(log.length), key: 'o1', value: '{not json' });
    expect(topic.finish()).toMatchObject({ messages: log.length + 1, duplicates: 0, missing: 0 });
    expect(violations.counts.get('topic_envelope')).toBe(2);
    expect(kinds(violations)).toEqual(PLANTED.lifecycle);
  });

  it('is held to every invariant by the histories above', () => {
    expect([...new Set(Object.values(PLANTED).flat())].sort()).toEqual([...INVARIANTS].sort());
  });
});
