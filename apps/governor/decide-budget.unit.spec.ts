import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// One door for decisions, checked in the source: in the governor only the DecideBudget
// handler holds the traced and counted decisions, and only the module that builds them
// knows the processor. Any other file that imports either could decide around the bus.

const governorDir = dirname(fileURLToPath(import.meta.url));
const DOOR = /^import\s[^;]*\b(ObservedDecisions|OrgCommandProcessor)\b[^;]*from\s/m;
const ALLOWED = new Set(['decide-budget.handler.ts', 'governor.module.ts']);

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') && !entry.name.includes('.spec.') ? [path] : [];
  });
}

describe('the governor decides through one door', () => {
  it('imports the decisions and the processor only in the DecideBudget handler and the module that builds them', () => {
    const files = sources(governorDir);
    expect(files.length).toBeGreaterThan(30);
    const around = files.filter((file) => DOOR.test(readFileSync(file, 'utf8'))).map((file) => relative(governorDir, file));
    expect(around.sort()).toEqual([...ALLOWED].sort());
  });
});
