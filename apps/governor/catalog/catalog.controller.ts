import { Controller, Get, Inject, Query } from '@nestjs/common';
import { z } from 'zod';
import { parseUsdMicros } from '../../../libs/domain/money.js';
import { Catalog, SEARCH_LIMIT_MAX, type CatalogItemView } from './catalog.js';
import { parseBody } from '../http/input.js';

const catalogQuery = z
  .object({
    q: z.string().trim().min(1).max(200).optional(),
    maxPrice: z
      .string()
      .regex(/^(0|[1-9][0-9]{0,12})(\.[0-9]{1,6})?$/, 'must be a USD amount such as "0.01"')
      .optional(),
    network: z
      .string()
      .regex(/^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/, 'must be a CAIP-2 network id such as "eip155:8453"')
      .optional(),
    limit: z.coerce.number().int().min(1).max(SEARCH_LIMIT_MAX).default(20),
    offset: z.coerce.number().int().min(0).max(10_000).default(0),
  })
  .strict();

@Controller('v1')
export class CatalogController {
  constructor(@Inject(Catalog) private readonly catalog: Catalog) {}

  /**
   * Paid endpoints known to Paybound, best match first with `q` (Postgres full-text search
   * over service name, tags, description and URL), otherwise cheapest first. `maxPrice` is
   * in USD and leaves out endpoints whose asset Paybound cannot value.
   */
  @Get('catalog')
  async search(@Query() rawQuery: unknown): Promise<{ items: CatalogItemView[]; hasMore: boolean }> {
    const query = parseBody(catalogQuery, rawQuery);
    return this.catalog.search({
      ...(query.q === undefined ? {} : { q: query.q }),
      ...(query.maxPrice === undefined ? {} : { maxPriceUsdMicros: parseUsdMicros(query.maxPrice) }),
      ...(query.network === undefined ? {} : { network: query.network }),
      limit: query.limit,
      offset: query.offset,
    });
  }
}
