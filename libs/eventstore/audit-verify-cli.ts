import pg from 'pg';
import { verifyAuditChain } from './audit-chain.js';
import { defaultMigrationsDirectory, migrate } from './migrate.js';

// `npm run audit:verify [-- --stream <streamId>]`: recomputes the event log's hash chains and
// names the first broken link. Exit status 0 when every chain holds, 1 when one is broken.
const url = process.env.DATABASE_URL;
if (url === undefined || url === '') {
  console.error('DATABASE_URL is not set. Example: DATABASE_URL=postgres://postgres@127.0.0.1:5432/paybound npm run audit:verify');
  process.exit(2);
}
const streamFlag = process.argv.indexOf('--stream');
const streamId = streamFlag === -1 ? null : (process.argv[streamFlag + 1] ?? null);
const pool = new pg.Pool({ connectionString: url, max: 1 });
try {
  await migrate(pool, defaultMigrationsDirectory());
  const started = performance.now();
  const verdict = await verifyAuditChain(pool, streamId);
  const took = `${(performance.now() - started).toFixed(0)} ms`;
  if (verdict.firstBroken === null) {
    console.log(`audit chain intact: ${verdict.checked} events checked${streamId === null ? '' : ` in ${streamId}`} in ${took}`);
  } else {
    const b = verdict.firstBroken;
    console.log(`audit chain BROKEN (${b.problem}) at stream ${b.streamId} version ${b.streamVersion}, event ${b.eventId} (position ${b.globalPosition}): expected ${b.expected}, found ${b.found}; ${verdict.checked} events checked in ${took}`);
    process.exitCode = 1;
  }
} finally {
  await pool.end();
}
