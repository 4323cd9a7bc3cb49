import { createServer, type Server } from 'node:http';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Catalog } from './catalog.js';
import type { KnownAsset } from '../config.js';
import { parsePaymentRequired } from '../../../libs/x402/offer.js';
import { call, paymentRequiredHeader, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { spawnGovernor, type GovernorProcess } from '../../../test/support/governor-process.js';

const ADMIN = 'test-admin-token-catalog';
const USDC_BASE = '0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913';
const USDC_BASE_SEPOLIA = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
const UNKNOWN_TOKEN = '0x1111111111111111111111111111111111111111';
const PAY_TO = '0x2222222222222222222222222222222222222222';
const ASSETS: KnownAsset[] = [
  { network: 'eip155:8453', address: USDC_BASE, decimals: 6, symbol: 'USDC' },
  { network: 'eip155:84532', address: USDC_BASE_SEPOLIA, decimals: 6, symbol: 'USDC' },
];
/** The facilitator serves at most this many items per page, whatever the limit asked for. */
const SERVED_PAGE_MAX = 10;
const VALID_ITEMS = 25;
const BASE_TIME_SEC = 1_750_000_000;

interface Item {
  resource: string;
  type: string;
  x402Version: number;
  accepts: unknown[];
  lastUpdated: number | string;
  description?: string;
  serviceName?: string;
  tags?: string[];
}

function describeItem(i: number): string {
  if (i === 7) return 'Weather forecast for any city, hourly';
  if (i === 12) return 'Stock quotes in real time';
  return `Generic dataset number ${i}`;
}

/** 25 endpoints over three kinds of requirement, half with a unix `lastUpdated`, half ISO. */
function makeItem(i: number, options: { amount?: number; lastUpdatedSec?: number } = {}): Item {
  const kind = i % 3;
  const network = kind === 1 ? 'eip155:84532' : 'eip155:8453';
  const asset = kind === 0 ? USDC_BASE : kind === 1 ? USDC_BASE_SEPOLIA : UNKNOWN_TOKEN;
  const lastUpdatedSec = options.lastUpdatedSec ?? BASE_TIME_SEC + i;
  return {
    resource: `https://api.example.test/r${i}`,
    type: 'http',
    x402Version: 2,
    accepts: [{ scheme: 'exact', network, amount: String(options.amount ?? (i + 1) * 1_000), asset, payTo: PAY_TO, maxTimeoutSeconds: 60, extra: { name: 'USD Coin', version: '2' } }],
    lastUpdated: i % 2 === 0 ? lastUpdatedSec : new Date(lastUpdatedSec * 1000).toISOString(),
    description: describeItem(i),
    ...(i === 12 ? { serviceName: 'Tickers', tags: ['finance', 'markets'] } : {}),
  };
}

describe('discovery catalog', () => {
  let db: TestDatabase;
  let facilitator: Server;
  let facilitatorUrl: string;
  let items: Item[] = [];
  const offsetsAsked: number[] = [];
  let catalog: Catalog;
  const resetItems = () => {
    items = Array.from({ length: VALID_ITEMS }, (_, i) => makeItem(i));
    // One item Paybound cannot read (no requirements): skipped, never stored.
    items.splice(13, 0, { resource: 'https://api.example.test/broken', type: 'http', x402Version: 2, accepts: [], lastUpdated: BASE_TIME_SEC });
  };
  const rowCount = async () => Number((await db.pool.query<{ n: string }>('SELECT count(*) AS n FROM catalog_resources')).rows[0]?.n);

  beforeAll(async () => {
    resetItems();
    facilitator = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (url.pathname !== '/discovery/resources' || url.searchParams.get('type') !== 'http') {
        res.writeHead(404).end();
        return;
      }
      const limit = Math.min(Number(url.searchParams.get('limit') ?? 20), SERVED_PAGE_MAX);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      offsetsAsked.push(offset);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ x402Version: 2, items: items.slice(offset, offset + limit), pagination: { limit, offset, total: items.length } }));
    });
    await new Promise<void>((resolve) => facilitator.listen(0, '127.0.0.1', resolve));
    const address = facilitator.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    facilitatorUrl = `http://127.0.0.1:${address.port}`;
    db = await freshDatabase('catalog');
    catalog = new Catalog(db.pool, { assets: ASSETS }, pino({ level: 'silent' }));
  });

  afterAll(async () => {
    await db?.drop();
    facilitator?.closeAllConnections();
    await new Promise<void>((resolve) => (facilitator === undefined ? resolve() : facilitator.close(() => resolve())));
  });

  it('reads every page, stores each readable endpoint once, and a re-sync writes nothing', async () => {
    offsetsAsked.length = 0;
    const first = await catalog.syncFacilitator(`${facilitatorUrl}/`);
    expect(first).toEqual({ source: facilitatorUrl, pages: 3, items: VALID_ITEMS + 1, changed: VALID_ITEMS, skipped: 1 });
    expect(offsetsAsked).toEqual([0, 10, 20]);
    expect(await rowCount()).toBe(VALID_ITEMS);

    // A unix number and an ISO string both land as the same instant.
    const times = await db.pool.query<{ resource: string; last_updated: Date }>(`SELECT resource, last_updated FROM catalog_resources WHERE resource IN ('https://api.example.test/r0', 'https://api.example.test/r1') ORDER BY resource`);
    expect(times.rows.map((r) => r.last_updated.getTime() / 1000)).toEqual([BASE_TIME_SEC, BASE_TIME_SEC + 1]);
    const syncedBefore = await db.pool.query<{ synced_at: Date }>('SELECT synced_at FROM catalog_resources ORDER BY resource');

    const again = await catalog.syncFacilitator(facilitatorUrl);
    expect(again).toMatchObject({ pages: 3, items: VALID_ITEMS + 1, changed: 0, skipped: 1 });
    expect(await rowCount()).toBe(VALID_ITEMS);
    expect((await db.pool.query<{ synced_at: Date }>('SELECT synced_at FROM catalog_resources ORDER BY resource')).rows).toEqual(syncedBefore.rows);
  });

  it('takes a newer listing and ignores an older one', async () => {
    items[0] = makeItem(0, { amount: 99_000, lastUpdatedSec: BASE_TIME_SEC + 1_000 });
    expect(await catalog.syncFacilitator(facilitatorUrl)).toMatchObject({ changed: 1 });
    items[0] = makeItem(0, { amount: 55_000, lastUpdatedSec: BASE_TIME_SEC - 1_000 });
    expect(await catalog.syncFacilitator(facilitatorUrl)).toMatchObject({ changed: 0 });
    const row = await db.pool.query<{ price_atomic: string; price_usd_micros: string }>(`SELECT price_atomic::text, price_usd_micros::text FROM catalog_resources WHERE resource = 'https://api.example.test/r0'`);
    expect(row.rows[0]).toEqual({ price_atomic: '99000', price_usd_micros: '99000' });
    resetItems();
  });

  it('searches by words, USD price and network', async () => {
    const weather = await catalog.search({ q: 'weather forecasts', limit: 20, offset: 0 });
    expect(weather.items.map((i) => i.resource)).toEqual(['https://api.example.test/r7']);
    expect(weather.items[0]).toMatchObject({ network: 'eip155:84532', price: '0.008', priceAtomic: '8000', payTo: PAY_TO, source: facilitatorUrl });
    expect((await catalog.search({ q: 'finance', limit: 20, offset: 0 })).items.map((i) => i.resource)).toEqual(['https://api.example.test/r12']);
    // Prices 0.001 × (i + 1); r2 is in a token Paybound cannot value, so maxPrice leaves it out.
    const cheap = await catalog.search({ maxPriceUsdMicros: 5_000n, limit: 20, offset: 0 });
    expect(cheap.items.map((i) => i.resource)).toEqual(['r1', 'r3', 'r4'].map((r) => `https://api.example.test/${r}`));
    const sepolia = await catalog.search({ network: 'eip155:84532', limit: 3, offset: 0 });
    expect(sepolia.items.map((i) => i.price)).toEqual(['0.002', '0.005', '0.008']);
    expect(sepolia.hasMore).toBe(true);
  });

  it('remembers a paid fetch under the URL Paybound fetched, not the URL its offer names', async () => {
    const offer = parsePaymentRequired(paymentRequiredHeader({ amount: '2500', asset: USDC_BASE, payTo: PAY_TO, network: 'eip155:8453', url: 'https://elsewhere.example.test/claimed' }));
    await catalog.rememberPaidFetch('https://seller.example.test/paid-report', offer, offer.requirements[0]!);
    const found = await catalog.search({ q: 'paid report', limit: 5, offset: 0 });
    expect(found.items).toEqual([expect.objectContaining({ resource: 'https://seller.example.test/paid-report', price: '0.0025', source: 'observed' })]);
    expect((await catalog.search({ q: 'claimed', limit: 5, offset: 0 })).items).toEqual([]);
  });

  it('never lets a paid fetch override what discovery wrote, even a newer one', async () => {
    // r0 came from the facilitator; a seller answering at that URL with another payee and price changes nothing.
    const before = await db.pool.query('SELECT pay_to, price_atomic::text, source FROM catalog_resources WHERE resource = $1', ['https://api.example.test/r0']);
    const hostile = parsePaymentRequired(paymentRequiredHeader({ amount: '1', asset: USDC_BASE, payTo: '0x000000000000000000000000000000000000dEaD', network: 'eip155:8453', url: 'https://api.example.test/r0' }));
    await catalog.rememberPaidFetch('https://api.example.test/r0', hostile, hostile.requirements[0]!, new Date(Date.now() + 60_000));
    const after = await db.pool.query('SELECT pay_to, price_atomic::text, source FROM catalog_resources WHERE resource = $1', ['https://api.example.test/r0']);
    expect(after.rows).toEqual(before.rows);
    expect(after.rows[0]).toMatchObject({ source: facilitatorUrl });
  });

  it('learns from a settled payment only when it was a paid fetch, under its fetched URL', async () => {
    const offer = parsePaymentRequired(paymentRequiredHeader({ amount: '3000', asset: USDC_BASE, payTo: PAY_TO, network: 'eip155:8453', url: 'https://seller.example.test/claimed-by-offer' }));
    const row = (intentId: string, fetchedUrl: string | null) =>
      db.pool.query('INSERT INTO payment_offers (intent_id, x402_version, requirement_raw, resource_raw, fetched_url) VALUES ($1, 2, $2, $3, $4)', [
        intentId,
        JSON.stringify(offer.requirements[0]!.raw),
        JSON.stringify(offer.resourceRaw),
        fetchedUrl,
      ]);
    await row('pay_signed_only', null);
    await row('pay_fetched', 'https://seller.example.test/settled-fetch');
    await catalog.observeSettledFetch('pay_signed_only');
    await catalog.observeSettledFetch('pay_fetched');
    await catalog.observeSettledFetch('pay_unknown');
    await catalog.flushObserved();
    const rows = await db.pool.query<{ resource: string }>(`SELECT resource FROM catalog_resources WHERE resource LIKE 'https://seller.example.test/%' AND price_atomic = 3000`);
    expect(rows.rows.map((r) => r.resource)).toEqual(['https://seller.example.test/settled-fetch']);
  });

  it('writes the paid fetches behind the payments: the latest per resource, many in one write', async () => {
    const offerOf = (amount: number) =>
      parsePaymentRequired(paymentRequiredHeader({ amount: String(amount), asset: USDC_BASE, payTo: PAY_TO, network: 'eip155:8453', url: 'https://seller.example.test/any' }));
    const upsert = vi.spyOn(catalog, 'upsert');
    try {
      for (let i = 1; i <= 50; i += 1) {
        const offer = offerOf(1_000 + i);
        catalog.observePaidFetch('https://seller.example.test/hot-endpoint', offer, offer.requirements[0]!);
      }
      const other = offerOf(7_000);
      catalog.observePaidFetch('https://seller.example.test/other-endpoint', other, other.requirements[0]!);
      // Nothing is written while the payments go on; then one write of the latest of each.
      expect(upsert).not.toHaveBeenCalled();
      await vi.waitFor(() => expect(upsert).toHaveBeenCalledTimes(1), { timeout: 5_000, interval: 20 });
      expect(upsert.mock.calls[0]?.[0].map((e) => [e.resource, e.priceAtomic])).toEqual([
        ['https://seller.example.test/hot-endpoint', 1_050n],
        ['https://seller.example.test/other-endpoint', 7_000n],
      ]);
      await catalog.flushObserved();
      const found = await catalog.search({ q: 'endpoint', limit: 5, offset: 0 });
      expect(found.items.map((i) => [i.resource, i.price])).toEqual(
        expect.arrayContaining([
          ['https://seller.example.test/hot-endpoint', '0.00105'],
          ['https://seller.example.test/other-endpoint', '0.007'],
        ]),
      );
    } finally {
      upsert.mockRestore();
    }
  });

  it('syncs on a schedule in the governor and answers GET /v1/catalog with agent auth', async () => {
    const governorDb = await freshDatabase('catalog_gov');
    let governor: GovernorProcess | undefined;
    try {
      offsetsAsked.length = 0;
      governor = await spawnGovernor({ DATABASE_URL: governorDb.url, PAYBOUND_ADMIN_TOKEN: ADMIN, PAYBOUND_DISCOVERY_URLS: ` ${facilitatorUrl} `, PAYBOUND_DISCOVERY_INTERVAL_MS: '300' });
      const key = await seedAgent(governor.url, ADMIN, { orgId: 'org-catalog', agentId: 'agent-catalog' }, { org: '10.00' });
      // Two complete rounds: the interval drives the sync, not a single start-up call.
      const deadline = Date.now() + 15_000;
      while (offsetsAsked.filter((o) => o === 0).length < 2 || offsetsAsked.at(-1) !== 20) {
        if (Date.now() > deadline) throw new Error(`no second sync round: ${JSON.stringify(offsetsAsked)}\n${governor.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const rows = await governorDb.pool.query<{ n: string }>('SELECT count(*) AS n FROM catalog_resources');
      expect(Number(rows.rows[0]?.n)).toBe(VALID_ITEMS);

      const all = await call<{ items: Array<{ resource: string; price: string | null }>; hasMore: boolean }>(governor.url, 'GET', '/v1/catalog?limit=100', { key });
      expect(all.status).toBe(200);
      expect(all.body.items).toHaveLength(VALID_ITEMS);
      expect(all.body.hasMore).toBe(false);
      const query = await call<{ items: Array<{ resource: string; price: string }> }>(governor.url, 'GET', '/v1/catalog?q=weather&maxPrice=0.01&network=eip155:84532', { key });
      expect(query.body.items.map((i) => [i.resource, i.price])).toEqual([['https://api.example.test/r7', '0.008']]);
      expect((await call(governor.url, 'GET', '/v1/catalog?q=weather&maxPrice=0.005', { key })).body).toEqual({ items: [], hasMore: false });

      const bad = await call(governor.url, 'GET', '/v1/catalog?maxPrice=cheap', { key });
      expect(bad.status).toBe(400);
      expect(bad.body).toMatchObject({ code: 'invalid_request', field: 'maxPrice' });
      expect((await call(governor.url, 'GET', '/v1/catalog?network=base', { key })).body).toMatchObject({ code: 'invalid_request', field: 'network' });
      expect((await call(governor.url, 'GET', '/v1/catalog')).status).toBe(401);
    } finally {
      await governor?.stop();
      await governorDb.drop();
    }
  });
});
