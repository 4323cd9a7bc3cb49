import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pool } from 'pg';

// Numbered plain-SQL migrations (NNN_reason.sql), each applied once in its own transaction.
// An advisory lock lets several processes start at once without racing each other.
const MIGRATION_LOCK_KEY = 0x7061_7962; // "payb"
const MIGRATION_FILE = /^(\d{3})_[a-z0-9_]+\.sql$/;

export async function migrate(pool: Pool, directory: string): Promise<string[]> {
  const files = (await readdir(directory)).filter((f) => MIGRATION_FILE.test(f)).sort();
  const client = await pool.connect();
  const applied: string[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Set((await client.query<{ version: number }>('SELECT version FROM schema_migrations')).rows.map((r) => r.version));
    for (const file of files) {
      const version = Number(file.slice(0, 3));
      if (done.has(version)) continue;
      const sql = await readFile(path.join(directory, file), 'utf8');
      await client.query('BEGIN');
      try {
        await client.query(sql);
        await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [version, file]);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw new Error(`migration ${file} failed: ${(error as Error).message}`, { cause: error });
      }
      applied.push(file);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    client.release();
  }
  return applied;
}

/** The migrations folder at the top of the repository, from source or from dist/. */
export function defaultMigrationsDirectory(): string {
  const here = path.dirname(new URL(import.meta.url).pathname);
  const fromSource = path.resolve(here, '../../migrations');
  return here.includes(`${path.sep}dist${path.sep}`) ? path.resolve(here, '../../../migrations') : fromSource;
}
