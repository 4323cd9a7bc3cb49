import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parsePrometheus, sampleValue } from '../../test/support/prometheus.js';
import { DomainError } from '../domain/budget/errors.js';
import { OverloadedError, type OrgCommandProcessor, type OrgCommandProcessorCounters } from './org-command-processor.js';
import { DecisionMetrics, paymentSpanAttributes, summarizeError, summarizeEvents } from './decision-telemetry.js';

const event = (type: string, data: Record<string, unknown> = {}) => ({ type, data });

describe('decision outcomes as metric labels', () => {
  it.each([
    ['a reservation', [event('Reserved'), event('BudgetThresholdReached')], { outcome: 'reserved', code: '' }],
    ['a refusal, with its code', [event('LimitExceeded', { code: 'agent_limit_exceeded' })], { outcome: 'refused', code: 'agent_limit_exceeded' }],
    ['a denied approval', [event('ApprovalDenied', { code: 'approval_required' }), event('Refunded')], { outcome: 'refused', code: 'approval_required' }],
    ['a hold for approval', [event('ApprovalRequested')], { outcome: 'held', code: '' }],
    ['an approval granted', [event('ApprovalGranted'), event('Reserved')], { outcome: 'reserved', code: '' }],
    ['a signature', [event('PaymentSigned')], { outcome: 'signed', code: '' }],
    ['a settlement that refunds the rest', [event('Settled'), event('Refunded')], { outcome: 'settled', code: '' }],
    ['a release', [event('Refunded')], { outcome: 'refunded', code: '' }],
    ['a seller report', [event('SettlementReported')], { outcome: 'reported', code: '' }],
    ['an admin change', [event('PolicyChanged')], { outcome: 'applied', code: '' }],
    ['a retry of a decision already made', [], { outcome: 'unchanged', code: '' }],
  ])('%s', (_, events, expected) => {
    expect(summarizeEvents(events)).toEqual(expected);
  });

  it('names a domain refusal of the command by its code, and any other failure by its code or as error', () => {
    expect(summarizeError(new DomainError('payment_not_found', 'x'))).toEqual({ outcome: 'rejected', code: 'payment_not_found' });
    expect(summarizeError(new OverloadedError('org', 10, 10))).toEqual({ outcome: 'failed', code: 'overloaded' });
    expect(summarizeError(new Error('connection terminated'))).toEqual({ outcome: 'failed', code: 'error' });
    // A code that is not a stable snake_case word must not become a label value.
    expect(summarizeError(Object.assign(new Error('x'), { code: 'ECONNRESET' }))).toEqual({ outcome: 'failed', code: 'error' });
  });
});

describe('payment span attributes', () => {
  it('names what is known, lower-cases addresses and leaves out what is missing', () => {
    expect(paymentSpanAttributes({ intentId: 'pay_1', amount: '0.01', amountAtomic: 10_000n, asset: '0xABCdef', network: 'eip155:8453', payTo: '0xFEED', sessionId: undefined, agentId: 'a1' })).toEqual({
      'paybound.intent.id': 'pay_1',
      'paybound.agent.id': 'a1',
      'paybound.amount': '0.01',
      'paybound.amount_atomic': '10000',
      'paybound.asset': '0xabcdef',
      'paybound.network': 'eip155:8453',
      'paybound.payee': '0xfeed',
    });
    expect(paymentSpanAttributes({ asset: null, payTo: null, amountAtomic: null })).toEqual({});
  });
});

describe("the processor's commit counters as metrics", () => {
  it('reads the counters at each scrape, by path', async () => {
    const counters: OrgCommandProcessorCounters = { fastCommits: 5, lockedCommits: 2, staleFences: 1, resentBatches: 0, redecidedCommands: 3, droppedStates: 1, restoredStates: 1, rebuiltStates: 0, snapshots: 4, unstorableCommands: 2 };
    const registry = new Registry();
    new DecisionMetrics(registry).watchProcessor({ counters } as OrgCommandProcessor);
    const scraped = async () => parsePrometheus(await registry.metrics());
    const values = (samples: Awaited<ReturnType<typeof scraped>>) => ({
      fast: sampleValue(samples, 'paybound_decision_commits_total', { path: 'fast' }),
      locked: sampleValue(samples, 'paybound_decision_commits_total', { path: 'locked' }),
      staleFences: sampleValue(samples, 'paybound_decision_stale_fences_total'),
      rebuilds: sampleValue(samples, 'paybound_decision_state_rebuilds_total'),
      redecided: sampleValue(samples, 'paybound_decision_redecided_commands_total'),
      fromStart: sampleValue(samples, 'paybound_decision_state_reads_total', { from: 'first_event' }),
      fromSnapshot: sampleValue(samples, 'paybound_decision_state_reads_total', { from: 'snapshot' }),
      unstorable: sampleValue(samples, 'paybound_decision_unstorable_commands_total'),
    });
    expect(values(await scraped())).toEqual({ fast: 5, locked: 2, staleFences: 1, rebuilds: 1, redecided: 3, fromStart: 0, fromSnapshot: 1, unstorable: 2 });
    counters.fastCommits += 10;
    counters.lockedCommits += 1;
    counters.unstorableCommands += 1;
    expect(values(await scraped())).toEqual({ fast: 15, locked: 3, staleFences: 1, rebuilds: 1, redecided: 3, fromStart: 0, fromSnapshot: 1, unstorable: 3 });
  });
});
