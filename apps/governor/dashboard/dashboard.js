/* global document, window, fetch, TextDecoder, AbortController, URL, setTimeout */
// The FinOps dashboard: balances from GET /admin/v1/balances, events from the SSE stream
// GET /admin/v1/stream. EventSource cannot send an Authorization header, and a secret in a
// URL ends up in logs and history, so the stream is read with fetch and parsed here.
'use strict';

/** Rows kept in the event table; older ones scroll off so the page stays light. */
const EVENT_ROWS_MAX = 200;
/** Balances are re-read shortly after events arrive, once per burst rather than per event. */
const BALANCES_DEBOUNCE_MS = 300;
/**
 * The read models trail the log by up to one projection pass (250 ms), so a burst's last
 * events may not be in the first re-read; a second one a little later picks them up.
 */
const BALANCES_SETTLE_MS = 1_200;
/** Reconnect backoff doubles from the first value up to the second. */
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 10_000;
/** A single SSE frame larger than this is a broken stream, not a big event. */
const FRAME_CHARS_MAX = 1_000_000;

let token = '';
let lastEventId = '';
let balancesTimer = undefined;
let reconnectDelayMs = RECONNECT_MIN_MS;

const $ = (id) => document.getElementById(id);

/** "1230000" micro-dollars → "$1.23"; keeps sub-cent amounts such as $0.005 visible. */
function usd(micros) {
  if (micros === null || micros === undefined) return '—';
  const text = String(micros);
  const negative = text.startsWith('-');
  const digits = (negative ? text.slice(1) : text).padStart(7, '0');
  const whole = digits.slice(0, -6).replace(/^0+(?=\d)/, '');
  let fraction = digits.slice(-6).replace(/0+$/, '');
  if (fraction.length < 2) fraction = fraction.padEnd(2, '0');
  return `${negative ? '-' : ''}$${whole}.${fraction}`;
}

/** "0.10" (USD decimal string from the API) → "$0.10". */
function dollars(text) {
  return text === null || text === undefined ? '—' : `$${text}`;
}

function short(id) {
  if (typeof id !== 'string') return '';
  return id.length > 14 ? `${id.slice(0, 12)}…` : id;
}

function pathOf(resource) {
  try {
    const url = new URL(resource);
    return `${url.host}${url.pathname}`;
  } catch {
    return String(resource);
  }
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) tr.appendChild(c);
  return tr;
}

function setStatus(text, state) {
  const status = $('status');
  status.textContent = text;
  status.className = `status ${state}`;
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
  if (!response.ok) {
    let detail = `${response.status}`;
    try {
      const problem = await response.json();
      detail = `${problem.code ?? response.status}: ${problem.detail ?? ''}`;
    } catch {
      // Not a problem document; the status says enough.
    }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  return response.json();
}

function renderBalances(view) {
  const sessions = $('sessions').tBodies[0];
  sessions.replaceChildren(
    ...view.sessions.map((s) => {
      const usedPercent = Number(s.limit) > 0 ? Math.min(100, ((Number(s.spent) + Number(s.reserved)) / Number(s.limit)) * 100) : 0;
      // Built through the DOM: the page's CSP forbids style attributes, not CSSOM writes.
      const bar = document.createElement('td');
      const track = document.createElement('span');
      track.className = usedPercent >= 99.999 ? 'bar full' : 'bar';
      const fill = document.createElement('span');
      fill.style.width = `${usedPercent.toFixed(1)}%`;
      track.appendChild(fill);
      bar.appendChild(track);
      const tr = row([
        cell(short(s.id)),
        cell(s.agentName),
        cell(dollars(s.limit), 'num'),
        cell(dollars(s.reserved), 'num'),
        cell(dollars(s.spent), 'num'),
        cell(dollars(s.remaining), 'num'),
        bar,
        cell(String(s.payments), 'num'),
        cell(s.status),
      ]);
      tr.dataset.session = s.id;
      return tr;
    }),
  );
  if (view.sessions.length === 0) sessions.replaceChildren(row([cell('No sessions yet: run npm run demo', 'muted')]));

  $('agents').tBodies[0].replaceChildren(
    ...view.agents.map((a) => row([cell(a.name), cell(a.orgId), cell(dollars(a.limit), 'num'), cell(dollars(a.reserved), 'num'), cell(dollars(a.spent), 'num'), cell(dollars(a.remaining), 'num')])),
  );
  $('endpoints').tBodies[0].replaceChildren(
    ...view.endpoints.map((e) => row([cell(pathOf(e.resource)), cell(String(e.settled), 'num'), cell(String(e.refused), 'num'), cell(dollars(e.spent), 'num'), cell(dollars(e.held), 'num')])),
  );
  if (view.endpoints.length === 0) $('endpoints').tBodies[0].replaceChildren(row([cell('No payments yet', 'muted')]));

  let spent = 0;
  let held = 0;
  let settled = 0;
  let refused = 0;
  for (const e of view.endpoints) {
    spent += Math.round(Number(e.spent) * 1e6);
    held += Math.round(Number(e.held) * 1e6);
    settled += e.settled;
    refused += e.refused;
  }
  $('total-spent').textContent = usd(spent);
  $('total-held').textContent = usd(held);
  $('total-payments').textContent = String(settled);
  $('total-refused').textContent = String(refused);
}

function renderWallets(view) {
  const body = $('wallets').tBodies[0];
  body.replaceChildren(
    ...view.data.map((w) =>
      row([
        cell(short(w.address)),
        cell(w.network),
        cell(w.symbol ?? short(w.asset)),
        cell(w.balance === null ? w.balanceAtomic : dollars(w.balance), 'num'),
        cell(w.held === null ? w.heldAtomic : dollars(w.held), 'num'),
        cell(w.available === null ? w.availableAtomic : dollars(w.available), 'num'),
        cell(w.floor === null ? '–' : dollars(w.floor), 'num'),
        cell(w.typicalPrice === null ? '–' : dollars(w.typicalPrice), 'num'),
        cell(w.coverablePayments ?? '–', 'num'),
        cell(w.belowFloor || w.nativeBelowFloor ? 'LOW: fund it' : 'ok', w.belowFloor || w.nativeBelowFloor ? 'low' : ''),
      ]),
    ),
  );
  if (view.data.length === 0) body.replaceChildren(row([cell('No wallet reading yet: the settlement worker reports balances once it runs', 'muted')]));
}

async function refreshBalances() {
  try {
    renderBalances(await api('/admin/v1/balances'));
    renderWallets(await api('/admin/v1/wallets'));
  } catch (error) {
    setStatus(`balances: ${error.message}`, 'retry');
  }
}

function scheduleBalances() {
  if (balancesTimer !== undefined) return;
  balancesTimer = setTimeout(() => {
    balancesTimer = undefined;
    void refreshBalances();
    setTimeout(() => void refreshBalances(), BALANCES_SETTLE_MS);
  }, BALANCES_DEBOUNCE_MS);
}

/** One line a person can read for each event type; unknown types show their name only. */
function describe(event) {
  const d = event.data ?? {};
  switch (event.type) {
    case 'OrgCreated':
      return `org ${d.name} created, limit ${usd(d.limitMicros)}`;
    case 'TeamCreated':
      return `team ${d.name} created, limit ${usd(d.limitMicros)}`;
    case 'AgentRegistered':
      return `agent ${d.name} registered, limit ${usd(d.limitMicros)}`;
    case 'AgentKeyChanged':
      return `agent key ${d.change}`;
    case 'SessionOpened':
      return `session opened with a ${usd(d.limitMicros)} limit`;
    case 'Reserved':
      return `${usd(d.amountMicros)} held for ${d.method ?? 'GET'} ${pathOf(d.resource)}`;
    case 'PaymentSigned':
      return `authorization signed by ${short(d.payer)}`;
    case 'SettlementReported':
      return `seller reported: ${d.outcome}${d.transaction ? ` (${short(d.transaction)})` : ''}`;
    case 'Settled':
      return `${usd(d.amountMicros)} paid, tx ${short(d.transaction)}`;
    case 'Refunded':
      return `${usd(d.amountMicros)} released: ${d.reason}`;
    case 'LimitExceeded':
      return `refused ${d.code} at ${d.level} level: requested ${usd(d.requestedMicros)}, remaining ${usd(d.remainingMicros)} of ${usd(d.limitMicros)}`;
    case 'BudgetChanged':
      return `${d.level} budget ${usd(d.before?.limitMicros)} → ${usd(d.after?.limitMicros)}`;
    case 'PolicyChanged':
      return `${d.level} policy now version ${d.version}`;
    case 'BudgetThresholdReached':
      return `${d.level} budget reached ${d.thresholdPercent}%: ${usd(d.usedMicros)} of ${usd(d.limitMicros)}`;
    case 'WalletLowBalance':
      return `wallet ${short(d.address)} ${d.kind} balance ${d.balanceAtomic} under its floor ${d.floorAtomic}`;
    case 'WalletBalanceRestored':
      return `wallet ${short(d.address)} ${d.kind} balance back to ${d.balanceAtomic}`;
    default:
      return event.type;
  }
}

function addEvent(event) {
  const tbody = $('events').tBodies[0];
  const pill = document.createElement('td');
  const badge = document.createElement('span');
  badge.className = `pill ${event.type}`;
  badge.textContent = event.type;
  pill.appendChild(badge);
  const tr = row([
    cell(new Date(event.occurredAt).toLocaleTimeString()),
    pill,
    cell(describe(event), 'wrap'),
    cell(short(event.data?.sessionId ?? '')),
    cell(event.actor ?? ''),
  ]);
  tr.className = 'fresh';
  tr.dataset.type = event.type;
  tbody.insertBefore(tr, tbody.firstChild);
  while (tbody.rows.length > EVENT_ROWS_MAX) tbody.deleteRow(tbody.rows.length - 1);
}

/** Parses one SSE frame ("id: …\nevent: …\ndata: …") and acts on it. */
function onFrame(frame) {
  let id = '';
  let data = '';
  for (const line of frame.split('\n')) {
    if (line.startsWith('id: ')) id = line.slice(4);
    else if (line.startsWith('data: ')) data += line.slice(6);
  }
  if (data === '') return;
  if (id !== '') lastEventId = id;
  addEvent(JSON.parse(data));
  scheduleBalances();
}

async function readStream(signal) {
  const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' };
  if (lastEventId !== '') headers['Last-Event-ID'] = lastEventId;
  const response = await fetch('/admin/v1/stream?backlog=50', { headers, signal });
  if (!response.ok || response.body === null) {
    const error = new Error(`stream answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  setStatus('live', 'live');
  reconnectDelayMs = RECONNECT_MIN_MS;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end !== -1) {
      onFrame(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
    }
    if (buffer.length > FRAME_CHARS_MAX) throw new Error('stream frame too large');
  }
}

/** Keeps the stream open: reconnects with the last event id after a drop, with backoff. */
async function follow() {
  for (;;) {
    const controller = new AbortController();
    try {
      await readStream(controller.signal);
      setStatus('reconnecting…', 'retry');
    } catch (error) {
      if (error.status === 401 || error.status === 403) {
        setStatus('not connected', 'off');
        showLogin('That token was refused. Use the admin token from .paybound/admin-token.');
        return;
      }
      setStatus(`reconnecting: ${error.message}`, 'retry');
    }
    await new Promise((resolve) => setTimeout(resolve, reconnectDelayMs));
    reconnectDelayMs = Math.min(reconnectDelayMs * 2, RECONNECT_MAX_MS);
  }
}

function showLogin(message) {
  $('board').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
}

async function connect(event) {
  event.preventDefault();
  token = $('token').value.trim();
  $('login-error').textContent = '';
  try {
    renderBalances(await api('/admin/v1/balances'));
    renderWallets(await api('/admin/v1/wallets'));
  } catch (error) {
    showLogin(error.status === 401 || error.status === 403 ? 'That token was refused. Use the admin token from .paybound/admin-token.' : `Cannot reach Paybound: ${error.message}`);
    return;
  }
  $('login').hidden = true;
  $('board').hidden = false;
  void follow();
}

window.addEventListener('DOMContentLoaded', () => {
  $('login').addEventListener('submit', (event) => void connect(event));
});
