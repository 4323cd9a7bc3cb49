import { describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../eventstore/event-store.js';
import { openPaymentChanges } from './open-payments.js';

let position = 0n;
function event(type: string, data: Record<string, unknown>, traceparent?: string): RecordedEvent {
  position += 1n;
  return {
    eventId: `e-${position}`,
    type,
    streamId: 'org-o',
    streamVersion: Number(position),
    globalPosition: position,
    transactionId: '1',
    schemaVersion: 1,
    data,
    metadata: { actor: 'a', orgId: 'o', correlationId: String(data.intentId), ...(traceparent === undefined ? {} : { traceparent }) },
    occurredAt: '2026-11-25T10:00:00.000Z',
  };
}
const reserved = (intentId: string, traceparent?: string) =>
  event('Reserved', { intentId, orgId: 'o', sessionId: 's', agentId: 'a', amountAtomic: 10n, asset: '0xA', network: 'eip155:1', payTo: '0xP' }, traceparent);
const signed = (intentId: string) => event('PaymentSigned', { intentId, payer: '0xW', nonce: `0xn-${intentId}`, validBefore: '2026-11-25T10:05:00.000Z' });

describe('the open payments a page of the log leaves', () => {
  it('inserts a reservation with what later events of the same page add', () => {
    const changes = openPaymentChanges([reserved('i-1', 'tp-1'), signed('i-1'), event('SettlementReported', { intentId: 'i-1', transaction: '0xt', outcome: 'unknown' })]);
    expect(changes.deletes).toEqual([]);
    expect(changes.updates).toEqual([]);
    expect(changes.inserts).toEqual([
      {
        row: { intentId: 'i-1', orgId: 'o', sessionId: 's', agentId: 'a', amountAtomic: 10n, asset: '0xA', network: 'eip155:1', payTo: '0xP', transfer: 'eip3009' },
        update: { intentId: 'i-1', payer: '0xW', nonce: '0xn-i-1', validBefore: '2026-11-25T10:05:00.000Z', reportedTransaction: '0xt', traceparent: 'tp-1' },
      },
    ]);
  });

  it('leaves no row for a payment that opened and closed within the page, and deletes ones that closed', () => {
    const changes = openPaymentChanges([reserved('i-1'), signed('i-1'), event('Settled', { intentId: 'i-1' }), event('Refunded', { intentId: 'i-0' })]);
    expect(changes.inserts).toEqual([]);
    expect(changes.updates).toEqual([]);
    expect(changes.deletes.sort()).toEqual(['i-0', 'i-1']);
  });

  it('updates rows of earlier pages, keeping a null for what the page does not say', () => {
    const changes = openPaymentChanges([signed('i-2'), event('SettlementReported', { intentId: 'i-3', transaction: null, outcome: 'refused' }, 'tp-3')]);
    expect(changes.inserts).toEqual([]);
    expect(changes.updates).toEqual([
      { intentId: 'i-2', payer: '0xW', nonce: '0xn-i-2', validBefore: '2026-11-25T10:05:00.000Z', reportedTransaction: null, traceparent: null },
      { intentId: 'i-3', payer: null, nonce: null, validBefore: null, reportedTransaction: null, traceparent: 'tp-3' },
    ]);
  });
});
