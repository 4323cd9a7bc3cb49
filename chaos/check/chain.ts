import type { IntentFacts } from './ledger.js';
import type { ChainLog, Violations } from './model.js';

// The chain judge: every AuthorizationUsed and Transfer of the token, mapped back to intents
// through the nonces the ledger recorded in PaymentSigned. It proves at most one payment per
// intent, no money leaving the wallet for an intent the ledger does not know, no release of a
// payment that executed, and that what the ledger calls spent is what moved, per intent,
// session and org.

export interface ChainFigures {
  authorizationsUsed: number;
  transfersFromPayer: number;
  paidIntents: number;
  movedAtomic: bigint;
  settledAtomic: bigint;
  sessionsCompared: number;
  sessionsDiffering: number;
  orgsCompared: number;
  orgsDiffering: number;
}

export function judgeChain(logs: readonly ChainLog[], payer: string, intents: ReadonlyMap<string, IntentFacts>, violations: Violations): ChainFigures {
  const wallet = payer.toLowerCase();
  const figures: ChainFigures = { authorizationsUsed: 0, transfersFromPayer: 0, paidIntents: 0, movedAtomic: 0n, settledAtomic: 0n, sessionsCompared: 0, sessionsDiffering: 0, orgsCompared: 0, orgsDiffering: 0 };
  const intentByNonce = new Map<string, IntentFacts>();
  for (const intent of intents.values()) if (intent.nonce !== null) intentByNonce.set(intent.nonce, intent);

  // One transferWithAuthorization per transaction: its AuthorizationUsed, then its Transfer.
  const byTransaction = new Map<string, ChainLog[]>();
  for (const log of logs) {
    const list = byTransaction.get(log.transaction) ?? [];
    list.push(log);
    byTransaction.set(log.transaction, list);
  }
  const paidByIntent = new Map<string, { transaction: string; valueAtomic: bigint; to: string }[]>();
  for (const [transaction, list] of byTransaction) {
    const authorizations = list.filter((log) => log.kind === 'AuthorizationUsed' && log.from === wallet);
    const transfers = list.filter((log) => log.kind === 'Transfer' && log.from === wallet);
    figures.authorizationsUsed += authorizations.length;
    figures.transfersFromPayer += transfers.length;
    if (transfers.length !== authorizations.length) {
      violations.add({ invariant: 'unattributed_payment', detail: `transaction ${transaction} moved ${transfers.length} transfers from the wallet with ${authorizations.length} authorizations` });
    }
    authorizations.forEach((authorization, index) => {
      const transfer = transfers[index];
      const intent = intentByNonce.get(authorization.nonce);
      if (intent === undefined) {
        violations.add({ invariant: 'unattributed_payment', detail: `authorization ${authorization.nonce} used in ${transaction} belongs to no signed intent` });
        return;
      }
      const list = paidByIntent.get(intent.intentId) ?? [];
      list.push({ transaction, valueAtomic: transfer?.valueAtomic ?? 0n, to: transfer?.to ?? '' });
      paidByIntent.set(intent.intentId, list);
    });
  }

  const sessions = new Map<string, { orgId: string; moved: bigint; settled: bigint }>();
  const orgs = new Map<string, { moved: bigint; settled: bigint }>();
  const add = (intent: IntentFacts, moved: bigint, settled: bigint): void => {
    const session = sessions.get(intent.sessionId) ?? { orgId: intent.orgId, moved: 0n, settled: 0n };
    session.moved += moved;
    session.settled += settled;
    sessions.set(intent.sessionId, session);
    const org = orgs.get(intent.orgId) ?? { moved: 0n, settled: 0n };
    org.moved += moved;
    org.settled += settled;
    orgs.set(intent.orgId, org);
  };

  for (const intent of intents.values()) {
    if (intent.refused) continue;
    const ids = { intentId: intent.intentId, orgId: intent.orgId };
    const paid = paidByIntent.get(intent.intentId) ?? [];
    const moved = paid.reduce((sum, p) => sum + p.valueAtomic, 0n);
    figures.movedAtomic += moved;
    figures.settledAtomic += intent.settledAtomic;
    add(intent, moved, intent.settledAtomic);
    if (paid.length > 1) violations.add({ invariant: 'double_payment', detail: `${intent.intentId} was paid ${paid.length} times on chain: ${paid.map((p) => p.transaction).join(', ')}`, ...ids });
    if (paid.length > 0) figures.paidIntents += 1;
    const first = paid[0];
    if (intent.heldMicros !== 0n) {
      violations.add({
        invariant: 'unresolved_reservation',
        detail: `${intent.intentId} still holds ${intent.heldMicros} micros after the run settled (signed: ${intent.nonce === null ? 'no' : `yes, nonce ${intent.nonce}`}; seller outcomes reported: ${intent.outcomeReports.join(',') || 'none'}; on chain: ${first === undefined ? 'no transfer for it' : `paid in ${first.transaction}`})`,
        ...ids,
      });
    }
    if (first !== undefined) {
      if (intent.settledCount === 0 && intent.refundedMicros > 0n) {
        violations.add({ invariant: 'premature_release', detail: `${intent.intentId} was refunded (${intent.refundReasons.join(',')}) but paid on chain in ${first.transaction}`, ...ids });
      } else if (intent.settledCount === 0) {
        violations.add({ invariant: 'spent_vs_chain', detail: `${intent.intentId} was paid on chain in ${first.transaction} but never settled in the ledger`, ...ids });
      } else if (intent.settledAtomic !== moved) {
        violations.add({ invariant: 'spent_vs_chain', detail: `${intent.intentId} settled ${intent.settledAtomic} atomic, the chain moved ${moved}`, ...ids });
      } else if (intent.settledTransaction !== first.transaction) {
        violations.add({ invariant: 'spent_vs_chain', detail: `${intent.intentId} settled with transaction ${intent.settledTransaction}, the chain paid it in ${first.transaction}`, ...ids });
      }
      if (moved > intent.reservedAtomic) violations.add({ invariant: 'overspend', detail: `${intent.intentId} moved ${moved} atomic on chain, ${intent.reservedAtomic} reserved`, ...ids });
      if (first.to !== intent.payTo) violations.add({ invariant: 'spent_vs_chain', detail: `${intent.intentId} paid ${first.to}, reserved for ${intent.payTo}`, ...ids });
    } else if (intent.settledCount > 0) {
      violations.add({ invariant: 'spent_vs_chain', detail: `${intent.intentId} settled ${intent.settledAtomic} atomic in ${intent.settledTransaction} but nothing moved on chain for its nonce`, ...ids });
    }
  }
  for (const [sessionId, session] of sessions) {
    figures.sessionsCompared += 1;
    if (session.moved !== session.settled) {
      figures.sessionsDiffering += 1;
      violations.add({ invariant: 'spent_vs_chain', detail: `session ${sessionId}: ledger spent ${session.settled} atomic, chain moved ${session.moved}`, orgId: session.orgId });
    }
  }
  for (const [orgId, org] of orgs) {
    figures.orgsCompared += 1;
    if (org.moved !== org.settled) {
      figures.orgsDiffering += 1;
      violations.add({ invariant: 'spent_vs_chain', detail: `org ${orgId}: ledger spent ${org.settled} atomic, chain moved ${org.moved}`, orgId });
    }
  }
  return figures;
}
