import type { RecordedEvent } from '../../libs/eventstore/event-store.js';

// An independent check of the ledger from its events, deliberately not using the domain's
// evolve(): it replays each org stream in order and tracks every budget level itself.

interface Level {
  limitMicros: bigint | null;
  reservedMicros: bigint;
  spentMicros: bigint;
}

export interface InvariantReport {
  violations: string[];
  reserved: number;
  refused: number;
  settled: number;
  released: number;
  held: number;
  /** Reservations that are neither held, settled nor released: must be zero. */
  unaccounted: number;
}

type Data = Record<string, unknown>;

export function checkBudgetInvariants(events: readonly RecordedEvent[]): InvariantReport {
  const levels = new Map<string, Level>();
  const sessions = new Map<string, { agentId: string; teamId: string | null; orgId: string }>();
  const intents = new Map<string, { sessionId: string; amountMicros: bigint; state: 'held' | 'settled' | 'released' }>();
  const report: InvariantReport = { violations: [], reserved: 0, refused: 0, settled: 0, released: 0, held: 0, unaccounted: 0 };
  const ordered = [...events].sort((a, b) => (a.streamId === b.streamId ? a.streamVersion - b.streamVersion : a.streamId < b.streamId ? -1 : 1));

  const chain = (sessionId: string): string[] => {
    const s = sessions.get(sessionId);
    if (s === undefined) return [];
    return [`session:${sessionId}`, `agent:${s.agentId}`, ...(s.teamId === null ? [] : [`team:${s.teamId}`]), `org:${s.orgId}`];
  };
  const level = (key: string): Level => {
    let l = levels.get(key);
    if (l === undefined) {
      l = { limitMicros: null, reservedMicros: 0n, spentMicros: 0n };
      levels.set(key, l);
    }
    return l;
  };
  const check = (event: RecordedEvent, keys: string[]): void => {
    for (const key of keys) {
      const l = level(key);
      if (l.reservedMicros < 0n || l.spentMicros < 0n) report.violations.push(`${key} negative after ${event.type} v${event.streamVersion}`);
      if (l.limitMicros !== null && l.reservedMicros + l.spentMicros > l.limitMicros) {
        report.violations.push(`${key}: reserved ${l.reservedMicros} + spent ${l.spentMicros} > limit ${l.limitMicros} after ${event.type} v${event.streamVersion}`);
      }
    }
  };

  for (const event of ordered) {
    const d = event.data as Data;
    switch (event.type) {
      case 'OrgCreated':
        level(`org:${String(d.orgId)}`).limitMicros = d.limitMicros as bigint | null;
        break;
      case 'TeamCreated':
        level(`team:${String(d.teamId)}`).limitMicros = d.limitMicros as bigint | null;
        break;
      case 'AgentRegistered':
        level(`agent:${String(d.agentId)}`).limitMicros = d.limitMicros as bigint | null;
        break;
      case 'BudgetChanged':
        level(`${String(d.level)}:${String(d.levelId)}`).limitMicros = (d.after as { limitMicros: bigint | null }).limitMicros;
        break;
      case 'SessionOpened':
        sessions.set(String(d.sessionId), { agentId: String(d.agentId), teamId: (d.teamId as string | null) ?? null, orgId: String(d.orgId) });
        level(`session:${String(d.sessionId)}`).limitMicros = d.limitMicros as bigint;
        break;
      case 'Reserved':
      case 'ApprovalRequested': {
        // An approved payment was held from its request on: its Reserved moves no money.
        if (event.type === 'Reserved' && intents.has(String(d.intentId))) {
          report.reserved += 1;
          break;
        }
        const amount = d.amountMicros as bigint;
        intents.set(String(d.intentId), { sessionId: String(d.sessionId), amountMicros: amount, state: 'held' });
        const keys = chain(String(d.sessionId));
        for (const key of keys) level(key).reservedMicros += amount;
        if (event.type === 'Reserved') report.reserved += 1;
        check(event, keys);
        break;
      }
      case 'LimitExceeded':
        report.refused += 1;
        break;
      case 'Settled': {
        const intent = intents.get(String(d.intentId));
        if (intent === undefined) {
          report.violations.push(`Settled for unknown intent ${String(d.intentId)}`);
          break;
        }
        if (intent.state !== 'held') report.violations.push(`intent ${String(d.intentId)} settled while ${intent.state}`);
        const amount = d.amountMicros as bigint;
        const keys = chain(intent.sessionId);
        for (const key of keys) {
          level(key).reservedMicros -= amount;
          level(key).spentMicros += amount;
        }
        intent.amountMicros -= amount;
        intent.state = 'settled';
        check(event, keys);
        break;
      }
      case 'Refunded': {
        const intent = intents.get(String(d.intentId));
        if (intent === undefined) {
          report.violations.push(`Refunded for unknown intent ${String(d.intentId)}`);
          break;
        }
        const amount = d.amountMicros as bigint;
        if (amount > intent.amountMicros) report.violations.push(`intent ${String(d.intentId)} refunded more than it held`);
        const keys = chain(intent.sessionId);
        for (const key of keys) level(key).reservedMicros -= amount;
        intent.amountMicros -= amount;
        if (intent.state === 'held') intent.state = 'released';
        check(event, keys);
        break;
      }
      default:
        break;
    }
  }
  for (const intent of intents.values()) {
    if (intent.state === 'held') report.held += 1;
    else if (intent.state === 'settled') report.settled += 1;
    else if (intent.state === 'released') report.released += 1;
    else report.unaccounted += 1;
  }
  return report;
}
