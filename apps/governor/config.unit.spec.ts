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

describe('governor configuration: what the worker can pay on', () => {
  const USDC_BASE_SEPOLIA = '0x036CbD53842c5426634e7929541eC2318f3dCF7e';
  const LOCAL = JSON.stringify([{ network: 'eip155:31337', address: '0x5FbDB2315678afecb367f032d93F642f64180aa3', decimals: 6, symbol: 'TUSD' }]);

  it('keeps no built-in asset on a network without an RPC endpoint', () => {
    const config = loadGovernorConfig({ DATABASE_URL });
    expect(config.assets).toEqual([]);
    expect([...config.payableNetworks]).toEqual([]);
  });

  it('keeps the built-in USDC of a network whose RPC_URL_* is set, and pays on the networks of PAYBOUND_ASSETS', () => {
    const config = loadGovernorConfig({ DATABASE_URL, RPC_URL_EIP155_84532: 'https://sepolia.base.org', PAYBOUND_ASSETS: LOCAL });
    expect(config.assets.map((a) => `${a.network} ${a.address}`)).toEqual([`eip155:84532 ${USDC_BASE_SEPOLIA}`, 'eip155:31337 0x5FbDB2315678afecb367f032d93F642f64180aa3']);
    expect([...config.payableNetworks].sort()).toEqual(['eip155:31337', 'eip155:84532']);
  });

  it('takes PAYBOUND_PAYABLE_NETWORKS as the whole list when it is set', () => {
    const config = loadGovernorConfig({ DATABASE_URL, PAYBOUND_PAYABLE_NETWORKS: 'eip155:8453, eip155:84532', PAYBOUND_ASSETS: LOCAL });
    expect([...config.payableNetworks]).toEqual(['eip155:8453', 'eip155:84532']);
    expect(config.assets.map((a) => a.network)).toEqual(['eip155:8453', 'eip155:84532', 'eip155:31337']);
    expect(() => loadGovernorConfig({ DATABASE_URL, PAYBOUND_PAYABLE_NETWORKS: 'base-sepolia' })).toThrow(/PAYBOUND_PAYABLE_NETWORKS: must be CAIP-2 networks/);
  });

  it('caps open sessions per agent at 100 by default; 0 is no cap', () => {
    expect(loadGovernorConfig({ DATABASE_URL }).sessionsOpenMaxPerAgent).toBe(100);
    expect(loadGovernorConfig({ DATABASE_URL, PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT: '0' }).sessionsOpenMaxPerAgent).toBeNull();
    expect(loadGovernorConfig({ DATABASE_URL, PAYBOUND_SESSIONS_OPEN_MAX_PER_AGENT: '3' }).sessionsOpenMaxPerAgent).toBe(3);
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
