import { api, download, explain } from '../api.js';
import { $, cell, el, fill, input, link, notify, row, select } from '../dom.js';
import { dollars, pathOf, short } from '../format.js';

// Payments: a filtered, paged list; a payment's whole story (what was asked, offered, decided,
// signed, answered and settled, and every event); its receipt; and exports for finance.

const PAGE_SIZE = 50;

interface PaymentSummary {
  id: string;
  orgId: string;
  agentId: string;
  resource: string | null;
  amount: string;
  status: string;
  createdAt: string;
}

interface Story {
  payment: Record<string, unknown> & { id: string; status: string };
  request?: Record<string, unknown> | null;
  offer?: { received?: unknown; chosen?: unknown; rejected?: { option: unknown; reason: string }[] } | null;
  decision?: Record<string, unknown> | null;
  signature?: Record<string, unknown> | null;
  sellerAnswer?: Record<string, unknown> | null;
  chain?: { transaction?: string | null; blockNumber?: string | number | null; blockTime?: string | null } | null;
  events?: { type: string; at: string; actor: string; globalPosition: string | number }[];
}

let nextCursor: string | null = null;

function listQuery(cursor: string | null): string {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  const orgId = input('payments-org').value.trim();
  const status = select('payments-status').value;
  const agentId = input('payments-agent').value.trim();
  if (orgId !== '') params.set('orgId', orgId);
  if (status !== '') params.set('status', status);
  if (agentId !== '') params.set('agentId', agentId);
  if (cursor !== null) params.set('cursor', cursor);
  return params.toString();
}

function summaryRow(p: PaymentSummary): HTMLTableRowElement {
  return row(
    [cell(link(`#/payments/${encodeURIComponent(p.id)}`, short(p.id, 20))), cell(p.agentId), cell(pathOf(p.resource), 'wrap'), cell(dollars(p.amount), 'num'), cell(el('span', { class: `pill ${p.status}` }, p.status)), cell(new Date(p.createdAt).toLocaleString())],
    { 'data-payment': p.id },
  );
}

export async function loadPayments(append = false): Promise<void> {
  try {
    const answer = (await api<{ items: PaymentSummary[]; next?: string | null; nextCursor?: string | null }>(`/admin/v1/payments?${listQuery(append ? nextCursor : null)}`)).body;
    nextCursor = answer.next ?? answer.nextCursor ?? null;
    const rows = answer.items.map(summaryRow);
    if (append) $<HTMLTableElement>('payments').tBodies[0]!.append(...rows);
    else fill('payments', rows, 'No payment matches');
    $('payments-more').hidden = nextCursor === null;
  } catch (error) {
    fill('payments', [], `Cannot list payments: ${explain(error)}`);
    $('payments-more').hidden = true;
  }
}

/** Nested values as a definition list; objects inside are shown as indented JSON. */
function facts(title: string, values: Record<string, unknown> | null | undefined, id: string): HTMLElement {
  const section = el('section', { class: 'fact', id: `story-${id}` }, el('h3', {}, title));
  if (values === null || values === undefined) {
    section.append(el('p', { class: 'muted' }, 'none recorded'));
    return section;
  }
  const list = el('dl');
  for (const [key, value] of Object.entries(values)) {
    const shown = value === null || value === undefined ? '—' : typeof value === 'object' ? el('pre', {}, JSON.stringify(value, null, 2)) : typeof value === 'string' ? value : JSON.stringify(value);
    list.append(el('dt', {}, key), el('dd', { 'data-key': key }, shown));
  }
  section.append(list);
  return section;
}

function renderStory(story: Story): void {
  $('payment-id').textContent = story.payment.id;
  $('payment-status').textContent = story.payment.status;
  $('payment-status').className = `pill ${story.payment.status}`;
  const chain = story.chain ?? null;
  const offer = story.offer ?? null;
  $('payment-story').replaceChildren(
    facts('Payment', story.payment, 'payment'),
    facts('Request', story.request, 'request'),
    facts('Offer', offer === null ? null : { received: offer.received, chosen: offer.chosen, rejected: offer.rejected ?? [] }, 'offer'),
    facts('Decision', story.decision, 'decision'),
    facts('Signature (public parts)', story.signature, 'signature'),
    facts("Seller's answer", story.sellerAnswer, 'seller'),
    facts('On chain', chain, 'chain'),
  );
  fill(
    'payment-events',
    (story.events ?? []).map((event) => row([cell(new Date(event.at).toLocaleString()), cell(el('span', { class: `pill ${event.type}` }, event.type)), cell(event.actor), cell(String(event.globalPosition), 'num')], { 'data-type': event.type })),
    'No events',
  );
}

export async function loadPayment(paymentId: string): Promise<void> {
  $('payment-id').textContent = paymentId;
  $('payment-status').textContent = '';
  $('payment-receipt-result').textContent = '';
  $('payment-story').replaceChildren(el('p', { class: 'muted' }, 'Loading…'));
  fill('payment-events', [], '');
  try {
    renderStory((await api<Story>(`/admin/v1/payments/${encodeURIComponent(paymentId)}`)).body);
  } catch (error) {
    $('payment-story').replaceChildren(el('p', { class: 'error' }, `Cannot read payment ${paymentId}: ${explain(error)}`));
  }
}

async function downloadReceipt(): Promise<void> {
  const paymentId = $('payment-id').textContent ?? '';
  try {
    const file = await download(`/admin/v1/payments/${encodeURIComponent(paymentId)}/receipt`, `receipt-${paymentId}.json`);
    $('payment-receipt-result').textContent = `Saved ${file.name} (${file.bytes} bytes)`;
  } catch (error) {
    $('payment-receipt-result').textContent = `No receipt: ${explain(error)}`;
  }
}

async function exportPayments(): Promise<void> {
  const from = input('export-from').value;
  const to = input('export-to').value;
  const orgId = input('export-org').value.trim();
  const format = select('export-format').value;
  if (from === '' || to === '' || orgId === '') {
    notify('Pick an org and a date range to export.', 'error');
    return;
  }
  // Dates are whole UTC days; "to" is inclusive on the form, exclusive in the API.
  const toExclusive = new Date(Date.parse(`${to}T00:00:00Z`) + 86_400_000).toISOString();
  const params = new URLSearchParams({ orgId, from: new Date(`${from}T00:00:00Z`).toISOString(), to: toExclusive, format });
  $('export-result').textContent = 'Exporting…';
  try {
    const file = await download(`/admin/v1/exports/payments?${params.toString()}`, `payments-${orgId}-${from}-${to}.${format}`);
    $('export-result').textContent = `Saved ${file.name} (${file.bytes} bytes)`;
  } catch (error) {
    $('export-result').textContent = `Not exported: ${explain(error)}`;
  }
}

export function setUpPayments(): void {
  $('payments-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void loadPayments();
  });
  $('payments-more').addEventListener('click', () => void loadPayments(true));
  $('payment-receipt').addEventListener('click', () => void downloadReceipt());
  $('export-form').addEventListener('submit', (event) => {
    event.preventDefault();
    void exportPayments();
  });
  const today = new Date().toISOString().slice(0, 10);
  input('export-from').value = today;
  input('export-to').value = today;
}
