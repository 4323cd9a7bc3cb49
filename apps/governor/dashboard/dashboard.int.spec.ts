import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';
import { call } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { startX402Kit, type X402Kit } from '../../../libs/devnet/index.js';

// The FinOps dashboard in a real browser: Debian's chromium driven by playwright-core,
// headless and on loopback only. A payment made through the API must show up on the page
// by way of the SSE stream, without a reload.

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(repoRoot, 'test-artifacts', 'dashboard.png');
const ADMIN_TOKEN = 'dashboard-test-admin-token-0123456789';
/** The SSE poll is 250 ms and balances refresh 300 ms after an event; this is generous. */
const SEE_IT_WITHIN_MS = 10_000;

let database: TestDatabase;
let kit: X402Kit;
let governor: RunningGovernor;
let browser: Browser;
let page: Page;
let agentKey = '';
let sessionId = '';

beforeAll(async () => {
  [database, kit] = await Promise.all([freshDatabase('dashboard'), startX402Kit()]);
  const config = loadGovernorConfig({
    DATABASE_URL: database.url,
    HOST: '127.0.0.1',
    PORT: '0',
    PAYBOUND_ADMIN_TOKEN: ADMIN_TOKEN,
    PAYBOUND_SIGN_WAIT_MS: '0',
    PAYBOUND_ASSETS: JSON.stringify([{ network: kit.network, address: kit.token, decimals: 6, symbol: 'TUSD' }]),
  });
  governor = await createGovernor(config, pino({ level: 'silent' }));
  const admin = { key: ADMIN_TOKEN };
  expect((await call(governor.url, 'POST', '/admin/v1/orgs', { ...admin, body: { id: 'acme', name: 'Acme', limit: '100.00' } })).status).toBe(201);
  const agent = await call<{ apiKey: string }>(governor.url, 'POST', '/admin/v1/orgs/acme/agents', { ...admin, body: { id: 'researcher', name: 'researcher', limit: '5.00' } });
  agentKey = agent.body.apiKey;
  const session = await call<{ id: string }>(governor.url, 'POST', '/v1/sessions', { key: agentKey, body: { limit: '0.02' } });
  sessionId = session.body.id;
  // The settlement worker's latest on-chain reading of its wallet, as it would store it: $0.05.
  await database.pool.query(
    `INSERT INTO wallet_balances (network, asset, address, balance_atomic, native_balance_wei, floor_atomic, block_number, observed_at)
     VALUES ($1, $2, $3, 50000, 1000000000000000000, 25000, 1, now())`,
    [kit.network, kit.token.toLowerCase(), kit.payer.address.toLowerCase()],
  );

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
  // Loopback only: any request that leaves 127.0.0.1 fails the page rather than the network.
  await page.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await governor?.close();
  await kit?.stop();
  await database?.drop();
});

/** One payment through the sign-only API, with the seller's real 402 offer. */
async function requestPayment(): Promise<{ status: number; body: Record<string, unknown> }> {
  const unpaid = await fetch(kit.seller.dataUrl);
  await unpaid.arrayBuffer();
  const offer = unpaid.headers.get('PAYMENT-REQUIRED');
  expect(offer).not.toBeNull();
  return call(governor.url, 'POST', `/v1/sessions/${sessionId}/payments`, { key: agentKey, body: { paymentRequired: offer, url: kit.seller.dataUrl } });
}

describe('the FinOps dashboard', () => {
  it('refuses a wrong admin token and says which one to use', async () => {
    await page.goto(`${governor.url}/dashboard`);
    await page.fill('#token', 'not-the-token');
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('#login-error'), { timeout: SEE_IT_WITHIN_MS }).toContain('.paybound/admin-token');
  });

  it('shows a payment made through the API as it happens, live from the stream', async () => {
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('button[type=submit]');
    await expect.poll(() => page.textContent('#status'), { timeout: SEE_IT_WITHIN_MS }).toBe('live');
    // The backlog arrives just after the stream opens.
    await expect.poll(() => page.locator('#events tbody tr[data-type="SessionOpened"]').count(), { timeout: SEE_IT_WITHIN_MS }).toBe(1);
    expect(await page.locator('#events tbody tr[data-type="Reserved"]').count()).toBe(0);

    for (let n = 0; n < 2; n += 1) expect([201, 202]).toContain((await requestPayment()).status);
    const refused = await requestPayment();
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe('session_limit_exceeded');

    const reserved = page.locator('#events tbody tr[data-type="Reserved"]');
    await expect.poll(() => reserved.count(), { timeout: SEE_IT_WITHIN_MS }).toBe(2);
    await expect.poll(() => page.locator('#events tbody tr[data-type="LimitExceeded"]').count(), { timeout: SEE_IT_WITHIN_MS }).toBe(1);
    expect(await reserved.first().textContent()).toContain('$0.01 held for GET 127.0.0.1');
    expect(await page.locator('#events tbody tr[data-type="LimitExceeded"]').textContent()).toContain('session_limit_exceeded');

    // The balances follow the events: the session's two cents are held, nothing is left.
    const sessionRow = page.locator(`#sessions tbody tr[data-session="${sessionId}"]`);
    // Cells: session, agent, limit, held, spent, remaining.
    await expect.poll(() => sessionRow.locator('td').nth(3).textContent(), { timeout: SEE_IT_WITHIN_MS }).toBe('$0.02');
    expect(await sessionRow.locator('td').nth(5).textContent()).toBe('$0.00');
    expect(await page.locator('#agents tbody').textContent()).toContain('researcher');
    await expect.poll(() => page.locator('#endpoints tbody').textContent(), { timeout: SEE_IT_WITHIN_MS }).toContain('/data');

    // The wallet's $0.05 less the two cents held leaves three payments of the typical $0.01.
    const walletRow = page.locator('#wallets tbody tr').first();
    await expect.poll(() => walletRow.locator('td').nth(5).textContent(), { timeout: SEE_IT_WITHIN_MS }).toBe('$0.03');
    expect(await walletRow.locator('td').allTextContents()).toEqual([expect.any(String), kit.network, 'TUSD', '$0.05', '$0.02', '$0.03', '$0.025', '$0.01', '3', 'ok']);

    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });
});
