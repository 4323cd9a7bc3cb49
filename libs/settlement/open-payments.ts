import type { PaymentSigned, Reserved, SettlementReported } from '../domain/budget/events.js';
import type { RecordedEvent } from '../eventstore/event-store.js';

// What a page of the log changes in the worker's table of open payments
// (settlement_open_payments), worked out without I/O: the net effect per intent, so that a
// page costs three statements whatever its size, and the order of its events is respected
// (a payment reserved, signed and settled within one page leaves no row).

/** The event types the table is kept from. */
export const OPEN_PAYMENT_EVENT_TYPES = ['Reserved', 'PaymentSigned', 'SettlementReported', 'Settled', 'Refunded'] as const;

export interface OpenPaymentRow {
  intentId: string;
  orgId: string;
  sessionId: string;
  agentId: string;
  amountAtomic: bigint;
  asset: string;
  network: string;
  payTo: string;
  /** How the asset moves, which says where the nonce lives: the token (EIP-3009) or Permit2. */
  transfer: 'eip3009' | 'permit2';
}

/** What later events of an open payment add; null leaves the stored value. */
export interface OpenPaymentUpdate {
  intentId: string;
  payer: string | null;
  nonce: string | null;
  validBefore: string | null;
  reportedTransaction: string | null;
  traceparent: string | null;
}

export interface OpenPaymentChanges {
  /** Rows to insert (reserved in this page and still open at its end), with what the page adds. */
  inserts: { row: OpenPaymentRow; update: OpenPaymentUpdate }[];
  /** Changes to rows inserted by earlier pages. */
  updates: OpenPaymentUpdate[];
  /** Intents that closed (settled or refunded). */
  deletes: string[];
}

export function openPaymentChanges(page: readonly RecordedEvent[]): OpenPaymentChanges {
  const opened = new Map<string, OpenPaymentRow>();
  const updates = new Map<string, OpenPaymentUpdate>();
  const closed = new Set<string>();
  const updateOf = (intentId: string): OpenPaymentUpdate => {
    let update = updates.get(intentId);
    if (update === undefined) {
      update = { intentId, payer: null, nonce: null, validBefore: null, reportedTransaction: null, traceparent: null };
      updates.set(intentId, update);
    }
    return update;
  };
  for (const event of page) {
    switch (event.type) {
      case 'Reserved': {
        const d = event.data as Reserved['data'];
        opened.set(d.intentId, { intentId: d.intentId, orgId: d.orgId, sessionId: d.sessionId, agentId: d.agentId, amountAtomic: d.amountAtomic, asset: d.asset, network: d.network, payTo: d.payTo, transfer: d.transfer ?? 'eip3009' });
        if (event.metadata.traceparent !== undefined) updateOf(d.intentId).traceparent = event.metadata.traceparent;
        break;
      }
      case 'PaymentSigned': {
        const d = event.data as PaymentSigned['data'];
        const update = updateOf(d.intentId);
        update.payer = d.payer;
        update.nonce = d.nonce;
        update.validBefore = d.validBefore;
        break;
      }
      case 'SettlementReported': {
        const d = event.data as SettlementReported['data'];
        const update = updateOf(d.intentId);
        if (d.transaction !== null) update.reportedTransaction = d.transaction;
        if (event.metadata.traceparent !== undefined) update.traceparent = event.metadata.traceparent;
        break;
      }
      case 'Settled':
      case 'Refunded':
        closed.add((event.data as { intentId: string }).intentId);
        break;
      default:
        break;
    }
  }
  const inserts: OpenPaymentChanges['inserts'] = [];
  for (const [intentId, row] of opened) {
    if (closed.has(intentId)) continue;
    inserts.push({ row, update: updates.get(intentId) ?? updateOf(intentId) });
  }
  return {
    inserts,
    updates: [...updates.values()].filter((u) => !opened.has(u.intentId) && !closed.has(u.intentId)),
    deletes: [...closed],
  };
}
