import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rpcEnvName } from '../../settlement-worker/config.js';
import { startX402Kit, type X402Kit } from '../../../libs/devnet/index.js';
import { call, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { spawnGovernor, type GovernorProcess } from '../../../test/support/governor-process.js';
import { spawnWorker, workerDecidesVia, type WorkerProcess } from '../../../test/support/worker-process.js';

// The operators' console in a real browser (Debian's chromium, headless, loopback only)
// against a real governor process, a real settlement worker, PostgreSQL, and the official x402
// seller and facilitator on anvil. Every action is taken by clicking the console; every effect
// is checked where the agent or the log sees it, not on the page alone.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = join(repoRoot, 'test-artifacts', 'console');
const ADMIN_TOKEN = 'console-test-admin-token-0123456789';
/** The SSE poll is 250 ms and pages reload 200–300 ms after an event; this is generous. */
const SEE_IT_WITHIN_MS = 10_000;
const SETTLE_WITHIN_MS = 30_000;

let database: TestDatabase;
let kit: X402Kit;
let governor: GovernorProcess;
let worker: WorkerProcess;
let browser: Browser;
let page: Page;
const pageProblems: string[] = [];
const screenshots: string[] = [];

interface Agent {
  orgId: string;
  teamId: string;
  agentId: string;
  key: string;
  sessionId: string;
}

let orgSeq = 0;

/** A fresh org, team and agent with an open session, so tests do not see each other's money. */
async function freshAgent(name: string, limits: { org?: string; session?: string } = {}): Promise<Agent> {
  orgSeq += 1;
  const ids = { orgId: `${name}-org-${orgSeq}`, teamId: `${name}-team-${orgSeq}`, agentId: `${name}-agent-${orgSeq}` };
  const key = await seedAgent(governor.url, ADMIN_TOKEN, ids, { org: limits.org ?? '100.00' });
  const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key, body: { limit: limits.session ?? '1.00', expiresInMinutes: 600 } });
  expect(session.status).toBe(201);
  return { ...ids, key, sessionId: session.body.id };
}

/** A sign-only payment for the seller's real offer: what an agent runtime does on a 402. */
async function requestPayment(agent: Agent) {
  const unpaid = await fetch(kit.seller.dataUrl);
  await unpaid.arrayBuffer();
  const offer = unpaid.headers.get('PAYMENT-REQUIRED');
  expect(offer).not.toBeNull();
  return call<{ id: string; status: string; code?: string; level?: string }>(governor.url, 'POST', `/v1/sessions/${agent.sessionId}/payments`, {
    key: agent.key,
    body: { paymentRequired: offer, url: kit.seller.dataUrl },
  });
}

/** What the agent sees of its payment. */
async function agentView(agent: Agent, paymentId: string) {
  return (await call<{ status: string; reason?: string }>(governor.url, 'GET', `/v1/payments/${paymentId}`, { key: agent.key })).body;
}

async function go(hash: string): Promise<void> {
  // Strings, not functions: this file is compiled without the DOM's types.
  await page.evaluate(`window.location.hash = ${JSON.stringify(hash)}`);
  await expect.poll(() => page.evaluate('window.location.hash')).toBe(hash);
}

async function screenshot(name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  screenshots.push(path);
  console.log(`[console] screenshot ${path}`);
}

/** Clicks the console's own confirmation dialog. */
async function confirm(expectedText: string): Promise<void> {
  await expect.poll(() => page.locator('#confirm').getAttribute('open'), { timeout: SEE_IT_WITHIN_MS }).not.toBeNull();
  expect(await page.textContent('#confirm-text')).toContain(expectedText);
  await page.click('#confirm-ok');
}

function eventRows(type: string) {
  return page.locator(`#events tbody tr[data-type="${type}"]`);
}

beforeAll(async () => {
  [database, kit] = await Promise.all([freshDatabase('console'), startX402Kit()]);
  governor = await spawnGovernor({
    DATABASE_URL: database.url,
    PAYBOUND_ADMIN_TOKEN: ADMIN_TOKEN,
    // Pay-and-fetch waits this long for the worker's signature.
    PAYBOUND_SIGN_WAIT_MS: '15000',
    PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
  });
  worker = await spawnWorker({ ...workerDecidesVia(governor), DATABASE_URL: database.url, PAYBOUND_DEV_PRIVATE_KEY: kit.payer.privateKey, [rpcEnvName(kit.network)]: kit.rpcUrl });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 }, acceptDownloads: true });
  page = await context.newPage();
  // Loopback only: any request that leaves 127.0.0.1 fails the page rather than the network.
  await page.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
  page.on('console', (message) => {
    if (message.type() === 'error') pageProblems.push(message.text());
  });
  page.on('pageerror', (error) => pageProblems.push(error.message));

  await page.goto(`${governor.url}/dashboard`);
  await page.fill('#token', ADMIN_TOKEN);
  await page.click('button[type=submit]');
  await page.waitForSelector('#status.live', { timeout: SEE_IT_WITHIN_MS });
}, 240_000);

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await governor?.stop();
  await kit?.stop();
  await database?.drop();
  if (screenshots.length > 0) console.log(`[console] screenshots:\n${screenshots.join('\n')}`);
});

describe("the operators' console", () => {
  it('serves a built page whose scripts and styles are files of its own, under the strict CSP', async () => {
    const answer = await fetch(`${governor.url}/dashboard`);
    const html = await answer.text();
    expect(answer.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);
    const assets = [...html.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map((m) => m[1]!);
    expect(assets.map((asset) => asset.slice(-4).replace(/^.*\./, ''))).toEqual(expect.arrayContaining(['js', 'css']));
    for (const asset of assets) {
      const file = await fetch(`${governor.url}${asset}`);
      expect(file.status).toBe(200);
      expect(file.headers.get('cache-control')).toContain('immutable');
      await file.arrayBuffer();
    }
    expect((await fetch(`${governor.url}/dashboard/assets/..%2F..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${governor.url}/dashboard/assets/index.html`)).status).toBe(404);
  });

  it('approves and denies held payments from the approvals page, and the agent gets its answer', async () => {
    const agent = await freshAgent('approve');
    const policy = await call(governor.url, 'PUT', `/admin/v1/orgs/${agent.orgId}/policy`, { key: ADMIN_TOKEN, body: { approvalAbove: '0.005', approvalTimeoutSeconds: 600 }, headers: { 'If-Match': '*' } });
    expect(policy.status).toBe(200);
    await go('#/approvals');

    // Held payments arrive on the open page by way of the stream, without a reload.
    const first = await requestPayment(agent);
    expect(first.status).toBe(202);
    expect(first.body.status).toBe('awaiting_approval');
    const second = await requestPayment(agent);
    expect(second.status).toBe(202);
    const firstRow = page.locator(`#approvals tbody tr[data-payment="${first.body.id}"]`);
    const secondRow = page.locator(`#approvals tbody tr[data-payment="${second.body.id}"]`);
    await expect.poll(() => secondRow.count(), { timeout: SEE_IT_WITHIN_MS }).toBe(1);
    const cells = await firstRow.locator('td').allTextContents();
    expect(cells[0]).toBe(agent.agentId);
    expect(cells[2]).toContain('/data');
    expect(cells[3]).toBe('$0.01');
    expect(cells[5]).toMatch(/^\d+m \d\ds$/);
    expect(await page.textContent('#approvals-count')).toBe('2');
    await screenshot('approvals');

    await firstRow.locator('input.reason').fill('known seller, expected call');
    const approvedAtMs = Date.now();
    await firstRow.locator('button.approve').click();
    await expect.poll(async () => (await agentView(agent, first.body.id)).status, { timeout: SEE_IT_WITHIN_MS, interval: 50 }).not.toBe('awaiting_approval');
    console.log(`[console] the agent saw the approval ${Date.now() - approvedAtMs} ms after the click`);
    expect(['reserved', 'signed', 'settled', 'unknown']).toContain((await agentView(agent, first.body.id)).status);
    await expect.poll(() => firstRow.count(), { timeout: SEE_IT_WITHIN_MS }).toBe(0);

    await secondRow.locator('input.reason').fill('not in this month\u2019s plan');
    await secondRow.locator('button.deny').click();
    await expect.poll(async () => agentView(agent, second.body.id), { timeout: SEE_IT_WITHIN_MS, interval: 50 }).toMatchObject({ status: 'rejected', reason: 'approval_denied' });
    await expect.poll(() => secondRow.count(), { timeout: SEE_IT_WITHIN_MS }).toBe(0);
    await expect.poll(() => page.locator('#approvals-count').isHidden(), { timeout: SEE_IT_WITHIN_MS }).toBe(true);

    // The log says who decided: the admin behind the console.
    const audit = await call<{ items: { type: string; actor: string; data: { intentId: string } }[] }>(governor.url, 'GET', `/admin/v1/audit?orgId=${agent.orgId}&type=ApprovalGranted,ApprovalDenied`, { key: ADMIN_TOKEN });
    expect(audit.body.items.map((i) => [i.type, i.data.intentId, i.actor])).toEqual([
      ['ApprovalGranted', first.body.id, 'admin:root'],
      ['ApprovalDenied', second.body.id, 'admin:root'],
    ]);
    await go('#/');
    await expect.poll(() => eventRows('ApprovalDenied').count(), { timeout: SEE_IT_WITHIN_MS }).toBeGreaterThan(0);
  });

  it('edits a policy while another admin does: the conflict shows their change, and saving over it is deliberate', async () => {
    const agent = await freshAgent('conflict');
    const bob = await call<{ apiKey: string }>(governor.url, 'POST', '/admin/v1/admin-keys', { key: ADMIN_TOKEN, body: { name: 'bob', scope: 'org_admin', orgId: agent.orgId } });
    expect(bob.status).toBe(201);

    await go('#/policies');
    await page.selectOption('#policy-level', 'agent');
    await page.fill('#policy-org', agent.orgId);
    await page.fill('#policy-id', agent.agentId);
    await page.selectOption('#policy-mode', 'enforce');
    await page.click('#policy-pick button[type=submit]');
    await expect.poll(() => page.textContent('#policy-version'), { timeout: SEE_IT_WITHIN_MS }).toBe('0');
    const loadedEtag = (await page.textContent('#policy-etag')) ?? '';

    // Bob saves first, with the same ETag the console loaded.
    const bobs = await call(governor.url, 'PUT', `/admin/v1/orgs/${agent.orgId}/agents/${agent.agentId}/policy`, {
      key: bob.body.apiKey,
      body: { maxPerPayment: '0.02', deniedDomains: ['evil.example.com'] },
      headers: { 'If-Match': loadedEtag },
    });
    expect(bobs.status).toBe(200);

    const mine = JSON.parse((await page.inputValue('#policy-text')) || '{}') as Record<string, unknown>;
    await page.fill('#policy-text', JSON.stringify({ ...mine, maxPerPayment: '0.50' }, null, 2));
    await page.click('#policy-save');
    await expect.poll(() => page.locator('#policy-conflict').isVisible(), { timeout: SEE_IT_WITHIN_MS }).toBe(true);
    expect(await page.textContent('#policy-conflict-who')).toContain('admin:bob saved version 1');
    expect(await page.textContent('#policy-conflict-theirs')).toContain('evil.example.com');
    expect(await page.textContent('#policy-conflict-mine')).toContain('"0.50"');
    await screenshot('policy-conflict');

    // Nothing was overwritten by the stale save.
    const afterConflict = await call<{ version: number; policy: { maxPerPayment: string } }>(governor.url, 'GET', `/admin/v1/orgs/${agent.orgId}/agents/${agent.agentId}/policy`, { key: ADMIN_TOKEN });
    expect(afterConflict.body).toMatchObject({ version: 1, policy: { maxPerPayment: '0.02' } });

    await page.click('#policy-overwrite');
    await expect.poll(() => page.textContent('#policy-result'), { timeout: SEE_IT_WITHIN_MS }).toBe('Saved: version 2');
    const saved = await call<{ version: number; policy: { maxPerPayment: string; deniedDomains: string[] } }>(governor.url, 'GET', `/admin/v1/orgs/${agent.orgId}/agents/${agent.agentId}/policy`, { key: ADMIN_TOKEN });
    expect(saved.body).toMatchObject({ version: 2, policy: { maxPerPayment: '0.50', deniedDomains: [] } });
    const audit = await call<{ items: { actor: string; data: { version: number } }[] }>(governor.url, 'GET', `/admin/v1/audit?orgId=${agent.orgId}&type=PolicyChanged`, { key: ADMIN_TOKEN });
    expect(audit.body.items.map((i) => [i.data.version, i.actor])).toEqual([
      [1, 'admin:bob'],
      [2, 'admin:root'],
    ]);
  });

  it('freezes an agent from the kill switch: its next payment is refused agent_frozen and the event appears; unfreezing lets it pay again', async () => {
    const agent = await freshAgent('freeze');
    expect([201, 202]).toContain((await requestPayment(agent)).status);

    await go('#/freeze');
    await page.selectOption('#freeze-level', 'agent');
    await page.fill('#freeze-org', agent.orgId);
    await page.fill('#freeze-id', agent.agentId);
    await page.fill('#freeze-reason', 'runaway loop suspected');
    await page.click('#freeze-submit');
    await confirm(`Freeze agent ${agent.agentId} in org ${agent.orgId}?`);
    const frozenRow = page.locator(`#frozen tbody tr[data-level="agent"][data-level-id="${agent.agentId}"]`);
    await expect.poll(() => frozenRow.count(), { timeout: SEE_IT_WITHIN_MS }).toBe(1);
    expect(await frozenRow.locator('td').allTextContents()).toEqual(['agent', agent.agentId, 'runaway loop suspected', 'admin:root', expect.any(String), 'Unfreeze…']);
    await screenshot('kill-switch');

    const refused = await requestPayment(agent);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: 'agent_frozen', level: 'agent' });

    await go('#/');
    await expect.poll(() => eventRows('Frozen').first().textContent(), { timeout: SEE_IT_WITHIN_MS }).toContain(`agent ${agent.agentId} frozen: runaway loop suspected`);
    await expect.poll(() => eventRows('LimitExceeded').first().textContent(), { timeout: SEE_IT_WITHIN_MS }).toContain('agent_frozen');

    await go('#/freeze');
    await page.fill('#freeze-reason', 'loop fixed');
    await frozenRow.locator('button').click();
    await confirm(`Unfreeze agent ${agent.agentId}`);
    await expect.poll(() => frozenRow.count(), { timeout: SEE_IT_WITHIN_MS }).toBe(0);
    expect([201, 202]).toContain((await requestPayment(agent)).status);
    const audit = await call<{ items: { type: string; actor: string; data: { reason: string } }[] }>(governor.url, 'GET', `/admin/v1/audit?orgId=${agent.orgId}&type=Frozen,Unfrozen`, { key: ADMIN_TOKEN });
    expect(audit.body.items.map((i) => [i.type, i.actor, i.data.reason])).toEqual([
      ['Frozen', 'admin:root', 'runaway loop suspected'],
      ['Unfrozen', 'admin:root', 'loop fixed'],
    ]);
  });

  it('runs a shadow policy that counts would-be refusals while payments pass, then promotes it', async () => {
    const agent = await freshAgent('shadow');
    await go('#/policies');
    await page.selectOption('#policy-level', 'org');
    await page.fill('#policy-org', agent.orgId);
    await page.selectOption('#policy-mode', 'shadow');
    await page.click('#policy-pick button[type=submit]');
    await expect.poll(() => page.textContent('#policy-mode-label'), { timeout: SEE_IT_WITHIN_MS }).toContain('shadow');
    await page.fill('#policy-text', JSON.stringify({ maxPerPayment: '0.005' }));
    await page.click('#policy-save');
    await expect.poll(() => page.textContent('#policy-result'), { timeout: SEE_IT_WITHIN_MS }).toMatch(/^Saved: version \d+$/);

    // The shadow policy decides nothing: both $0.01 payments go ahead.
    for (let n = 0; n < 2; n += 1) expect([201, 202]).toContain((await requestPayment(agent)).status);
    const shadowEvents = await database.pool.query<{ data: { code: string } }>(`SELECT data FROM events WHERE type = 'ShadowRefusal' AND data->>'orgId' = $1`, [agent.orgId]);
    expect(shadowEvents.rows.map((r) => r.data.code)).toEqual(['price_above_max', 'price_above_max']);

    await page.click('#policy-pick button[type=submit]');
    await expect.poll(() => page.textContent('#shadow-summary'), { timeout: SEE_IT_WITHIN_MS }).toMatch(/^Would have refused 2 payments \(\$0\.02\)/);
    expect(await page.locator('#shadow-codes tbody tr').first().locator('td').allTextContents()).toEqual(['price_above_max', '2', '$0.02']);
    await screenshot('shadow-policy');

    await page.click('#policy-promote');
    await confirm('Enforce the shadow policy');
    await expect.poll(() => page.textContent('#policy-mode-label'), { timeout: SEE_IT_WITHIN_MS }).toBe('enforced');
    const refused = await requestPayment(agent);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('price_above_max');
  });

  describe('with payments settled on chain', () => {
    let agent: Agent;
    const settledIds: string[] = [];

    beforeAll(async () => {
      // A budget with alert thresholds, three paid fetches settled by the official facilitator on
      // anvil, and one refusal: the session holds only three payments.
      agent = await freshAgent('spend', { org: '0.05', session: '0.03' });
      expect((await call(governor.url, 'PUT', `/admin/v1/orgs/${agent.orgId}/policy`, { key: ADMIN_TOKEN, body: { budgetAlertPercents: [50, 80] }, headers: { 'If-Match': '*' } })).status).toBe(200);
      for (let n = 0; n < 3; n += 1) {
        const paid = await fetch(`${governor.url}/v1/sessions/${agent.sessionId}/fetch`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${agent.key}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ url: kit.seller.dataUrl }),
        });
        expect(paid.status).toBe(200);
        await paid.arrayBuffer();
        settledIds.push(paid.headers.get('Paybound-Payment-Id') ?? '');
      }
      const refused = await requestPayment(agent);
      expect(refused.status).toBe(403);
      const deadline = Date.now() + SETTLE_WITHIN_MS;
      for (;;) {
        const settled = await database.pool.query(`SELECT 1 FROM events WHERE type = 'Settled' AND data->>'intentId' = ANY($1)`, [settledIds]);
        if (settled.rowCount === settledIds.length) break;
        if (Date.now() > deadline) throw new Error(`only ${settled.rowCount} of ${settledIds.length} payments settled within ${SETTLE_WITHIN_MS} ms`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }, 120_000);

    it('charts spend per hour with the budget and its alert thresholds, and refusals by code, from the real run', async () => {
      await go('#/spend');
      await page.fill('#spend-org', agent.orgId);
      await page.selectOption('#spend-bucket', 'hour');
      await page.selectOption('#spend-range', '1');
      await page.click('#spend-form button[type=submit]');
      await expect.poll(() => page.textContent('#spend-summary'), { timeout: SEE_IT_WITHIN_MS }).toMatch(/^Spent \$0\.03 in 3 payments, 1 refused, over \d+ hours; budget \$0\.05/);
      expect(Number(await page.getAttribute('#spend-chart', 'data-buckets'))).toBeGreaterThan(0);
      await expect.poll(() => page.getAttribute('#refusals-chart', 'data-codes'), { timeout: SEE_IT_WITHIN_MS }).toBe('session_limit_exceeded');
      expect(await page.textContent('#refusals-summary')).toBe('1 refused: session_limit_exceeded 1');
      // Chart.js drew on both canvases: count the pixels it painted.
      const inked = await page.evaluate<number[]>(`['spend-chart', 'refusals-chart'].map((id) => {
        const canvas = document.getElementById(id);
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
        return painted;
      })`);
      expect(inked).toHaveLength(2);
      for (const painted of inked) expect(painted).toBeGreaterThan(1_000);
      await screenshot('spend-charts');

      const spend = await call<{ series: { spent: string }[]; budget: { limit: string }; alertThresholds: number[] }>(
        governor.url,
        'GET',
        `/admin/v1/spend?orgId=${agent.orgId}&bucket=day&from=${new Date(Date.now() - 2 * 86_400_000).toISOString()}&to=${new Date(Date.now() + 86_400_000).toISOString()}`,
        { key: ADMIN_TOKEN },
      );
      expect(spend.body.budget.limit).toBe('0.05');
      expect(spend.body.alertThresholds).toEqual([50, 80]);
    });

    it("shows a settled payment's whole story with its transaction, its receipt and the finance export", async () => {
      const paymentId = settledIds[0]!;
      const settled = await database.pool.query<{ data: { transaction: string } }>(`SELECT data FROM events WHERE type = 'Settled' AND data->>'intentId' = $1`, [paymentId]);
      const transaction = settled.rows[0]!.data.transaction;
      expect(transaction).toMatch(/^0x[0-9a-f]{64}$/);

      await go('#/payments');
      await page.fill('#payments-org', agent.orgId);
      await page.selectOption('#payments-status', 'settled');
      await page.click('#payments-form button[type=submit]');
      const listed = page.locator(`#payments tbody tr[data-payment="${paymentId}"]`);
      await expect.poll(() => listed.count(), { timeout: SEE_IT_WITHIN_MS }).toBe(1);
      await listed.locator('a').click();

      await expect.poll(() => page.textContent('#payment-status'), { timeout: SEE_IT_WITHIN_MS }).toBe('settled');
      expect(await page.textContent('#story-chain dd[data-key="transaction"]')).toBe(transaction);
      expect(await page.textContent('#story-request')).toContain(kit.seller.dataUrl);
      expect(await page.textContent('#story-seller dd[data-key="outcome"]')).toBe('paid');
      const eventTypes = await Promise.all((await page.locator('#payment-events tbody tr').all()).map((r) => r.getAttribute('data-type')));
      expect(eventTypes).toEqual(expect.arrayContaining(['Reserved', 'PaymentSigned', 'Settled']));
      await screenshot('payment-story');

      const [receipt] = await Promise.all([page.waitForEvent('download'), page.click('#payment-receipt')]);
      const receiptJson = JSON.parse(readFileSync(await receipt.path(), 'utf8')) as { receiptVersion: number };
      expect(receiptJson.receiptVersion).toBe(1);
      expect(JSON.stringify(receiptJson)).toContain(transaction);

      await go('#/payments');
      await page.fill('#export-org', agent.orgId);
      await page.selectOption('#export-format', 'csv');
      const [exported] = await Promise.all([page.waitForEvent('download'), page.click('#export-form button[type=submit]')]);
      const csv = readFileSync(await exported.path(), 'utf8');
      for (const id of settledIds) expect(csv).toContain(id);
      expect(csv).toContain(transaction);
    });
  });

  it('kept to its Content-Security-Policy and raised no script error on any page', () => {
    expect(pageProblems.filter((text) => /Content Security Policy|Refused to|Uncaught/i.test(text))).toEqual([]);
  });
});
