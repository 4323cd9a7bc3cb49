import { beforeEach, describe, expect, it } from 'vitest';

import { judgeApi } from '../../chaos/check/api.js';
import { judgeChain } from '../../chaos/check/chain.js';
import { expectedNonce, LedgerJudge } from '../../chaos/check/ledger.js';
import { Violations, type ChainLog, type Invariant, type LogEvent } from '../../chaos/check/model.js';
import { compareTable } from '../../chaos/check/projection.js';
import { TopicJudge, indexEvent, expectedCloudEventType } from '../../chaos/check/topic.js';
import { FAULT_KINDS } from '../../chaos/faults.js';
import { defaultDataDir, runChaos, type ChaosOptions } from '../../chaos/harness.js';
import { consoleSummary } from '../../chaos/report.js';

// The short chaos run of `npm test`: the whole deployment (two governors behind the proxy, two
// workers, three Kafka nodes, PostgreSQL, anvil, the official facilitator and the misbehaving
// sellers) under every kind of fault at least once, judged by the full checker. `npm run
// chaos` is the same run at full size (docs/reliability.md).

const SEED = Number(process.env.CHAOS_SEED ?? 20_261_207);
const SHORT_RUN_TIMEOUT_MS = 15 * 60_000;

describe('the short chaos run', () => {
  it('meets every fault kind and leaves no violation of any invariant', { timeout: SHORT_RUN_TIMEOUT_MS }, async () => {
    const options: ChaosOptions = {
      seed: SEED,
      intents: 500,
      orgs: 4,
      concurrency: 16,
      durationMaxMs: 8 * 60_000,
      faults: { kills: 6, postgresFreezes: 1, kafkaStops: 1, kafkaKills: 1, sellerKills: 1, partitions: 1 },
      timings: { freezeMinMs: 5_000, freezeMaxMs: 8_000, kafkaStopMs: 15_000, kafkaKillDownMs: 8_000, restartDelayMaxMs: 2_000, partitionMinMs: 3_000, partitionMaxMs: 6_000 },
      governors: 2,
      workers: 2,
      fetchTimeoutMs: 5_000,
      dataDir: defaultDataDir(SEED),
      keepData: false,
    };
    const report = await runChaos(options, (line) => console.log(`[chaos] ${line}`));
    console.log(consoleSummary(report));
    const { figures, violations } = report.check;

    // Every kind of fault struck, and all six kills.
    const firedKinds = new Set(report.fired.map((fault) => fault.kind));
    expect([...FAULT_KINDS].filter((kind) => !firedKinds.has(kind))).toEqual([]);
    expect(report.fired.filter((fault) => fault.kind === 'kill_governor' || fault.kind === 'kill_worker' || fault.kind === 'kill_relay_leader')).toHaveLength(6);
    // The run did what it is for: payments reserved, refused, paid on chain, released.
    // A request whose seller was down before anything was reserved makes no intent.
    expect(figures.ledger.intents).toBeGreaterThanOrEqual(450);
    expect(figures.ledger.reserved).toBeGreaterThan(100);
    expect(figures.ledger.refused).toBeGreaterThan(0);
    expect(figures.chain.paidIntents).toBeGreaterThan(50);
    expect(figures.ledger.refunded).toBeGreaterThan(0);
    expect(figures.topic.messages).toBeGreaterThan(0);
    expect(figures.projection.tables.every((table) => table.liveRows > 0)).toBe(true);
    // And no invariant was broken (the details name the intents and events, and the seed replays the run).
    expect(violations.details.map((v) => `${v.invariant}: ${v.detail}`)).toEqual([]);
    expect(violations.total).toBe(0);
  });
});

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
    expect(kinds(violations)).toEqual(['idempotency', 'overspend', 'premature_release', 'spent_vs_chain', 'unattributed_payment']);
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
    expect(kinds(violations)).toEqual(['api_contradiction', 'double_payment', 'overspend', 'spent_vs_chain', 'unresolved_reservation']);
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
    expect(kinds(violations)).toEqual(['projection', 'topic_exactly_once', 'topic_order']);
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
    expect(kinds(violations)).toEqual(['policy', 'session_rules']);
    expect(violations.counts.get('session_rules')).toBe(3);
  });
});
