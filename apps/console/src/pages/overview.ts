import { api } from '../api.js';
import { $, cell, el, fill, link, row } from '../dom.js';
import { dollars, pathOf, short, sumDollars, usdFromMicros } from '../format.js';
import { onLiveEvent, setStatus, type LiveEvent } from '../live.js';

// The overview: balances from GET /admin/v1/balances and /wallets, and the live event stream.

/** Rows kept in the event table; older ones scroll off so the page stays light. */
const EVENT_ROWS_MAX = 200;
/** Balances are re-read shortly after events arrive, once per burst rather than per event. */
const BALANCES_DEBOUNCE_MS = 300;
/**
 * The read models trail the log by up to one projection pass (250 ms), so a burst's last
 * events may not be in the first re-read; a second one a little later picks them up.
 */
const BALANCES_SETTLE_MS = 1_200;

interface Balances {
  sessions: { id: string; orgId: string; agentId: string; agentName: string; limit: string; reserved: string; spent: string; remaining: string; payments: number; status: string }[];
  agents: { id: string; orgId: string; name: string; limit: string | null; reserved: string; spent: string; remaining: string | null }[];
  endpoints: { resource: string; settled: number; refused: number; spent: string; held: string }[];
}

interface Wallets {
  data: {
    address: string;
    network: string;
    symbol: string | null;
    asset: string;
    balance: string | null;
    balanceAtomic: string;
    held: string | null;
    heldAtomic: string;
    available: string | null;
    availableAtomic: string;
    floor: string | null;
    typicalPrice: string | null;
    coverablePayments: string | null;
    belowFloor: boolean;
    nativeBelowFloor: boolean;
  }[];
}

let balancesTimer: ReturnType<typeof setTimeout> | undefined;

function usedBar(spent: string, reserved: string, limit: string): HTMLTableCellElement {
  const limitValue = Number(limit);
  const usedPercent = limitValue > 0 ? Math.min(100, ((Number(spent) + Number(reserved)) / limitValue) * 100) : 0;
  // Set through the CSSOM: the page's CSP forbids style attributes, not CSSOM writes.
  const fillSpan = el('span');
  fillSpan.style.width = `${usedPercent.toFixed(1)}%`;
  return cell(el('span', { class: usedPercent >= 99.999 ? 'bar full' : 'bar' }, fillSpan));
}

function knownOptions(list: string, values: Iterable<string>): void {
  $(list).replaceChildren(...[...new Set(values)].sort().map((value) => el('option', { value })));
}

function renderBalances(view: Balances): void {
  fill(
    'sessions',
    view.sessions.map((s) =>
      row(
        [
          cell(short(s.id)),
          cell(s.agentName),
          cell(dollars(s.limit), 'num'),
          cell(dollars(s.reserved), 'num'),
          cell(dollars(s.spent), 'num'),
          cell(dollars(s.remaining), 'num'),
          usedBar(s.spent, s.reserved, s.limit),
          cell(String(s.payments), 'num'),
          cell(s.status),
        ],
        { 'data-session': s.id },
      ),
    ),
    'No sessions yet: run npm run demo',
  );
  fill(
    'agents',
    view.agents.map((a) => row([cell(a.name), cell(a.orgId), cell(dollars(a.limit), 'num'), cell(dollars(a.reserved), 'num'), cell(dollars(a.spent), 'num'), cell(dollars(a.remaining), 'num')], { 'data-agent': a.id })),
    'No agents yet',
  );
  fill(
    'endpoints',
    view.endpoints.map((e) => row([cell(pathOf(e.resource)), cell(String(e.settled), 'num'), cell(String(e.refused), 'num'), cell(dollars(e.spent), 'num'), cell(dollars(e.held), 'num')])),
    'No payments yet',
  );
  $('total-spent').textContent = dollars(sumDollars(view.endpoints.map((e) => e.spent)));
  $('total-held').textContent = dollars(sumDollars(view.endpoints.map((e) => e.held)));
  $('total-payments').textContent = String(view.endpoints.reduce((n, e) => n + e.settled, 0));
  $('total-refused').textContent = String(view.endpoints.reduce((n, e) => n + e.refused, 0));
  knownOptions('known-orgs', [...view.agents.map((a) => a.orgId), ...view.sessions.map((s) => s.orgId)]);
  knownOptions('known-agents', view.agents.map((a) => a.id));
  knownOptions('known-endpoints', view.endpoints.map((e) => e.resource));
}

function renderWallets(view: Wallets): void {
  fill(
    'wallets',
    view.data.map((w) => {
      const low = w.belowFloor || w.nativeBelowFloor;
      return row([
        cell(short(w.address)),
        cell(w.network),
        cell(w.symbol ?? short(w.asset)),
        cell(w.balance === null ? w.balanceAtomic : dollars(w.balance), 'num'),
        cell(w.held === null ? w.heldAtomic : dollars(w.held), 'num'),
        cell(w.available === null ? w.availableAtomic : dollars(w.available), 'num'),
        cell(w.floor === null ? '–' : dollars(w.floor), 'num'),
        cell(w.typicalPrice === null ? '–' : dollars(w.typicalPrice), 'num'),
        cell(w.coverablePayments ?? '–', 'num'),
        cell(low ? 'LOW: fund it' : 'ok', low ? 'low' : ''),
      ]);
    }),
    'No wallet reading yet: the settlement worker reports balances once it runs',
  );
}

/** Reads the balances and wallets; throws so the login can tell a refused token apart. */
export async function loadOverview(): Promise<void> {
  renderBalances((await api<Balances>('/admin/v1/balances')).body);
  renderWallets((await api<Wallets>('/admin/v1/wallets')).body);
}

async function refreshBalances(): Promise<void> {
  try {
    await loadOverview();
  } catch (error) {
    setStatus(`balances: ${(error as Error).message}`, 'retry');
  }
}

function scheduleBalances(): void {
  if (balancesTimer !== undefined) return;
  balancesTimer = setTimeout(() => {
    balancesTimer = undefined;
    void refreshBalances();
    setTimeout(() => void refreshBalances(), BALANCES_SETTLE_MS);
  }, BALANCES_DEBOUNCE_MS);
}

type Data = Record<string, unknown>;
const text = (value: unknown): string => (typeof value === 'string' || typeof value === 'number' ? String(value) : '');
const micros = (value: unknown): string => usdFromMicros(typeof value === 'string' || typeof value === 'number' ? value : null);

/** One line a person can read for each event type; unknown types show their name only. */
export function describe(event: { type: string; data?: Data }): string {
  const d = event.data ?? {};
  const before = (d.before ?? {}) as Data;
  const after = (d.after ?? {}) as Data;
  switch (event.type) {
    case 'OrgCreated':
      return `org ${text(d.name)} created, limit ${micros(d.limitMicros)}`;
    case 'TeamCreated':
      return `team ${text(d.name)} created, limit ${micros(d.limitMicros)}`;
    case 'AgentRegistered':
      return `agent ${text(d.name)} registered, limit ${micros(d.limitMicros)}`;
    case 'AgentKeyChanged':
      return `agent key ${text(d.change)}`;
    case 'SessionOpened':
      return `session opened with a ${micros(d.limitMicros)} limit`;
    case 'Reserved':
      return `${micros(d.amountMicros)} held for ${text(d.method) || 'GET'} ${pathOf(d.resource)}`;
    case 'ApprovalRequested':
      return `${micros(d.amountMicros)} waits for an admin's approval`;
    case 'ApprovalGranted':
      return `approved${text(d.reason) !== '' ? `: ${text(d.reason)}` : ''}`;
    case 'ApprovalDenied':
      return `denied${text(d.reason) !== '' ? `: ${text(d.reason)}` : ''}`;
    case 'PaymentSigned':
      return `authorization signed by ${short(d.payer)}`;
    case 'SettlementReported':
      return `seller reported: ${text(d.outcome)}${typeof d.transaction === 'string' ? ` (${short(d.transaction)})` : ''}`;
    case 'Settled':
      return `${micros(d.amountMicros)} paid, tx ${short(d.transaction)}`;
    case 'Refunded':
      return `${micros(d.amountMicros)} released: ${text(d.reason)}`;
    case 'LimitExceeded':
      return `refused ${text(d.code)} at ${text(d.level)} level: requested ${micros(d.requestedMicros)}, remaining ${micros(d.remainingMicros)} of ${micros(d.limitMicros)}`;
    case 'ShadowRefusal':
      return `shadow policy v${text(d.policyVersion)} would have refused ${micros(d.requestedMicros ?? d.requested)}: ${text(d.code)} at ${text(d.level)} level`;
    case 'Frozen':
      return `${text(d.level)} ${text(d.levelId)} frozen: ${text(d.reason)}`;
    case 'Unfrozen':
      return `${text(d.level)} ${text(d.levelId)} unfrozen: ${text(d.reason)}`;
    case 'BudgetChanged':
      return `${text(d.level)} budget ${micros(before.limitMicros)} → ${micros(after.limitMicros)}`;
    case 'PolicyChanged':
      return `${text(d.level)} ${text(d.mode) === 'shadow' ? 'shadow ' : ''}policy now version ${text(d.version)}`;
    case 'BudgetThresholdReached':
      return `${text(d.level)} budget reached ${text(d.thresholdPercent)}%: ${micros(d.usedMicros)} of ${micros(d.limitMicros)}`;
    case 'WalletLowBalance':
      return `wallet ${short(d.address)} ${text(d.kind)} balance ${text(d.balanceAtomic)} under its floor ${text(d.floorAtomic)}`;
    case 'WalletBalanceRestored':
      return `wallet ${short(d.address)} ${text(d.kind)} balance back to ${text(d.balanceAtomic)}`;
    default:
      return event.type;
  }
}

function addEvent(event: LiveEvent): void {
  const tbody = $<HTMLTableElement>('events').tBodies[0]!;
  tbody.querySelector('tr.empty')?.remove();
  const intentId = typeof event.data?.intentId === 'string' ? event.data.intentId : undefined;
  const what = cell(describe(event), 'wrap');
  if (intentId !== undefined) what.append(' ', link(`#/payments/${encodeURIComponent(intentId)}`, 'payment →'));
  const tr = row(
    [cell(new Date(event.occurredAt).toLocaleTimeString()), cell(el('span', { class: `pill ${event.type}` }, event.type)), what, cell(short(event.data?.sessionId)), cell(event.actor ?? '')],
    { class: 'fresh', 'data-type': event.type },
  );
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.rows.length > EVENT_ROWS_MAX) tbody.deleteRow(tbody.rows.length - 1);
}

export function setUpOverview(): void {
  onLiveEvent((event) => {
    addEvent(event);
    scheduleBalances();
  });
}
