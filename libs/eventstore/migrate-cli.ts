import pg from 'pg';
import { defaultMigrationsDirectory, migrate } from './migrate.js';

// `npm run migrate`: applies pending migrations to DATABASE_URL.
const url = process.env.DATABASE_URL;
if (url === undefined || url === '') {
  console.error('DATABASE_URL is not set. Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/paybound npm run migrate');
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: url, max: 1 });
try {
  const applied = await migrate(pool, defaultMigrationsDirectory());
  console.log(applied.length === 0 ? 'database is up to date' : `applied: ${applied.join(', ')}`);
} finally {
  await pool.end();
}
