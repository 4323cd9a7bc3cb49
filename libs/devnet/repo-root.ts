import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The repository's root folder, found by walking up from this file to the package.json named
 * `paybound`. The kit runs from the sources (vitest) and from dist/ (`npm start`); both find
 * node_modules and the Solidity sources from here, so neither needs links into dist/.
 */
function findRepoRoot(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  // A checkout is never deeper than this; the bound keeps a misplaced file from looping.
  for (let depth = 0; depth < 8; depth += 1) {
    const manifest = join(folder, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'paybound') return folder;
    folder = dirname(folder);
  }
  throw new Error('the paybound repository root (package.json named "paybound") was not found above libs/devnet');
}

export const repoRoot = findRepoRoot();
