import { api, explain } from '../api.js';
import { $, cell, el, fill, link, notify, row } from '../dom.js';
import { dollars, pathOf, short, timeLeft } from '../format.js';
import { onLiveEvent } from '../live.js';

// Payments held for a person's approval: who, what, how much, which policy held it, and how
// long before the governor refuses it by itself. The list follows the admin stream.

const RELOAD_DEBOUNCE_MS = 200;
const REASON_CHARS_MAX = 500;
const LIVE_TYPES = new Set(['ApprovalRequested', 'ApprovalGranted', 'ApprovalDenied']);

interface Approval {
  paymentId?: string;
  /** The name the governor used before the console's API; read until every governor has it. */
  id?: string;
  orgId: string;
  teamId?: string | null;
  agentId: string;
  sessionId: string;
  resource: string | null;
  method?: string;
  amount: string;
  policySource?: string | null;
  thresholdAmount?: string | null;
  expiresAt: string | null;
  secondsLeft?: number | null;
}

/** Deadlines on this browser's clock, from the server's secondsLeft when it gives one. */
const deadlines = new Map<string, number>();
let reloadTimer: ReturnType<typeof setTimeout> | undefined;
let ticker: ReturnType<typeof setInterval> | undefined;

function paymentIdOf(item: Approval): string {
  return item.paymentId ?? item.id ?? '';
}

function heldBy(item: Approval): string {
  const source = item.policySource ?? 'policy';
  return item.thresholdAmount === undefined || item.thresholdAmount === null ? `${source}: approval required` : `${source}: approval above ${dollars(item.thresholdAmount)}`;
}

async function decide(paymentId: string, approve: boolean, reasonInput: HTMLInputElement, buttons: HTMLButtonElement[]): Promise<void> {
  const reason = reasonInput.value.trim().slice(0, REASON_CHARS_MAX);
  for (const button of buttons) button.disabled = true;
  try {
    await api(`/admin/v1/approvals/${encodeURIComponent(paymentId)}/${approve ? 'approve' : 'deny'}`, { method: 'POST', body: reason === '' ? {} : { reason } });
    notify(`${approve ? 'Approved' : 'Denied'} payment ${short(paymentId)}${reason === '' ? '' : `: ${reason}`}`);
    document.querySelector(`#approvals tr[data-payment="${CSS.escape(paymentId)}"]`)?.remove();
    scheduleReload();
  } catch (error) {
    notify(`Could not ${approve ? 'approve' : 'deny'} ${short(paymentId)}: ${explain(error)}`, 'error');
    for (const button of buttons) button.disabled = false;
  }
}

function render(items: Approval[]): void {
  const now = Date.now();
  deadlines.clear();
  const rows = items.map((item) => {
    const paymentId = paymentIdOf(item);
    const secondsLeft = item.secondsLeft ?? (item.expiresAt === null ? Number.NaN : (Date.parse(item.expiresAt) - now) / 1000);
    deadlines.set(paymentId, now + secondsLeft * 1000);
    const reason = el('input', { type: 'text', maxlength: String(REASON_CHARS_MAX), placeholder: 'reason (optional)', 'aria-label': 'Reason', class: 'reason' });
    const approve = el('button', { type: 'button', class: 'approve' }, 'Approve');
    const deny = el('button', { type: 'button', class: 'danger deny' }, 'Deny');
    approve.addEventListener('click', () => void decide(paymentId, true, reason, [approve, deny]));
    deny.addEventListener('click', () => void decide(paymentId, false, reason, [approve, deny]));
    const what = cell(`${item.method ?? 'GET'} ${pathOf(item.resource)}`, 'wrap');
    what.append(' ', link(`#/payments/${encodeURIComponent(paymentId)}`, 'story →'));
    return row(
      [cell(item.agentId), cell(short(item.sessionId)), what, cell(dollars(item.amount), 'num'), cell(heldBy(item)), cell(timeLeft(secondsLeft), 'num left'), cell(reason), cell(el('span', { class: 'buttons' }, approve, deny))],
      { 'data-payment': paymentId },
    );
  });
  fill('approvals', rows, 'Nothing waits for approval');
  const count = $('approvals-count');
  count.textContent = String(items.length);
  count.hidden = items.length === 0;
}

function tick(): void {
  const now = Date.now();
  for (const tr of document.querySelectorAll<HTMLTableRowElement>('#approvals tbody tr[data-payment]')) {
    const deadline = deadlines.get(tr.dataset.payment ?? '');
    const left = tr.querySelector('td.left');
    if (deadline !== undefined && left !== null) left.textContent = timeLeft((deadline - now) / 1000);
  }
}

export async function loadApprovals(): Promise<void> {
  try {
    render((await api<{ items: Approval[] }>('/admin/v1/approvals')).body.items);
  } catch (error) {
    fill('approvals', [], `Cannot list approvals: ${explain(error)}`);
  }
}

function scheduleReload(): void {
  if (reloadTimer !== undefined) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = undefined;
    void loadApprovals();
  }, RELOAD_DEBOUNCE_MS);
}

export function setUpApprovals(): void {
  onLiveEvent((event) => {
    if (LIVE_TYPES.has(event.type)) scheduleReload();
  });
  ticker ??= setInterval(tick, 1_000);
}
