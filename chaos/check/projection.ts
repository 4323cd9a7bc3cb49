import type { Violations } from './model.js';

// A projection rebuilt from the log must equal the live one, row for row: rows are compared as
// canonical JSON, keyed by their primary key.

export interface ProjectionTable {
  name: string;
  /** Primary key columns, in order. */
  key: readonly string[];
}

export const PROJECTION_TABLES: readonly ProjectionTable[] = [
  { name: 'budget_balances', key: ['org_id', 'level', 'level_id'] },
  { name: 'sessions_view', key: ['session_id'] },
  { name: 'payments_view', key: ['intent_id'] },
  { name: 'wallet_holds', key: ['network', 'asset', 'org_id'] },
];

export interface TableComparison {
  table: string;
  liveRows: number;
  rebuiltRows: number;
  differing: number;
}

/** Both sides as key → canonical row text. */
export function compareTable(table: string, live: ReadonlyMap<string, string>, rebuilt: ReadonlyMap<string, string>, violations: Violations): TableComparison {
  let differing = 0;
  for (const [key, row] of live) {
    const other = rebuilt.get(key);
    if (other === row) continue;
    differing += 1;
    violations.add({ invariant: 'projection', detail: `${table} ${key}: live ${row.slice(0, 400)} / rebuilt ${other === undefined ? '(missing)' : other.slice(0, 400)}` });
  }
  for (const [key, row] of rebuilt) {
    if (live.has(key)) continue;
    differing += 1;
    violations.add({ invariant: 'projection', detail: `${table} ${key}: only in the rebuilt projection: ${row.slice(0, 400)}` });
  }
  return { table, liveRows: live.size, rebuiltRows: rebuilt.size, differing };
}
