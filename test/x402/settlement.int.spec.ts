import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { x402Client } from '@x402/core/client';
import { registerExactEvmScheme } from '@x402/evm/exact/client';
import { wrapFetchWithPayment } from '@x402/fetch';
import { parseAbiItem, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecordedEvent } from '../../libs/eventstore/event-store.js';
import { DataKeys } from '../../libs/platform/data-keys.js';
import { orgStreamId } from '../../libs/ledger/org-command-processor.js';
import { deriveNonce } from '../../libs/x402/eip3009.js';
import { parsePaymentResponse } from '../../libs/x402/headers.js';
import { call, seedAgent, type ApiAnswer } from '../support/api-client.js';
import { freshDatabase, type TestDatabase } from '../support/database.js';
import { spawnGovernor, type GovernorProcess } from '../support/governor-process.js';
import { checkBudgetInvariants } from '../support/invariants.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../support/worker-process.js';
import { startX402Kit, type SellerMode, type X402Kit } from '../../libs/devnet/index.js';
import { rpcEnvName } from '../../apps/settlement-worker/config.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ADMIN = 'test-admin-token-x402';
const ORG_ID = 'org-x402';
const KEYSTORE_PASSWORD = 'paybound-test-keystore-passphrase';
const PRICE_ATOMIC = 10_000n;
const SETTLE_WAIT_MS = 20_000;
const LATENCY_SAMPLES = 10;
const AUTHORIZATION_USED = parseAbiItem('event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce)');

interface PaymentBody {
  id: string;
  status: string;
  amount: string;
  transaction: string | null;
  validBefore: string | null;
  header?: { name: string; value: string } | null;
  code?: string;
  paymentId?: string;
}

describe('x402 payments through Paybound against the official seller and facilitator', () => {
  let kit: X402Kit;
  let db: TestDatabase;
  let governor: GovernorProcess;
  let worker: WorkerProcess;
  let workerEnv: Record<string, string>;
  let keystoreDir: string;
  const workers: WorkerProcess[] = [];
  /** Every API answer the tests saw, for the key-material check at the end. */
  const answers: string[] = [];
  let agentKey: string;

  const api = async <T = PaymentBody>(method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiAnswer<T>> => {
    const answer = await call<T>(governor.url, method, path, { key: agentKey, ...options });
    answers.push(JSON.stringify(answer.body), JSON.stringify([...answer.headers.entries()]));
    return answer;
  };
  const openSession = async (limit: string) => {
    const session = await api<{ id: string }>('POST', '/v1/sessions', { body: { limit } });
    expect(session.status).toBe(201);
    return session.body.id;
  };
  // The org's own stream, read directly: the whole-log reader holds back events while any
  // transaction is in flight, and the worker keeps some in flight.
  const readAllEvents = async (): Promise<RecordedEvent[]> => {
    const events: RecordedEvent[] = [];
    for (let page = 0; page < 1_000; page++) {
      const batch = await db.store.readStream(db.pool, orgStreamId(ORG_ID), events.length, 2_000);
      if (batch.length === 0) break;
      events.push(...batch);
    }
    return events;
  };
  const waitForStatus = async (paymentId: string, statuses: string[], timeoutMs = SETTLE_WAIT_MS): Promise<PaymentBody> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const payment = await api('GET', `/v1/payments/${paymentId}`);
      if (statuses.includes(payment.body.status)) return payment.body;
      if (Date.now() > deadline) throw new Error(`payment ${paymentId} still ${payment.body.status} after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const authorizationUses = async (intentId: string) => {
    const nonce = deriveNonce(kit.payer.address, intentId);
    const logs = await kit.publicClient.getLogs({ address: kit.token, event: AUTHORIZATION_USED, args: { authorizer: kit.payer.address, nonce }, fromBlock: 0n, toBlock: 'latest' });
    return { nonce, logs };
  };
  const signatureRows = async (intentId: string) => (await db.pool.query('SELECT 1 FROM payment_signatures WHERE intent_id = $1', [intentId])).rowCount;
  const withSellerMode = async <T>(mode: SellerMode, work: () => Promise<T>): Promise<T> => {
    kit.seller.setMode(mode);
    try {
      return await work();
    } finally {
      kit.seller.setMode('normal');
    }
  };

  beforeAll(async () => {
    kit = await startX402Kit({ sellerHangMaxMs: 10_000 });
    db = await freshDatabase('x402');
    keystoreDir = await mkdtemp(join(tmpdir(), 'paybound-keystore-'));
    const keystoreFile = join(keystoreDir, 'worker.json');
    // The keystore is written by the CLI the operator would use, importing the kit's funded payer.
    const created = await promisify(execFile)(process.execPath, [resolve(repoRoot, 'dist/apps/settlement-worker/keystore-cli.js'), 'create', keystoreFile], {
      env: { PATH: process.env.PATH ?? '', PAYBOUND_KEYSTORE_PASSWORD: KEYSTORE_PASSWORD, PAYBOUND_IMPORT_PRIVATE_KEY: kit.payer.privateKey },
    });
    answers.push(created.stdout, created.stderr);
    expect(JSON.parse(created.stdout)).toMatchObject({ address: kit.payer.address });

    // The production paths: the keystore's password and the data key in files of the owner's.
    await writeFile(join(keystoreDir, 'password'), `${KEYSTORE_PASSWORD}\n`, { mode: 0o600 });
    await writeFile(join(keystoreDir, 'data-key'), DataKeys.generate('x402'), { mode: 0o600 });
    governor = await spawnGovernor({
      DATABASE_URL: db.url,
      PAYBOUND_DATA_KEY_FILE: join(keystoreDir, 'data-key'),
      PAYBOUND_ADMIN_TOKEN: ADMIN,
      PAYBOUND_SIGN_WAIT_MS: '10000',
      PAYBOUND_FETCH_TIMEOUT_MS: '3000',
      LOG_LEVEL: 'info',
      PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
    });
    workerEnv = {
      ...workerDecidesVia(governor),
      DATABASE_URL: db.url,
      PAYBOUND_KEYSTORE_FILE: keystoreFile,
      PAYBOUND_KEYSTORE_PASSWORD_FILE: join(keystoreDir, 'password'),
      PAYBOUND_DATA_KEY_FILE: join(keystoreDir, 'data-key'),
      [rpcEnvName(kit.network)]: kit.rpcUrl,
    };
    worker = await spawnWorker(workerEnv);
    workers.push(worker);
    agentKey = await seedAgent(governor.url, ADMIN, { orgId: ORG_ID, agentId: 'agent-x402' }, { org: '100.00' });
  });

  afterAll(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await governor?.stop();
    await db?.drop();
    await kit?.stop();
    if (keystoreDir !== undefined) await rm(keystoreDir, { recursive: true, force: true });
  });

  it('pays through pay-and-fetch: the seller body, exact balances, settled with the on-chain transaction', async () => {
    const sessionId = await openSession('1.00');
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const sellerBefore = await kit.balanceOf(kit.seller.payTo);
    const fetched = await api<{ data: string }>('POST', `/v1/sessions/${sessionId}/fetch`, { body: { url: kit.seller.dataUrl } });
    expect(fetched.status).toBe(200);
    expect(fetched.body.data).toBe('paid content');
    const paymentId = fetched.headers.get('paybound-payment-id')!;
    expect(paymentId).toMatch(/^pay_/);
    expect(fetched.headers.get('paybound-amount')).toBe('0.01');
    expect(fetched.headers.get('paybound-remaining')).toBe('0.99');
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect(await kit.balanceOf(kit.seller.payTo)).toBe(sellerBefore + PRICE_ATOMIC);

    const settled = await waitForStatus(paymentId, ['settled']);
    const receipt = await kit.publicClient.getTransactionReceipt({ hash: settled.transaction as Hex });
    expect(receipt.status).toBe('success');
    const events = await readAllEvents();
    const settledEvents = events.filter((e) => e.type === 'Settled' && (e.data as { sessionId: string }).sessionId === sessionId);
    expect(settledEvents.map((e) => (e.data as { transaction: string }).transaction)).toEqual([settled.transaction]);
    const session = await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`);
    const settledMicros = settledEvents.reduce((sum, e) => sum + (e.data as { amountMicros: bigint }).amountMicros, 0n);
    expect(settledMicros).toBe(10_000n);
    expect(session.body).toMatchObject({ spent: '0.01', reserved: '0.00' });
    expect((await authorizationUses(paymentId)).logs).toHaveLength(1);
    expect(await signatureRows(paymentId)).toBe(1);
  });

  it('pays through sign-only, the test playing the runtime with plain fetch', async () => {
    const sessionId = await openSession('1.00');
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const sellerBefore = await kit.balanceOf(kit.seller.payTo);
    const unpaid = await fetch(kit.seller.dataUrl);
    expect(unpaid.status).toBe(402);
    await unpaid.arrayBuffer();
    const signed = await api('POST', `/v1/sessions/${sessionId}/payments`, { body: { paymentRequired: unpaid.headers.get('PAYMENT-REQUIRED'), url: kit.seller.dataUrl } });
    expect(signed.status).toBe(201);
    expect(signed.body).toMatchObject({ status: 'signed', amount: '0.01', header: { name: 'PAYMENT-SIGNATURE' } });
    expect(Date.parse(signed.body.validBefore!)).toBeGreaterThan(Date.now());
    // GET shows the same header while the payment is signed and unreported.
    expect((await api('GET', `/v1/payments/${signed.body.id}`)).body.header).toEqual(signed.body.header);

    const paid = await fetch(kit.seller.dataUrl, { headers: { [signed.body.header!.name]: signed.body.header!.value } });
    expect(paid.status).toBe(200);
    expect(await paid.json()).toMatchObject({ data: 'paid content' });
    const paymentResponse = paid.headers.get('PAYMENT-RESPONSE')!;
    const reported = await api('POST', `/v1/payments/${signed.body.id}/result`, { body: { status: 200, paymentResponse } });
    expect(reported.status).toBe(200);
    expect(['signed', 'settled']).toContain(reported.body.status);

    const settled = await waitForStatus(signed.body.id, ['settled']);
    expect(settled.transaction).toBe(parsePaymentResponse(paymentResponse).transaction);
    expect((await kit.publicClient.getTransactionReceipt({ hash: settled.transaction as Hex })).status).toBe('success');
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect(await kit.balanceOf(kit.seller.payTo)).toBe(sellerBefore + PRICE_ATOMIC);
    expect((await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`)).body).toMatchObject({ spent: '0.01', reserved: '0.00' });
    // The offer Paybound saw while paying is in the catalog; this governor syncs no facilitator.
    const catalog = await api<{ items: { resource: string; price: string; source: string }[] }>('GET', '/v1/catalog');
    expect(catalog.body.items).toEqual([expect.objectContaining({ resource: kit.seller.dataUrl, price: '0.01', source: 'observed' })]);
  });

  it('refuses a payment above the session limit with 403 session_limit_exceeded; nothing reserved or signed', async () => {
    const sessionId = await openSession('0.005');
    const reservedBefore = (await readAllEvents()).filter((e) => e.type === 'Reserved').length;
    const paidRequestsBefore = kit.seller.paidRequestCount();
    const signaturesBefore = (await db.pool.query('SELECT 1 FROM payment_signatures')).rowCount;

    const refused = await api('POST', `/v1/sessions/${sessionId}/fetch`, { body: { url: kit.seller.dataUrl } });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'session_limit_exceeded', limit: '0.005', requested: '0.01' });
    const unpaid = await fetch(kit.seller.dataUrl);
    await unpaid.arrayBuffer();
    const signOnly = await api('POST', `/v1/sessions/${sessionId}/payments`, { body: { paymentRequired: unpaid.headers.get('PAYMENT-REQUIRED'), url: kit.seller.dataUrl } });
    expect(signOnly.status).toBe(403);
    expect(signOnly.body.code).toBe('session_limit_exceeded');
    const tooDear = await api('POST', `/v1/sessions/${await openSession('1.00')}/fetch`, { body: { url: kit.seller.dataUrl, maxPrice: '0.005' } });
    expect(tooDear.status).toBe(403);
    expect(tooDear.body.code).toBe('price_above_max');

    await new Promise((r) => setTimeout(r, 500));
    expect((await readAllEvents()).filter((e) => e.type === 'Reserved')).toHaveLength(reservedBefore);
    expect(kit.seller.paidRequestCount()).toBe(paidRequestsBefore);
    expect((await db.pool.query('SELECT 1 FROM payment_signatures')).rowCount).toBe(signaturesBefore);
    for (const paymentId of [refused.body.paymentId!, signOnly.body.paymentId!]) {
      expect(await kit.authorizationState(kit.payer.address, deriveNonce(kit.payer.address, paymentId))).toBe(false);
    }
  });

  // The kit's fail_502_after_settle answer keeps the Content-Length of the original body, so
  // its body never completes and Paybound answers 504 after reading the 502 status; both are
  // "no usable answer after the header was sent".
  it.each([
    ['fail_502_after_settle', [502, 504]],
    ['hang_after_settle', [504]],
  ] as const)('seller %s after the header was sent: unknown, then settled from the chain, one authorization', async (mode, expectedStatuses) => {
    const sessionId = await openSession('1.00');
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const paidRequestsBefore = kit.seller.paidRequestCount();
    const answer = await withSellerMode(mode, () => api('POST', `/v1/sessions/${sessionId}/fetch`, { body: { url: kit.seller.dataUrl } }));
    expect(expectedStatuses).toContain(answer.status);
    const paymentId = answer.headers.get('paybound-payment-id')!;
    expect(paymentId).toMatch(/^pay_/);
    const settled = await waitForStatus(paymentId, ['settled', 'refunded']);
    expect(settled.status).toBe('settled');
    // Reported as unknown, never as paid, and never released. The reconciler may settle from
    // the chain before the seller's answer times out, in which case the late report of an
    // already settled payment records nothing.
    const intentEvents = (await readAllEvents()).filter((e) => (e.data as { intentId?: string }).intentId === paymentId);
    expect(intentEvents.filter((e) => e.type === 'SettlementReported').map((e) => (e.data as { outcome: string }).outcome)).not.toContain('paid');
    expect(intentEvents.map((e) => e.type)).not.toContain('Refunded');
    expect(intentEvents.filter((e) => e.type === 'Settled')).toHaveLength(1);
    expect((await kit.publicClient.getTransactionReceipt({ hash: settled.transaction as Hex })).status).toBe('success');
    expect((await authorizationUses(paymentId)).logs).toHaveLength(1);
    expect(await signatureRows(paymentId)).toBe(1);
    expect(kit.seller.paidRequestCount()).toBe(paidRequestsBefore + 1);
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    expect((await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`)).body).toMatchObject({ spent: '0.01', reserved: '0.00' });
  });

  it.each(['exit_after_sign', 'exit_after_record'] as const)('worker SIGKILLed (%s) and restarted: one transfer on chain, the budget converges', async (fault) => {
    await worker.stop();
    const faulty = await spawnWorker({ ...workerEnv, PAYBOUND_WORKER_FAULT: fault });
    workers.push(faulty);
    const sessionId = await openSession('1.00');
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const pending = api<{ data: string }>('POST', `/v1/sessions/${sessionId}/fetch`, { body: { url: kit.seller.dataUrl } });
    const ended = await faulty.exited;
    expect(ended.signal).toBe('SIGKILL');
    expect(faulty.output()).toContain('test-only fault injection: killing the worker');

    worker = await spawnWorker(workerEnv);
    workers.push(worker);
    const fetched = await pending;
    expect(fetched.status).toBe(200);
    expect(fetched.body.data).toBe('paid content');
    const paymentId = fetched.headers.get('paybound-payment-id')!;
    const settled = await waitForStatus(paymentId, ['settled', 'refunded']);
    expect(settled.status).toBe('settled');
    expect((await authorizationUses(paymentId)).logs).toHaveLength(1);
    expect(await signatureRows(paymentId)).toBe(1);
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore - PRICE_ATOMIC);
    const signedEvents = (await readAllEvents()).filter((e) => e.type === 'PaymentSigned' && (e.data as { intentId: string }).intentId === paymentId);
    expect(signedEvents).toHaveLength(1);
    const report = checkBudgetInvariants(await readAllEvents());
    expect(report.violations).toEqual([]);
    expect(report.unaccounted).toBe(0);
  });

  it('measures one paid fetch through Paybound against @x402/fetch paying directly', async () => {
    const sessionId = await openSession('5.00');
    const throughPaybound = async () => {
      const started = performance.now();
      const answer = await call(governor.url, 'POST', `/v1/sessions/${sessionId}/fetch`, { key: agentKey, body: { url: kit.seller.dataUrl } });
      const elapsedMs = performance.now() - started;
      expect(answer.status).toBe(200);
      return elapsedMs;
    };
    const client = new x402Client();
    registerExactEvmScheme(client, { signer: privateKeyToAccount(kit.payer.privateKey) });
    client.setSpendControls({ allowedAssets: [{ network: kit.network, asset: kit.token }] });
    const payingFetch = wrapFetchWithPayment(fetch, client);
    const direct = async () => {
      const started = performance.now();
      const answer = await payingFetch(kit.seller.dataUrl, { signal: AbortSignal.timeout(30_000) });
      await answer.arrayBuffer();
      const elapsedMs = performance.now() - started;
      expect(answer.status).toBe(200);
      return elapsedMs;
    };
    const median = (samples: number[]) => {
      const sorted = [...samples].sort((a, b) => a - b);
      return ((sorted[Math.floor((sorted.length - 1) / 2)] ?? 0) + (sorted[Math.ceil((sorted.length - 1) / 2)] ?? 0)) / 2;
    };
    const measure = async (run: () => Promise<number>) => {
      for (let warmUp = 0; warmUp < 2; warmUp++) await run();
      const samples: number[] = [];
      for (let sample = 0; sample < LATENCY_SAMPLES; sample++) samples.push(await run());
      return { medianMs: median(samples), minMs: Math.min(...samples), maxMs: Math.max(...samples) };
    };
    const paybound = await measure(throughPaybound);
    const official = await measure(direct);
    console.log(
      `[x402 latency] paid fetch through Paybound: median ${paybound.medianMs.toFixed(1)} ms (min ${paybound.minMs.toFixed(1)}, max ${paybound.maxMs.toFixed(1)}) over ${LATENCY_SAMPLES}; ` +
        `@x402/fetch paying directly: median ${official.medianMs.toFixed(1)} ms (min ${official.minMs.toFixed(1)}, max ${official.maxMs.toFixed(1)}) over ${LATENCY_SAMPLES}`,
    );
  });

  it('seller 502 before settling: unknown, then released once the chain passed validBefore unused', async () => {
    const sessionId = await openSession('1.00');
    const payerBefore = await kit.balanceOf(kit.payer.address);
    const answer = await withSellerMode('fail_502_before_settle', () => api('POST', `/v1/sessions/${sessionId}/fetch`, { body: { url: kit.seller.dataUrl } }));
    expect(answer.status).toBe(502);
    const paymentId = answer.headers.get('paybound-payment-id')!;
    const unknown = await waitForStatus(paymentId, ['unknown']);
    // Held, not released: the authorization could still execute until validBefore.
    await new Promise((r) => setTimeout(r, 1_000));
    expect((await api('GET', `/v1/payments/${paymentId}`)).body.status).toBe('unknown');
    expect((await api<{ reserved: string }>('GET', `/v1/sessions/${sessionId}`)).body.reserved).toBe('0.01');

    // Move the chain past validBefore instead of sleeping.
    const latest = await kit.publicClient.getBlock({ blockTag: 'latest' });
    const validBeforeSec = Math.floor(Date.parse(unknown.validBefore!) / 1000);
    const jumpSec = Math.max(1, validBeforeSec - Number(latest.timestamp) + 1);
    await kit.publicClient.request({ method: 'evm_increaseTime' as never, params: [jumpSec] as never });
    await kit.publicClient.request({ method: 'evm_mine' as never, params: [] as never });

    const released = await waitForStatus(paymentId, ['refunded', 'settled']);
    expect(released.status).toBe('refunded');
    expect(released.transaction).toBeNull();
    expect(await kit.authorizationState(kit.payer.address, deriveNonce(kit.payer.address, paymentId))).toBe(false);
    expect((await authorizationUses(paymentId)).logs).toHaveLength(0);
    expect(await signatureRows(paymentId)).toBe(1);
    expect(await kit.balanceOf(kit.payer.address)).toBe(payerBefore);
    expect((await api<{ spent: string; reserved: string }>('GET', `/v1/sessions/${sessionId}`)).body).toMatchObject({ spent: '0.00', reserved: '0.00' });
    const refund = (await readAllEvents()).find((e) => e.type === 'Refunded' && (e.data as { intentId: string }).intentId === paymentId);
    expect(refund?.data).toMatchObject({ reason: 'expired_unused' });
  });

  it('keeps key material out of the governor, every log line, every event and every answer', async () => {
    const report = checkBudgetInvariants(await readAllEvents());
    expect(report.violations).toEqual([]);
    expect(report.unaccounted).toBe(0);
    expect(report.held).toBe(0);

    const keyHex = kit.payer.privateKey.slice(2).toLowerCase();
    const secrets = [keyHex, `0x${keyHex}`, keyHex.toUpperCase(), KEYSTORE_PASSWORD];
    // The governor process was started without any key variable, and its live environment shows none.
    const governorEnviron = await readFile(`/proc/${governor.pid}/environ`, 'utf8');
    for (const name of ['PAYBOUND_KEYSTORE_FILE', 'PAYBOUND_KEYSTORE_PASSWORD', 'PAYBOUND_DEV_PRIVATE_KEY', 'PRIVATE_KEY']) expect(governorEnviron).not.toContain(name);
    // Nor does the worker's: its key and password came from files.
    const workerEnviron = await readFile(`/proc/${worker.pid}/environ`, 'utf8');
    expect(workerEnviron).toContain('PAYBOUND_KEYSTORE_PASSWORD_FILE=');
    for (const secret of secrets) expect(workerEnviron.toLowerCase()).not.toContain(secret.toLowerCase());
    // Every stored header is sealed with the data key: a bearer authorization is not left in the clear.
    const headers = await db.pool.query<{ header_key_id: string | null; header_value: string }>('SELECT header_key_id, header_value FROM payment_signatures');
    const readableAsJson = (value: string): boolean => {
      try {
        JSON.parse(Buffer.from(value, 'base64').toString('utf8'));
        return true;
      } catch {
        return false;
      }
    };
    expect(headers.rows.length).toBeGreaterThan(3);
    expect(headers.rows.map((row) => [row.header_key_id, readableAsJson(row.header_value)])).toEqual(headers.rows.map(() => ['x402', false]));

    const events = await readAllEvents();
    const eventText = JSON.stringify(events.map((e) => ({ data: e.data, metadata: e.metadata })), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    const tables = await db.pool.query(`SELECT (SELECT json_agg(s) FROM payment_signatures s)::text AS signatures, (SELECT json_agg(o) FROM payment_offers o)::text AS offers, (SELECT json_agg(p) FROM payments_view p)::text AS payments`);
    const haystacks: Record<string, string> = {
      governorLog: governor.output(),
      workerLogs: workers.map((w) => w.output()).join('\n'),
      events: eventText,
      answers: answers.join('\n'),
      tables: JSON.stringify(tables.rows),
    };
    expect(eventText.length).toBeGreaterThan(1_000);
    expect(haystacks.workerLogs ?? "").toContain('payment signed');
    for (const [where, text] of Object.entries(haystacks)) {
      for (const secret of secrets) expect(text.toLowerCase().includes(secret.toLowerCase()), `${where} contains key material`).toBe(false);
    }
  });
});

