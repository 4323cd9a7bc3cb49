import { describe, expect, it } from 'vitest';
import { ConfigError, loadGovernorConfig } from './config.js';

const DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/paybound';

describe('governor configuration: decision commits', () => {
  it('commits two decision transactions at once by default, on a pool of 20', () => {
    const config = loadGovernorConfig({ DATABASE_URL });
    expect(config.concurrentCommits).toBe(2);
    expect(config.dbPoolSize).toBe(20);
  });

  it('takes PAYBOUND_CONCURRENT_COMMITS below the pool size', () => {
    expect(loadGovernorConfig({ DATABASE_URL, PAYBOUND_CONCURRENT_COMMITS: '4', PAYBOUND_DB_POOL_SIZE: '5' }).concurrentCommits).toBe(4);
  });

  it('refuses as many concurrent commits as pooled connections, naming both settings', () => {
    const load = (): unknown => loadGovernorConfig({ DATABASE_URL, PAYBOUND_CONCURRENT_COMMITS: '5', PAYBOUND_DB_POOL_SIZE: '5' });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/PAYBOUND_CONCURRENT_COMMITS: must be less than PAYBOUND_DB_POOL_SIZE \(5\), got 5/);
  });

  it('refuses a count that is not a positive integer', () => {
    expect(() => loadGovernorConfig({ DATABASE_URL, PAYBOUND_CONCURRENT_COMMITS: '0' })).toThrow(/PAYBOUND_CONCURRENT_COMMITS/);
    expect(() => loadGovernorConfig({ DATABASE_URL, PAYBOUND_CONCURRENT_COMMITS: '1.5' })).toThrow(/PAYBOUND_CONCURRENT_COMMITS/);
  });
});

describe('governor configuration: the database and /metrics', () => {
  it('bounds every wait on the database by default, and keeps /metrics closed', () => {
    const config = loadGovernorConfig({ DATABASE_URL });
    expect([config.dbConnectTimeoutMs, config.dbStatementTimeoutMs, config.dbQueryTimeoutMs, config.dbIdleInTransactionTimeoutMs]).toEqual([3_000, 5_000, 6_000, 10_000]);
    expect([config.metricsToken, config.metricsOpen]).toEqual([undefined, false]);
    expect(loadGovernorConfig({ DATABASE_URL, PAYBOUND_METRICS_OPEN: 'true' }).metricsOpen).toBe(true);
  });

  it('refuses a query timeout shorter than the statement timeout, and an open flag that is not true or false', () => {
    expect(() => loadGovernorConfig({ DATABASE_URL, PAYBOUND_DB_STATEMENT_TIMEOUT_MS: '8000', PAYBOUND_DB_QUERY_TIMEOUT_MS: '2000' })).toThrow(
      /PAYBOUND_DB_QUERY_TIMEOUT_MS: must be at least PAYBOUND_DB_STATEMENT_TIMEOUT_MS \(8000\), got 2000/,
    );
    expect(() => loadGovernorConfig({ DATABASE_URL, PAYBOUND_METRICS_OPEN: 'yes' })).toThrow(/PAYBOUND_METRICS_OPEN/);
  });
});
