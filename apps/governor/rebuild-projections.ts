import pg from 'pg';
import { EventStore } from '../../libs/eventstore/event-store.js';
import { defaultMigrationsDirectory, migrate } from '../../libs/eventstore/migrate.js';
import { BalanceProjection } from '../../libs/ledger/balance-projection.js';

// `npm run projections:rebuild`: empties the balance read models and replays every event.
const url = process.env.DATABASE_URL;
if (url === undefined || url === '') {
  console.error('DATABASE_URL is not set. Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/paybound npm run projections:rebuild');
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: url, max: 2 });
try {
  await migrate(pool, defaultMigrationsDirectory());
  const started = performance.now();
  const applied = await new BalanceProjection(new EventStore(pool)).rebuild();
  console.log(`rebuilt balances from ${applied} events in ${(performance.now() - started).toFixed(0)} ms`);
} finally {
  await pool.end();
}
