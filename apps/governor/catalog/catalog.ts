import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';
import { formatUsdMicros, stablecoinAtomicToUsdMicros } from '../../../libs/domain/money.js';
import { parseMcpDiscoveryItem } from '../../../libs/mcp-pay/discovery.js';
import { parsePaymentRequired, type PaymentOffer, type PaymentRequirement } from '../../../libs/x402/offer.js';
import { DEFAULT_ASSETS, type GovernorConfig, type KnownAsset } from '../config.js';
import { GOVERNOR_CONFIG, LOGGER } from '../http/tokens.js';

// The catalog of paid endpoints: one row per resource URL, kept from two sources, the
// facilitators' x402 discovery lists and the offers of paid fetches. Every org reads it, so
// no agent may write into it: a paid fetch adds an observation only when Paybound itself
// fetched the offer (never an offer an agent handed to sign-only), only under the URL it
// fetched (never the URL the offer claims), only once the payment settled, and never over
// a row that discovery wrote. Writes are idempotent upserts that only ever move a row
// forward in `lastUpdated` and touch nothing when nothing changed, so a re-sync of the same
// list writes no row.

/** The source name of rows learnt from a paid fetch that settled. */
export const OBSERVED_SOURCE = 'observed';
export const DISCOVERY_PAGE_SIZE = 100;
/** 100 pages of 100: a facilitator listing more is read up to there and logged. */
export const DISCOVERY_PAGES_MAX = 100;
const DISCOVERY_PAGE_TIMEOUT_MS = 10_000;
const DISCOVERY_PAGE_BYTES_MAX = 4 * 1024 * 1024;
const RESOURCE_CHARS_MAX = 2_048;
const DESCRIPTION_CHARS_MAX = 2_048;
const SERVICE_NAME_CHARS_MAX = 256;
const TAGS_MAX = 20;
const TAG_CHARS_MAX = 64;
/** Above a trillion dollars a price is not worth valuing; it is kept, without a USD figure. */
const PRICE_USD_MICROS_MAX = 10n ** 18n;
export const SEARCH_LIMIT_MAX = 100;
/**
 * Offers seen while paying wait this long, the latest per resource, before one transaction
 * writes them all: upserting on each payment gave every request a row lock and a commit of
 * its own, and every payment to the same endpoint queued on that row (docs/benchmarks.md).
 */
const OBSERVED_FLUSH_DELAY_MS = 100;
/** Resources waiting to be written at most; offers of further resources are dropped until the next write. */
const OBSERVED_PENDING_MAX = 10_000;

/** What the catalog knows of one paid endpoint, ready to be stored. */
export interface CatalogEntry {
  resource: string;
  description: string;
  serviceName: string | null;
  tags: string[];
  x402Version: 1 | 2;
  scheme: string;
  network: string;
  asset: string;
  payTo: string;
  priceAtomic: bigint;
  priceUsdMicros: bigint | null;
  source: string;
  lastUpdated: Date;
}

export interface CatalogItemView {
  resource: string;
  description: string;
  serviceName: string | null;
  tags: string[];
  network: string;
  scheme: string;
  asset: string;
  payTo: string;
  /** USD decimal string, or null when the asset is not one Paybound can value. */
  price: string | null;
  priceAtomic: string;
  x402Version: number;
  source: string;
  lastUpdated: string;
}

export interface CatalogPrice {
  /** USD decimal string, or null when the asset is not one Paybound can value. */
  price: string | null;
  priceAtomic: string;
  network: string;
}

export interface CatalogQuery {
  q?: string;
  maxPriceUsdMicros?: bigint;
  network?: string;
  limit: number;
  offset: number;
}

export interface SyncReport {
  source: string;
  pages: number;
  /** Items the facilitator listed. */
  items: number;
  /** Rows inserted or changed; 0 on a re-sync of an unchanged list. */
  changed: number;
  /** Items that were not `http`, or whose offer Paybound could not read. */
  skipped: number;
}

const discoveryItemSchema = z.looseObject({
  resource: z
    .string()
    .max(RESOURCE_CHARS_MAX)
    .refine((u) => /^https?:\/\/[^\s]+$/.test(u), 'must be an http(s) URL'),
  type: z.string().max(32).optional(),
  x402Version: z.union([z.literal(1), z.literal(2)]),
  accepts: z.array(z.unknown()).min(1).max(16),
  // The spec writes a unix time in seconds, the official SDK an ISO string.
  lastUpdated: z.union([z.number().finite().nonnegative(), z.string().max(64)]),
  description: z.string().optional(),
  serviceName: z.string().optional(),
  tags: z.array(z.string()).optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
});

const discoveryPageSchema = z.looseObject({
  items: z.array(z.unknown()).max(1_000),
  pagination: z
    .looseObject({ limit: z.number().optional(), offset: z.number().optional(), total: z.number().int().nonnegative().optional() })
    .optional(),
});

@Injectable()
export class Catalog implements OnApplicationShutdown {
  /** Offers seen while paying and not yet written, by resource. */
  private readonly observed = new Map<string, CatalogEntry>();
  private observedDroppedCount = 0;
  private flushTimer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;

  constructor(
    @Inject(pg.Pool) private readonly pool: pg.Pool,
    @Inject(GOVERNOR_CONFIG) private readonly config: Pick<GovernorConfig, 'assets'>,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * Learns from a pay-and-fetch that settled: the offer Paybound fetched from `fetchedUrl`
   * and paid (`payment_offers`). Called once the payment is Settled; an intent that was not a
   * paid fetch adds nothing. It never throws.
   */
  async observeSettledFetch(intentId: string, now: Date = new Date()): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ x402_version: number; requirement_raw: Record<string, unknown>; resource_raw: Record<string, unknown> | null; fetched_url: string }>(
        'SELECT x402_version, requirement_raw, resource_raw, fetched_url FROM payment_offers WHERE intent_id = $1 AND fetched_url IS NOT NULL',
        [intentId],
      );
      const row = rows[0];
      if (row === undefined) return;
      const document =
        row.x402_version === 2
          ? { x402Version: 2, resource: row.resource_raw ?? { url: row.fetched_url }, accepts: [row.requirement_raw] }
          : { x402Version: 1, accepts: [row.requirement_raw] };
      const offer = parsePaymentRequired({ body: document });
      this.observePaidFetch(row.fetched_url, offer, offer.requirements[0]!, now);
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message }, intentId }, 'catalog: could not learn from a settled paid fetch');
    }
  }

  /**
   * Records what a paid fetch of `fetchedUrl` costs, off the payment's path: it is written
   * with the others seen within OBSERVED_FLUSH_DELAY_MS, and only the latest of each
   * resource. It never throws, and the payment never waits for it.
   */
  observePaidFetch(fetchedUrl: string, offer: PaymentOffer, requirement: PaymentRequirement, now: Date = new Date()): void {
    try {
      const resource = fetchedUrl;
      if (resource.length > RESOURCE_CHARS_MAX) return;
      if (!this.observed.has(resource) && this.observed.size >= OBSERVED_PENDING_MAX) {
        this.observedDroppedCount += 1;
        return;
      }
      const entry = this.entryFrom(offer, { resource, description: offer.resource?.description, source: OBSERVED_SOURCE, lastUpdated: now }, requirement);
      if (entry === undefined) return;
      this.observed.set(resource, entry);
      this.scheduleObservedWrite();
    } catch (error) {
      this.logger.warn({ err: { message: (error as Error).message } }, 'catalog: could not remember an offer');
    }
  }

  /** Writes the offers observed so far (after any write in progress); logs rather than throws. */
  async flushObserved(): Promise<void> {
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    await this.flushing;
    if (this.observed.size === 0) return;
    const entries = [...this.observed.values()];
    this.observed.clear();
    const droppedCount = this.observedDroppedCount;
    this.observedDroppedCount = 0;
    if (droppedCount > 0) this.logger.warn({ droppedCount, pendingMax: OBSERVED_PENDING_MAX }, 'catalog: offers of more resources than it holds were seen while paying; those were not recorded');
    this.flushing = this.upsert(entries)
      .then(
        () => undefined,
        (error: unknown) => this.logger.warn({ err: { message: (error as Error).message }, resources: entries.length }, 'catalog: could not record the offers seen while paying'),
      )
      .finally(() => {
        this.flushing = undefined;
        if (this.observed.size > 0) this.scheduleObservedWrite();
      });
    await this.flushing;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.flushObserved();
  }

  private scheduleObservedWrite(): void {
    if (this.flushTimer !== undefined || this.flushing !== undefined) return;
    this.flushTimer = setTimeout(() => void this.flushObserved(), OBSERVED_FLUSH_DELAY_MS);
  }

  /** Records a paid fetch at once, with any others observed; it never throws. */
  async rememberPaidFetch(fetchedUrl: string, offer: PaymentOffer, requirement: PaymentRequirement, now: Date = new Date()): Promise<void> {
    this.observePaidFetch(fetchedUrl, offer, requirement, now);
    await this.flushObserved();
  }

  /**
   * Reads a facilitator's discovery list page by page and upserts every page in one
   * transaction. The offset advances by what the facilitator returned, so a facilitator
   * that serves smaller pages than asked for is read completely all the same.
   */
  async syncFacilitator(baseUrl: string, now: Date = new Date()): Promise<SyncReport> {
    const source = baseUrl.replace(/\/+$/, '');
    const report: SyncReport = { source, pages: 0, items: 0, changed: 0, skipped: 0 };
    let offset = 0;
    while (report.pages < DISCOVERY_PAGES_MAX) {
      const page = await fetchDiscoveryPage(source, offset, DISCOVERY_PAGE_SIZE);
      report.pages += 1;
      if (page.items.length === 0) break;
      report.items += page.items.length;
      const entries: CatalogEntry[] = [];
      for (const raw of page.items) {
        const entry = this.entryFromDiscovery(raw, source, now);
        if (entry === undefined) report.skipped += 1;
        else entries.push(entry);
      }
      report.changed += await this.upsert(entries);
      offset += page.items.length;
      if (page.total !== undefined && offset >= page.total) break;
    }
    if (report.pages === DISCOVERY_PAGES_MAX) this.logger.warn({ source, pages: report.pages }, 'catalog: discovery list longer than the page bound; the rest is not read');
    return report;
  }

  /**
   * Reads a facilitator's list of paid MCP tools (`type=mcp`, the bazaar's MCP declaration)
   * into rows keyed by `<server url>#<tool>`, tagged `mcp`, searchable and priced like
   * endpoints. Items that are not MCP tools, or that cannot be vouched for, are skipped.
   */
  async syncMcpTools(baseUrl: string, now: Date = new Date()): Promise<SyncReport> {
    const source = baseUrl.replace(/\/+$/, '');
    const report: SyncReport = { source, pages: 0, items: 0, changed: 0, skipped: 0 };
    let offset = 0;
    while (report.pages < DISCOVERY_PAGES_MAX) {
      const page = await fetchDiscoveryPage(source, offset, DISCOVERY_PAGE_SIZE, 'mcp');
      report.pages += 1;
      if (page.items.length === 0) break;
      report.items += page.items.length;
      const entries: CatalogEntry[] = [];
      for (const raw of page.items) {
        const reading = parseMcpDiscoveryItem(raw);
        const lastUpdated = reading.ok ? lastUpdatedOf(reading.entry.lastUpdated ?? now.toISOString(), now) : undefined;
        const entry = reading.ok && lastUpdated !== undefined ? this.entryFrom(reading.entry.offer, { resource: reading.entry.resource, description: reading.entry.description, source, lastUpdated }) : undefined;
        if (!reading.ok || entry === undefined) report.skipped += 1;
        else entries.push({ ...entry, tags: ['mcp', reading.entry.toolName.slice(0, TAG_CHARS_MAX)], serviceName: `MCP tool ${reading.entry.toolName}`.slice(0, SERVICE_NAME_CHARS_MAX) });
      }
      report.changed += await this.upsert(entries);
      offset += page.items.length;
      if (page.total !== undefined && offset >= page.total) break;
    }
    return report;
  }

  async search(query: CatalogQuery): Promise<{ items: CatalogItemView[]; hasMore: boolean }> {
    const limit = Math.min(Math.max(query.limit, 1), SEARCH_LIMIT_MAX);
    const { rows } = await this.pool.query<CatalogRow>(
      `SELECT resource, description, service_name, tags, x402_version, scheme, network, asset, pay_to,
              price_atomic::text AS price_atomic, price_usd_micros::text AS price_usd_micros, source, last_updated,
              CASE WHEN $1::text IS NULL THEN 0 ELSE ts_rank(search, websearch_to_tsquery('english', $1::text)) END AS rank
         FROM catalog_resources
        WHERE ($1::text IS NULL OR search @@ websearch_to_tsquery('english', $1::text))
          AND ($2::bigint IS NULL OR price_usd_micros <= $2::bigint)
          AND ($3::text IS NULL OR network = $3::text)
        -- Qualified: the bare name would sort the text column of the same name above.
        ORDER BY rank DESC, catalog_resources.price_usd_micros ASC NULLS LAST, resource
        LIMIT $4 OFFSET $5`,
      [query.q ?? null, query.maxPriceUsdMicros?.toString() ?? null, query.network ?? null, limit + 1, query.offset],
    );
    return { items: rows.slice(0, limit).map(viewOf), hasMore: rows.length > limit };
  }

  /** The prices of these resources that the catalog knows (an MCP gateway's tools), by resource. */
  async pricesOf(resources: readonly string[]): Promise<Map<string, CatalogPrice>> {
    const prices = new Map<string, CatalogPrice>();
    if (resources.length === 0) return prices;
    const { rows } = await this.pool.query<{ resource: string; price_atomic: string; price_usd_micros: string | null; network: string }>(
      'SELECT resource, price_atomic::text AS price_atomic, price_usd_micros::text AS price_usd_micros, network FROM catalog_resources WHERE resource = ANY($1::text[])',
      [resources.slice(0, SEARCH_LIMIT_MAX * 10)],
    );
    for (const row of rows) {
      prices.set(row.resource, { price: row.price_usd_micros === null ? null : formatUsdMicros(BigInt(row.price_usd_micros)), priceAtomic: row.price_atomic, network: row.network });
    }
    return prices;
  }

  /** Inserts or moves rows forward; answers how many rows were written. */
  async upsert(entries: readonly CatalogEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const client = await this.pool.connect();
    let changed = 0;
    try {
      await client.query('BEGIN');
      for (const e of entries) {
        const result = await client.query(UPSERT_SQL, [
          e.resource,
          e.description,
          e.serviceName,
          e.tags,
          e.x402Version,
          e.scheme,
          e.network,
          e.asset,
          e.payTo,
          e.priceAtomic.toString(),
          e.priceUsdMicros?.toString() ?? null,
          e.source,
          e.lastUpdated.toISOString(),
          [e.serviceName ?? '', ...e.tags].join(' '),
          urlWords(e.resource),
        ]);
        changed += result.rowCount ?? 0;
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
    return changed;
  }

  private entryFromDiscovery(raw: unknown, source: string, now: Date): CatalogEntry | undefined {
    const parsed = discoveryItemSchema.safeParse(raw);
    if (!parsed.success) return undefined;
    const item = parsed.data;
    if (item.type !== undefined && item.type !== 'http') return undefined;
    const lastUpdated = lastUpdatedOf(item.lastUpdated, now);
    if (lastUpdated === undefined) return undefined;
    let offer: PaymentOffer;
    try {
      offer = parsePaymentRequired({ body: { x402Version: item.x402Version, resource: { url: item.resource }, accepts: item.accepts } });
    } catch {
      return undefined;
    }
    const metadataDescription = typeof item.metadata?.['description'] === 'string' ? item.metadata['description'] : undefined;
    const entry = this.entryFrom(offer, { resource: item.resource, description: item.description ?? metadataDescription ?? offer.resource?.description, source, lastUpdated });
    if (entry === undefined) return undefined;
    const tags = (item.tags ?? []).filter((t) => t.length > 0 && t.length <= TAG_CHARS_MAX).slice(0, TAGS_MAX);
    const serviceName = item.serviceName?.slice(0, SERVICE_NAME_CHARS_MAX) ?? null;
    return { ...entry, tags, serviceName: serviceName === '' ? null : serviceName };
  }

  private entryFrom(
    offer: PaymentOffer,
    about: { resource: string; description: string | undefined; source: string; lastUpdated: Date },
    chosen?: PaymentRequirement,
  ): CatalogEntry | undefined {
    const priced = chosen === undefined ? this.cheapest(offer.requirements) : { requirement: chosen, usdMicros: this.usdMicros(chosen) };
    if (priced === undefined) return undefined;
    const { requirement, usdMicros } = priced;
    return {
      resource: about.resource,
      description: (about.description ?? '').slice(0, DESCRIPTION_CHARS_MAX),
      serviceName: null,
      tags: [],
      x402Version: offer.x402Version,
      scheme: requirement.scheme,
      network: requirement.network,
      asset: requirement.asset,
      payTo: requirement.payTo,
      priceAtomic: requirement.amountAtomic,
      priceUsdMicros: usdMicros,
      source: about.source,
      lastUpdated: about.lastUpdated,
    };
  }

  /** The requirement an agent would pay here: the cheapest Paybound can value, else the first. */
  private cheapest(requirements: readonly PaymentRequirement[]): { requirement: PaymentRequirement; usdMicros: bigint | null } | undefined {
    let best: { requirement: PaymentRequirement; usdMicros: bigint | null } | undefined;
    for (const requirement of requirements) {
      const usdMicros = this.usdMicros(requirement);
      if (best === undefined || (usdMicros !== null && (best.usdMicros === null || usdMicros < best.usdMicros))) best = { requirement, usdMicros };
    }
    return best;
  }

  /**
   * The price in USD, for any stablecoin Paybound knows: the configured ones and the built-in
   * USDC, whether or not this deployment can pay on its network, since a price is a fact of
   * the endpoint.
   */
  private usdMicros(requirement: PaymentRequirement): bigint | null {
    const asset: KnownAsset | undefined = [...this.config.assets, ...DEFAULT_ASSETS].find((a) => a.network === requirement.network && a.address.toLowerCase() === requirement.asset.toLowerCase());
    if (asset === undefined) return null;
    const micros = stablecoinAtomicToUsdMicros(requirement.amountAtomic, asset.decimals);
    return micros > PRICE_USD_MICROS_MAX ? null : micros;
  }
}

// A row changes only when the incoming entry is at least as recent and differs, and an
// observation never replaces what discovery wrote; otherwise the WHERE makes the conflict a
// no-op and rowCount is 0.
const UPSERT_SQL = `
INSERT INTO catalog_resources AS c
  (resource, description, service_name, tags, x402_version, scheme, network, asset, pay_to,
   price_atomic, price_usd_micros, source, last_updated, search, synced_at)
VALUES ($1, $2::text, $3, $4, $5, $6, $7, $8, $9, $10::numeric, $11::bigint, $12, $13::timestamptz,
        setweight(to_tsvector('english', $14::text), 'A')
          || setweight(to_tsvector('english', $2::text), 'B')
          || setweight(to_tsvector('simple', $15::text), 'C'),
        now())
ON CONFLICT (resource) DO UPDATE SET
  description = EXCLUDED.description, service_name = EXCLUDED.service_name, tags = EXCLUDED.tags,
  x402_version = EXCLUDED.x402_version, scheme = EXCLUDED.scheme, network = EXCLUDED.network,
  asset = EXCLUDED.asset, pay_to = EXCLUDED.pay_to, price_atomic = EXCLUDED.price_atomic,
  price_usd_micros = EXCLUDED.price_usd_micros, source = EXCLUDED.source,
  last_updated = EXCLUDED.last_updated, search = EXCLUDED.search, synced_at = EXCLUDED.synced_at
WHERE c.last_updated <= EXCLUDED.last_updated
  AND (EXCLUDED.source <> '${OBSERVED_SOURCE}' OR c.source = '${OBSERVED_SOURCE}')
  AND (c.description, c.service_name, c.tags, c.x402_version, c.scheme, c.network, c.asset, c.pay_to,
       c.price_atomic, c.price_usd_micros, c.source, c.last_updated)
      IS DISTINCT FROM
      (EXCLUDED.description, EXCLUDED.service_name, EXCLUDED.tags, EXCLUDED.x402_version, EXCLUDED.scheme,
       EXCLUDED.network, EXCLUDED.asset, EXCLUDED.pay_to, EXCLUDED.price_atomic, EXCLUDED.price_usd_micros,
       EXCLUDED.source, EXCLUDED.last_updated)`;

interface CatalogRow {
  resource: string;
  description: string;
  service_name: string | null;
  tags: string[];
  x402_version: number;
  scheme: string;
  network: string;
  asset: string;
  pay_to: string;
  price_atomic: string;
  price_usd_micros: string | null;
  source: string;
  last_updated: Date;
}

function viewOf(row: CatalogRow): CatalogItemView {
  return {
    resource: row.resource,
    description: row.description,
    serviceName: row.service_name,
    tags: row.tags,
    network: row.network,
    scheme: row.scheme,
    asset: row.asset,
    payTo: row.pay_to,
    price: row.price_usd_micros === null ? null : formatUsdMicros(BigInt(row.price_usd_micros)),
    priceAtomic: row.price_atomic,
    x402Version: row.x402_version,
    source: row.source,
    lastUpdated: row.last_updated.toISOString(),
  };
}

/**
 * `lastUpdated` as a date. Numbers are unix seconds as the spec says, or milliseconds when
 * they are too large to be seconds. A time in the future is taken as now, so that a
 * facilitator's clock cannot pin a row against later updates.
 */
export function lastUpdatedOf(value: number | string, now: Date): Date | undefined {
  let ms: number;
  if (typeof value === 'number') ms = value > 1e11 ? value : value * 1000;
  else if (/^\d{1,13}$/.test(value)) ms = Number(value) > 1e11 ? Number(value) : Number(value) * 1000;
  else ms = Date.parse(value);
  if (!Number.isFinite(ms)) return undefined;
  return new Date(Math.min(ms, now.getTime()));
}

/** The host and path of a URL as words, so that "weather" finds https://api.example/weather. */
function urlWords(resource: string): string {
  return resource
    .replace(/^https?:\/\//, '')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 1)
    .join(' ');
}

async function fetchDiscoveryPage(source: string, offset: number, limit: number, type: 'http' | 'mcp' = 'http'): Promise<{ items: unknown[]; total: number | undefined }> {
  const url = `${source}/discovery/resources?type=${type}&limit=${limit}&offset=${offset}`;
  const response = await fetch(url, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(DISCOVERY_PAGE_TIMEOUT_MS), redirect: 'error' });
  if (!response.ok) {
    await response.body?.cancel();
    throw new Error(`discovery ${url} answered ${response.status}`);
  }
  const text = await boundedText(response, DISCOVERY_PAGE_BYTES_MAX);
  const page = discoveryPageSchema.safeParse(JSON.parse(text));
  if (!page.success) throw new Error(`discovery ${url}: not a discovery page (${page.error.issues[0]?.message ?? 'invalid'})`);
  return { items: page.data.items, total: page.data.pagination?.total };
}

async function boundedText(response: Response, bytesMax: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > bytesMax) {
    await response.body?.cancel();
    throw new Error(`discovery page of ${declared} bytes is above ${bytesMax}`);
  }
  if (response.body === null) return '';
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > bytesMax) {
      await reader.cancel();
      throw new Error(`discovery page is above ${bytesMax} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
