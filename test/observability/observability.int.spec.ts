import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, seedAgent } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from '../support/otlp-receiver.js';
import { sampleValue, scrape, type Sample } from '../support/prometheus.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';
import { startX402Kit, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';

// Traces and metrics as an operator sees them: a real OTLP exporter in both processes
// sending to a receiver on loopback, and /metrics scraped over HTTP, around paid fetches
// against the official x402 seller and facilitator on anvil.

const ADMIN = 'test-admin-token-observability';
const METRICS_TOKEN = 'test-metrics-token-observability';
const ORG_ID = 'org-observability';
const AGENT_ID = 'agent-observability';
const PRICE_ATOMIC = 10_000;
const WAIT_MS = 30_000;
const SPAN_KIND_SERVER = 2;
const SPAN_KIND_CLIENT = 3;

describe('observability: a connected trace per paid fetch and counters that move by what was done', () => {
  let receiver: OtlpReceiver;
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let agentKey: string;

  async function eventually<T>(what: string, read: () => Promise<T | undefined> | T | undefined): Promise<T> {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const value = await read();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS} ms\n${worker.output().slice(-2_000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async function openSession(limit: string): Promise<string> {
    const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit } });
    expect(session.status).toBe(201);
    return session.body.id;
  }

  async function paidFetch(sessionId: string, headers: Record<string, string> = {}) {
    return call<{ data?: string; code?: string }>(governor.url, 'POST', `/v1/sessions/${sessionId}/fetch`, { key: agentKey, body: { url: kit.seller.dataUrl }, headers });
  }

  async function settled(paymentId: string): Promise<void> {
    await eventually(`payment ${paymentId} settled`, async () => ((await call<{ status: string }>(governor.url, 'GET', `/v1/payments/${paymentId}`, { key: agentKey })).body.status === 'settled' ? true : undefined));
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    kit = await startX402Kit();
    db = await freshDatabase('observability');
    const telemetry = { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY: '100', PAYBOUND_METRICS_TOKEN: METRICS_TOKEN };
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '10000',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
      ...telemetry,
    });
    worker = await spawnWorker({
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      // The well-known anvil development key of the kit's payer, derived at run time.
      PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey,
      [rpcEnvName(kit.network)]: kit.rpcUrl,
      PAYBOUND_WALLET_CHECK_INTERVAL_MS: '200',
      ...telemetry,
    });
    agentKey = await seedAgent(governor.url, ADMIN, { orgId: ORG_ID, agentId: AGENT_ID }, { org: '100.00' });
  });

  afterAll(async () => {
    await worker?.stop();
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
    await receiver?.stop();
  });

  it('follows one paid fetch from the HTTP request through decision, signature and paid request to the settlement', async () => {
    const sessionId = await openSession('1.00');
    // The agent runtime's own span: everything Paybound does must hang below it.
    const traceId = randomBytes(16).toString('hex');
    const callerSpanId = randomBytes(8).toString('hex');
    const paid = await paidFetch(sessionId, { traceparent: `00-${traceId}-${callerSpanId}-01` });
    expect({ status: paid.status, body: paid.body }).toMatchObject({ status: 200, body: { data: 'paid content' } });
    const paymentId = paid.headers.get('paybound-payment-id')!;
    await settled(paymentId);

    const trace = await eventually('the settlement span', () => {
      const spans = receiver.spans().filter((s) => s.traceId === traceId);
      // The Settle decision (governor) ends before the worker's settlement span around it, and
      // the two processes export on their own: wait for both.
      const settle = spans.find((s) => s.name === 'paybound.decision' && s.attributes['paybound.command'] === 'Settle');
      const settlement = spans.find((s) => s.name === 'paybound.settlement');
      return settle === undefined || settlement === undefined ? undefined : spans;
    });
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const one = (name: string, where: (s: ReceivedSpan) => boolean = () => true): ReceivedSpan => {
      const found = trace.filter((s) => s.name === name && where(s));
      expect(found, `${name}: ${JSON.stringify(trace.map((s) => `${s.service} ${s.name} ${String(s.attributes['paybound.command'] ?? '')}`))}`).toHaveLength(1);
      return found[0]!;
    };
    const decision = (command: string) => one('paybound.decision', (s) => s.attributes['paybound.command'] === command);

    const server = one('POST /v1/sessions/:id/fetch');
    expect(server).toMatchObject({ service: 'paybound-governor', kind: SPAN_KIND_SERVER, parentSpanId: callerSpanId, attributes: { 'http.route': '/v1/sessions/:id/fetch', 'http.response.status_code': 200 } });
    const payment = {
      'paybound.intent.id': paymentId,
      'paybound.session.id': sessionId,
      'paybound.agent.id': AGENT_ID,
      'paybound.org.id': ORG_ID,
      'paybound.amount_atomic': String(PRICE_ATOMIC),
      'paybound.asset': kit.token.toLowerCase(),
      'paybound.network': kit.network,
      'paybound.payee': kit.seller.payTo.toLowerCase(),
    };
    const reserve = decision('Reserve');
    expect(reserve).toMatchObject({ service: 'paybound-governor', parentSpanId: server.spanId, attributes: { ...payment, 'paybound.amount': '0.01', 'paybound.outcome': 'reserved', 'paybound.session.remaining': '0.99' } });
    // The worker continues the trace from the traceparent stored with the Reserved event.
    const signature = one('paybound.signature');
    expect(signature).toMatchObject({ service: 'paybound-settlement-worker', parentSpanId: reserve.spanId, attributes: { ...payment, 'paybound.outcome': 'signed' } });
    // The worker's commands are decided by the governor: a request to its internal route continues the worker's span.
    const workerCommand = (parent: ReceivedSpan): ReceivedSpan => {
      const request = one('POST /internal/v1/worker-commands', (s) => s.parentSpanId === parent.spanId);
      expect(request).toMatchObject({ service: 'paybound-governor', kind: SPAN_KIND_SERVER, attributes: { 'http.response.status_code': 200 } });
      return request;
    };
    expect(decision('RecordSignature')).toMatchObject({ service: 'paybound-governor', parentSpanId: workerCommand(signature).spanId, attributes: { 'paybound.outcome': 'signed', 'paybound.session.remaining': '0.99' } });
    expect(one('paybound.signature_wait')).toMatchObject({ service: 'paybound-governor', parentSpanId: server.spanId, attributes: { 'paybound.intent.id': paymentId, 'paybound.outcome': 'signed' } });
    const unpaid = one('paybound.unpaid_request');
    const paidRequest = one('paybound.paid_request');
    for (const request of [unpaid, paidRequest]) expect(request).toMatchObject({ service: 'paybound-governor', kind: SPAN_KIND_CLIENT, parentSpanId: server.spanId });
    expect(unpaid.attributes['http.response.status_code']).toBe(402);
    expect(paidRequest.attributes).toMatchObject({ ...payment, 'http.response.status_code': 200, 'url.path': '/data' });
    const report = decision('ReportOutcome');
    expect(report).toMatchObject({ parentSpanId: server.spanId, attributes: { 'paybound.outcome': 'reported' } });
    const settlement = one('paybound.settlement');
    expect(settlement).toMatchObject({ service: 'paybound-settlement-worker', attributes: { ...payment, 'paybound.outcome': 'settled' } });
    // The seller settled on chain before it answered, so the worker may see the transfer
    // before the report reaches payments_view: it continues from the report's traceparent,
    // or else from the one stored with the reservation.
    expect([report.spanId, reserve.spanId]).toContain(settlement.parentSpanId);
    expect(String(settlement.attributes['paybound.transaction'])).toMatch(/^0x[0-9a-f]{64}$/);
    expect(decision('Settle')).toMatchObject({ service: 'paybound-governor', parentSpanId: workerCommand(settlement).spanId, attributes: { 'paybound.outcome': 'settled', 'paybound.session.remaining': '0.99' } });

    // Connected: every span's chain of parents ends at the caller's span.
    for (const span of trace) {
      let current: ReceivedSpan | undefined = span;
      for (let depth = 0; current !== undefined && depth < trace.length; depth += 1) {
        if (current.parentSpanId === callerSpanId) break;
        current = byId.get(current.parentSpanId);
      }
      expect(current?.parentSpanId, `${span.name} is not connected to the caller's span`).toBe(callerSpanId);
    }
    printTrace(trace, callerSpanId);
  });

  it('moves the governor and worker counters by exactly what two paid fetches and one refusal did', async () => {
    const governorMetrics = () => scrape(`${governor.url}/metrics`, METRICS_TOKEN);
    const workerMetrics = () => scrape(worker.metricsUrl, METRICS_TOKEN);
    expect((await fetch(`${governor.url}/metrics`)).status).toBe(401);
    expect((await fetch(worker.metricsUrl)).status).toBe(401);
    const asset = { network: kit.network, asset: kit.token.toLowerCase() };
    const fetchRoute = { method: 'POST', route: '/v1/sessions/:id/fetch' };
    const openSessionsBefore = await eventually('the first session projected', async () => {
      const value = sampleValue(await governorMetrics(), 'paybound_open_sessions');
      return value >= 1 ? value : undefined;
    });
    const [governorBefore, workerBefore] = await Promise.all([governorMetrics(), workerMetrics()]);

    const sessionId = await openSession('0.02');
    const paymentIds: string[] = [];
    for (let i = 0; i < 2; i += 1) {
      const paid = await paidFetch(sessionId);
      expect(paid.status).toBe(200);
      paymentIds.push(paid.headers.get('paybound-payment-id')!);
    }
    const refused = await paidFetch(sessionId);
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 403, code: 'session_limit_exceeded' });
    for (const id of paymentIds) await settled(id);

    const payerBalance = (await kit.balanceOf(kit.payer.address)).toString();
    const walletLabels = { network: kit.network, asset: kit.token.toLowerCase(), address: kit.payer.address.toLowerCase() };
    await eventually('the wallet gauge at the on-chain balance', async () => (String(sampleValue(await workerMetrics(), 'paybound_wallet_balance_atomic', walletLabels)) === payerBalance ? true : undefined));
    await eventually('the second session projected', async () => (sampleValue(await governorMetrics(), 'paybound_open_sessions') === openSessionsBefore + 1 ? true : undefined));
    const [governorAfter, workerAfter] = await Promise.all([governorMetrics(), workerMetrics()]);
    const moved = (before: Sample[], after: Sample[], name: string, labels: Record<string, string> = {}) => sampleValue(after, name, labels) - sampleValue(before, name, labels);
    const governorMoved = (name: string, labels?: Record<string, string>) => moved(governorBefore, governorAfter, name, labels);
    const workerMoved = (name: string, labels?: Record<string, string>) => moved(workerBefore, workerAfter, name, labels);

    expect({
      opened: governorMoved('paybound_decisions_total', { command: 'OpenSession', outcome: 'applied' }),
      reserved: governorMoved('paybound_decisions_total', { command: 'Reserve', outcome: 'reserved' }),
      refused: governorMoved('paybound_decisions_total', { command: 'Reserve', outcome: 'refused', code: 'session_limit_exceeded' }),
      reported: governorMoved('paybound_decisions_total', { command: 'ReportOutcome', outcome: 'reported' }),
      reserveTimings: governorMoved('paybound_decision_duration_seconds_count', { command: 'Reserve' }),
      reservedAtomic: governorMoved('paybound_reserved_atomic_total', asset),
      fetchesAnswered200: governorMoved('paybound_http_requests_total', { ...fetchRoute, status: '200' }),
      fetchesAnswered403: governorMoved('paybound_http_requests_total', { ...fetchRoute, status: '403' }),
      // The worker's commands are decided by the governor, the org's one writer.
      signed: governorMoved('paybound_decisions_total', { command: 'RecordSignature', outcome: 'signed' }),
      settled: governorMoved('paybound_decisions_total', { command: 'Settle', outcome: 'settled' }),
      settledAtomic: governorMoved('paybound_settled_atomic_total', asset),
      refundedAtomic: governorMoved('paybound_refunded_atomic_total', asset),
    }).toEqual({ opened: 1, reserved: 2, refused: 1, reported: 2, reserveTimings: 3, reservedAtomic: 2 * PRICE_ATOMIC, fetchesAnswered200: 2, fetchesAnswered403: 1, signed: 2, settled: 2, settledAtomic: 2 * PRICE_ATOMIC, refundedAtomic: 0 });
    expect({
      signings: workerMoved('paybound_worker_signing_duration_seconds_count', { outcome: 'signed' }),
      reconciledSettled: workerMoved('paybound_reconciliations_total', { result: 'settled' }),
      decidedInWorker: workerMoved('paybound_decisions_total', { command: 'RecordSignature', outcome: 'signed' }),
    }).toEqual({ signings: 2, reconciledSettled: 2, decidedInWorker: 0 });
    // One writer per org: every commit of these decisions went on the fast path, none met a stream another process had moved.
    expect({
      fast: governorMoved('paybound_decision_commits_total', { path: 'fast' }) > 0,
      locked: governorMoved('paybound_decision_commits_total', { path: 'locked' }),
      staleFences: governorMoved('paybound_decision_stale_fences_total'),
    }).toEqual({ fast: true, locked: 0, staleFences: 0 });
    // Nothing is in the governor's own Kafka metrics: it runs without Kafka here.
    expect(sampleValue(governorAfter, 'paybound_kafka_publish_errors_total')).toBe(0);
    printMetrics(governorAfter, workerAfter);
  });
});

/** The trace as an indented tree, for the log a reader of the test run sees. */
function printTrace(spans: ReceivedSpan[], rootParentId: string): void {
  const lines: string[] = [];
  const walk = (parentId: string, depth: number) => {
    for (const span of spans.filter((s) => s.parentSpanId === parentId)) {
      const command = span.attributes['paybound.command'];
      const outcome = span.attributes['paybound.outcome'];
      lines.push(`${'  '.repeat(depth)}${span.name}${command === undefined ? '' : ` ${String(command)}`}  [${span.service}]${outcome === undefined ? '' : ` outcome=${String(outcome)}`}`);
      walk(span.spanId, depth + 1);
    }
  };
  walk(rootParentId, 0);
  console.log(`[trace] ${spans.length} spans:\n${lines.join('\n')}`);
}

function printMetrics(governor: Sample[], worker: Sample[]): void {
  const show = (samples: Sample[], prefix: string) =>
    samples.filter((s) => s.name.startsWith(prefix) && s.value !== 0).map((s) => `${s.name}{${Object.entries(s.labels).map(([k, v]) => `${k}="${v}"`).join(',')}} ${s.value}`);
  console.log(`[metrics] governor:\n${[...show(governor, 'paybound_decisions_total'), ...show(governor, 'paybound_decision_commits_total')].join('\n')}\n[metrics] worker:\n${show(worker, 'paybound_wallet_balance').join('\n')}`);
}
