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
