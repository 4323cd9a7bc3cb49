import type { ApiRecord } from '../workload.js';
import type { IntentFacts } from './ledger.js';
import type { Violations } from './model.js';

// What the API told the agents, held against the log: the checker does not trust it, but an
// answer the log contradicts is a failure an agent would have acted on.

export interface ApiFigures {
  answers: number;
  keysWithSeveralAnswers: number;
  paidPerSeller: number;
  refusedWithPaymentId: number;
}

const REFUSAL_STATUS = 403;

export function judgeApi(records: readonly ApiRecord[], intents: ReadonlyMap<string, IntentFacts>, violations: Violations): ApiFigures {
  const figures: ApiFigures = { answers: records.length, keysWithSeveralAnswers: 0, paidPerSeller: 0, refusedWithPaymentId: 0 };
  const idsByKey = new Map<string, Set<string>>();
  for (const record of records) {
    if (record.paymentId !== null) {
      const ids = idsByKey.get(record.key) ?? new Set<string>();
      ids.add(record.paymentId);
      idsByKey.set(record.key, ids);
    }
    if (record.repeatOf !== null && record.paymentId !== null && record.repeatOf !== record.paymentId) {
      violations.add({ invariant: 'idempotency', detail: `repeat of key ${record.key} answered payment ${record.paymentId}, the first answer was ${record.repeatOf}`, orgId: record.orgId });
    }
    if (record.paidPerSeller && record.paymentId !== null) {
      figures.paidPerSeller += 1;
      const intent = intents.get(record.paymentId);
      if (intent === undefined || intent.settledCount === 0) {
        violations.add({ invariant: 'api_contradiction', detail: `the agent got the seller's paid answer for ${record.paymentId}, the ledger never settled it`, intentId: record.paymentId, orgId: record.orgId });
      }
    }
    if (record.status === REFUSAL_STATUS && record.paymentId !== null) {
      figures.refusedWithPaymentId += 1;
      const intent = intents.get(record.paymentId);
      if (intent !== undefined && !intent.refused) {
        violations.add({ invariant: 'api_contradiction', detail: `the agent was refused (${record.code ?? ''}) for ${record.paymentId}, the ledger reserved it`, intentId: record.paymentId, orgId: record.orgId });
      }
    }
  }
  for (const [key, ids] of idsByKey) {
    if (ids.size <= 1) continue;
    figures.keysWithSeveralAnswers += 1;
    violations.add({ invariant: 'idempotency', detail: `key ${key} was answered with ${ids.size} payments: ${[...ids].join(', ')}` });
  }
  return figures;
}
