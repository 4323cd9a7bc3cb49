import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import { z } from 'zod';
import { Catalog } from './catalog.js';
import { ConfigError } from '../config.js';
import { LOGGER } from '../http/tokens.js';

export const CATALOG_CONFIG = Symbol('CATALOG_CONFIG');

export interface CatalogConfig {
  /** Facilitator base URLs whose `/discovery/resources` is synced. */
  discoveryUrls: string[];
  discoveryIntervalMs: number;
}

const DISCOVERY_URLS_MAX = 20;

const catalogSchema = z.object({
  PAYBOUND_DISCOVERY_URLS: z.string().default(''),
  PAYBOUND_DISCOVERY_INTERVAL_MS: z.coerce.number().int().min(100).max(86_400_000).default(3_600_000),
});

export function loadCatalogConfig(env: NodeJS.ProcessEnv = process.env): CatalogConfig {
  const parsed = catalogSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const urls = parsed.data.PAYBOUND_DISCOVERY_URLS.split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
  for (const url of urls) {
    if (!/^https?:\/\/[^\s,]+$/.test(url)) throw new ConfigError(`invalid configuration:\n  PAYBOUND_DISCOVERY_URLS: "${url.slice(0, 100)}" is not an http(s) URL; give facilitator base URLs separated by commas`);
  }
  if (urls.length > DISCOVERY_URLS_MAX) throw new ConfigError(`invalid configuration:\n  PAYBOUND_DISCOVERY_URLS: at most ${DISCOVERY_URLS_MAX} facilitators`);
  return { discoveryUrls: urls, discoveryIntervalMs: parsed.data.PAYBOUND_DISCOVERY_INTERVAL_MS };
}

/**
 * Syncs every configured facilitator at start and then every interval. A round never
 * overlaps the previous one, and one facilitator's failure is logged without stopping the
 * others; the next round tries again.
 */
@Injectable()
export class CatalogSync implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<void> | undefined;

  constructor(
    @Inject(Catalog) private readonly catalog: Catalog,
    @Inject(CATALOG_CONFIG) private readonly config: CatalogConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    if (this.config.discoveryUrls.length === 0) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.config.discoveryIntervalMs);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.round;
  }

  private tick(): void {
    if (this.round !== undefined) return;
    this.round = this.syncAll().finally(() => {
      this.round = undefined;
    });
  }

  private async syncAll(): Promise<void> {
    for (const url of this.config.discoveryUrls) {
      try {
        const report = await this.catalog.syncFacilitator(url);
        this.logger.info(report, 'catalog: discovery synced');
      } catch (error) {
        this.logger.warn({ source: url, err: { message: (error as Error).message } }, 'catalog: discovery sync failed');
      }
      // Paid MCP tools are listed apart (`type=mcp`); a facilitator without any is no failure of the rest.
      try {
        const report = await this.catalog.syncMcpTools(url);
        if (report.items > 0) this.logger.info(report, 'catalog: MCP tools synced');
      } catch (error) {
        this.logger.debug({ source: url, err: { message: (error as Error).message } }, 'catalog: no MCP tools listed');
      }
    }
  }
}
