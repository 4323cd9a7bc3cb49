import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The demo agent: an AI agent's runtime reduced to its payments. It opens a $0.10 session
// and buys the demo seller's data until Paybound refuses, printing each payment and what is
// left. It holds no wallet and no key but its Paybound API key: Paybound decides and the
// settlement worker signs.

const SESSION_LIMIT_USD = '0.10';
/** More purchases than the budget can allow, so the loop always ends on the refusal. */
const PURCHASES_MAX = 50;
const REQUEST_TIMEOUT_MS = 30_000;
/** How long a held payment may wait for the worker's signature before the demo moves on. */
const SIGNATURE_WAIT_MS = 5_000;
const POLL_INTERVAL_MS = 200;
/** How long the demo waits for a signed payment to show as settled before printing its row. */
const SETTLEMENT_WAIT_MS = 3_000;
const FINAL_STATUSES = new Set(['settled', 'refunded', 'rejected']);

interface Settings {
  baseUrl: string;
  apiKey: string;
  dataUrl: string;
}

interface Problem {
  code?: string;
  detail?: string;
  level?: string;
  limit?: string | null;
  requested?: string;
  remaining?: string | null;
}

interface Payment {
  id: string;
  status: string;
  amount: string;
  resource: string | null;
  transaction?: string | null;
  header?: { name: string; value: string } | null;
}

interface Session {
  id: string;
  limit: string;
  reserved: string;
  spent: string;
  remaining: string;
  payments: number;
}

function settings(): Settings {
  const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const runFile = join(repoRoot, '.paybound', 'run.json');
  const agentFile = join(repoRoot, '.paybound', 'demo-agent.json');
  const run = existsSync(runFile) ? (JSON.parse(readFileSync(runFile, 'utf8')) as { apiUrl?: string; demoUrl?: string | null }) : {};
  const agent = existsSync(agentFile) ? (JSON.parse(readFileSync(agentFile, 'utf8')) as { apiKey?: string }) : {};
  const baseUrl = process.env.PAYBOUND_URL ?? run.apiUrl;
  const apiKey = process.env.PAYBOUND_AGENT_KEY ?? agent.apiKey;
  const dataUrl = process.env.PAYBOUND_DEMO_URL ?? run.demoUrl ?? undefined;
  if (baseUrl === undefined || apiKey === undefined || dataUrl === undefined) {
    console.error(
      'The demo agent needs a running Paybound.\n' +
        '  why: it pays through Paybound, and finds its address, key and seller in .paybound/ (written by npm start)\n' +
        '  fix: run `npm start` in another terminal first, or set PAYBOUND_URL, PAYBOUND_AGENT_KEY and PAYBOUND_DEMO_URL',
    );
    process.exit(2);
  }
  return { baseUrl, apiKey, dataUrl };
}

async function paybound<T>(s: Settings, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(`${s.baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${s.apiKey}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // A seller's body through pay-and-fetch need not be JSON.
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One purchase's outcome, as a row of the table. */
interface Row {
  status: string;
  amount: string;
  refusal?: Problem;
}

/** The payment once it has an outcome, or as it is when the (bounded) wait ends. */
async function settledPayment(s: Settings, paymentId: string): Promise<Payment> {
  const deadline = Date.now() + SETTLEMENT_WAIT_MS;
  for (;;) {
    const view = await paybound<Payment>(s, 'GET', `/v1/payments/${paymentId}`);
    if (FINAL_STATUSES.has(view.body.status) || Date.now() > deadline) return view.body;
    await sleep(POLL_INTERVAL_MS);
  }
}

/** Pay-and-fetch: Paybound calls the seller, pays its 402 and hands back the answer. */
async function buyWithFetch(s: Settings, sessionId: string): Promise<Row | 'no_route'> {
  const result = await paybound<Problem>(s, 'POST', `/v1/sessions/${sessionId}/fetch`, { url: s.dataUrl, method: 'GET' }, { 'Idempotency-Key': randomUUID() });
  if (result.status === 404 && result.body.code === 'not_found') return 'no_route';
  const paymentId = result.headers.get('paybound-payment-id');
  if (paymentId === null && result.status >= 400) return { status: `refused ${result.status}`, amount: result.body.requested ?? '-', refusal: result.body };
  const payment = paymentId === null ? undefined : await settledPayment(s, paymentId);
  return { status: `${payment?.status ?? 'paid'} (seller ${result.status})`, amount: result.headers.get('paybound-amount') ?? payment?.amount ?? '-' };
}

/** Whether a held payment has been signed yet in this run; undefined until one is tried. */
let signerSeen: boolean | undefined;

/** Sign-only: the agent calls the seller itself and sends the header Paybound signed. */
async function buySignOnly(s: Settings, sessionId: string): Promise<Row> {
  const unpaid = await fetch(s.dataUrl, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  await unpaid.arrayBuffer();
  const offer = unpaid.headers.get('payment-required');
  if (unpaid.status !== 402 || offer === null) return { status: `seller answered ${unpaid.status} without an offer`, amount: '-' };
  const body = { paymentRequired: offer, url: s.dataUrl, method: 'GET' };
  const idempotencyKey = randomUUID();
  const requested = await paybound<Payment & Problem>(s, 'POST', `/v1/sessions/${sessionId}/payments`, body, { 'Idempotency-Key': idempotencyKey });
  if (requested.status === 403) return { status: 'refused 403', amount: requested.body.requested ?? '-', refusal: requested.body };
  if (requested.status !== 201 && requested.status !== 202) return { status: `error ${requested.status} ${requested.body.code ?? ''}`, amount: '-' };
  const payment = requested.body;
  let header = payment.header ?? null;
  // 202: held, not signed yet. Once the payment shows as signed, a retry of the same request
  // (same Idempotency-Key) answers with the header. Without a worker nothing is ever signed,
  // so after one payment that waited in vain the demo stops waiting.
  const deadline = Date.now() + (signerSeen === false ? 0 : SIGNATURE_WAIT_MS);
  while (header === null && Date.now() < deadline) {
    await sleep(POLL_INTERVAL_MS);
    const view = await paybound<Payment>(s, 'GET', `/v1/payments/${payment.id}`);
    if (view.body.status === 'reserved') continue;
    const retried = await paybound<Payment>(s, 'POST', `/v1/sessions/${sessionId}/payments`, body, { 'Idempotency-Key': idempotencyKey });
    header = retried.body.header ?? null;
    break;
  }
  signerSeen = header !== null;
  if (header === null) return { status: 'held, not signed', amount: payment.amount };
  const paid = await fetch(s.dataUrl, { headers: { [header.name]: header.value }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  await paid.arrayBuffer();
  const paymentResponse = paid.headers.get('payment-response') ?? paid.headers.get('x-payment-response') ?? undefined;
  await paybound<Payment>(s, 'POST', `/v1/payments/${payment.id}/result`, { status: paid.status, ...(paymentResponse === undefined ? {} : { paymentResponse }) });
  const reported = await settledPayment(s, payment.id);
  return { status: `${reported.status} (seller ${paid.status})`, amount: payment.amount };
}

function cellsOf(values: string[], widths: number[]): string {
  return values.map((v, i) => (i === 0 || i === 2 || i === 4 ? v.padStart(widths[i] ?? 0) : v.padEnd(widths[i] ?? 0))).join('  ');
}

async function main(): Promise<void> {
  const s = settings();
  const opened = await paybound<Session & Problem>(s, 'POST', '/v1/sessions', { limit: SESSION_LIMIT_USD, metadata: { purpose: 'demo' } }, { 'Idempotency-Key': randomUUID() });
  if (opened.status !== 201) throw new Error(`opening the session failed with ${opened.status}: ${opened.body.code ?? ''} ${opened.body.detail ?? ''}`);
  const sessionId = opened.body.id;
  const resource = new URL(s.dataUrl);
  console.log(`\nDemo agent: session ${sessionId} with a $${opened.body.limit} limit; buying ${resource.pathname} from ${resource.host} until Paybound says no.\n`);
  const widths = [3, 10, 7, 34, 10];
  console.log(cellsOf(['#', 'resource', 'amount', 'status', 'remaining'], widths));
  console.log(cellsOf(['-'.repeat(3), '-'.repeat(10), '-'.repeat(7), '-'.repeat(34), '-'.repeat(10)], widths));

  let mode: 'fetch' | 'sign-only' = 'fetch';
  let refusal: Problem | undefined;
  let count = 0;
  for (let n = 1; n <= PURCHASES_MAX && refusal === undefined; n += 1) {
    let row: Row | 'no_route' = mode === 'fetch' ? await buyWithFetch(s, sessionId) : await buySignOnly(s, sessionId);
    if (row === 'no_route') {
      mode = 'sign-only';
      row = await buySignOnly(s, sessionId);
    }
    const session = await paybound<Session>(s, 'GET', `/v1/sessions/${sessionId}`);
    refusal = row.refusal;
    if (refusal === undefined) count += 1;
    console.log(cellsOf([String(n), `GET ${resource.pathname}`.slice(0, 10), row.refusal === undefined ? `$${row.amount}` : '-', row.refusal === undefined ? row.status : `REFUSED (${row.refusal.code ?? '403'})`, `$${session.body.remaining}`], widths));
  }

  const session = await paybound<Session>(s, 'GET', `/v1/sessions/${sessionId}`);
  console.log('');
  if (refusal === undefined) {
    console.log(`Stopped after ${PURCHASES_MAX} purchases without a refusal (is the budget larger than the demo expects?).`);
    process.exitCode = 1;
    return;
  }
  console.log(`Paybound refused purchase #${count + 1}: ${refusal.code ?? 'refused'} (403)`);
  console.log(`  level ${refusal.level ?? '?'}: limit $${refusal.limit ?? '?'}, requested $${refusal.requested ?? '?'}, remaining $${refusal.remaining ?? '?'}`);
  console.log(`  session ${sessionId}: spent $${session.body.spent}, held $${session.body.reserved}, remaining $${session.body.remaining} of $${session.body.limit}, ${session.body.payments} payments`);
  console.log(`  (${mode === 'fetch' ? 'pay-and-fetch' : 'sign-only'} flow; the refusal is a LimitExceeded event on the dashboard)`);
}

try {
  await main();
} catch (error) {
  console.error(`demo agent failed: ${(error as Error).message}`);
  process.exitCode = 1;
}
