import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from 'viem/accounts';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWorkerConfig, loadWorkerKey, WorkerConfigError } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'paybound-worker-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const key = generatePrivateKey();

function privateFile(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  rmSync(path, { force: true });
  writeFileSync(path, text, { mode });
  return path;
}

describe("the worker's key: from a file or a descriptor, the environment only for development", () => {
  it('reads a raw key file readable by its owner only', async () => {
    const env: NodeJS.ProcessEnv = { PAYBOUND_DEV_PRIVATE_KEY_FILE: privateFile('key', `${key}\n`) };
    await expect(loadWorkerKey(env)).resolves.toEqual({ privateKey: key, source: 'key_file', fromEnvironment: false });
  });

  it('refuses a key file others may read, without showing the key', async () => {
    const env: NodeJS.ProcessEnv = { PAYBOUND_DEV_PRIVATE_KEY_FILE: privateFile('open-key', key, 0o644) };
    const refusal = await loadWorkerKey(env).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(WorkerConfigError);
    expect(String(refusal)).toMatch(/chmod 600/);
    expect(String(refusal)).not.toContain(key.slice(2));
  });

  it('reads the key from an inherited descriptor, and closes it', async () => {
    const fd = openSync(privateFile('fd-key', key), 'r');
    await expect(loadWorkerKey({ PAYBOUND_KEY_FD: String(fd) })).resolves.toMatchObject({ privateKey: key, source: 'key_fd', fromEnvironment: false });
    expect(() => closeSync(fd)).toThrow();
    await expect(loadWorkerKey({ PAYBOUND_KEY_FD: '1' })).rejects.toThrow(/3 or more/);
  });

  it('takes the raw environment variable for development only, and removes it, so that no child inherits it', async () => {
    const env: NodeJS.ProcessEnv = { PAYBOUND_DEV_PRIVATE_KEY: key, PAYBOUND_KEYSTORE_PASSWORD: 'unused-password' };
    await expect(loadWorkerKey(env)).resolves.toEqual({ privateKey: key, source: 'dev_env', fromEnvironment: true });
    expect(env).toEqual({});
  });

  it('asks for the keystore password in a file rather than the environment', async () => {
    await expect(loadWorkerKey({ PAYBOUND_KEYSTORE_FILE: privateFile('keystore.json', '{}') })).rejects.toThrow(/PAYBOUND_KEYSTORE_PASSWORD_FILE/);
  });
});

describe("the worker's metrics and database bounds", () => {
  const base = { DATABASE_URL: 'postgres://u@127.0.0.1:5432/db' };
  it('requires a token unless the metrics are explicitly opened', () => {
    expect(loadWorkerConfig(base).metrics).toMatchObject({ token: undefined, open: false });
    expect(loadWorkerConfig({ ...base, PAYBOUND_METRICS_OPEN: 'true' }).metrics.open).toBe(true);
    expect(() => loadWorkerConfig({ ...base, PAYBOUND_METRICS_TOKEN: 'short' })).toThrow(/at least 16/);
    expect(() => loadWorkerConfig({ ...base, PAYBOUND_METRICS_OPEN: 'yes' })).toThrow(WorkerConfigError);
  });

  it('bounds connects, statements and idle transactions by default', () => {
    expect(loadWorkerConfig(base).database).toEqual({ connectTimeoutMs: 5_000, statementTimeoutMs: 15_000, idleInTransactionTimeoutMs: 15_000 });
    expect(loadWorkerConfig({ ...base, PAYBOUND_DB_STATEMENT_TIMEOUT_MS: '2000' }).database.statementTimeoutMs).toBe(2_000);
  });
});
