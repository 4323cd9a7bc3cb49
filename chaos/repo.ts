import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { repoRoot } from '../libs/devnet/repo-root.js';

export { repoRoot };

/** The built file of a process the run starts; the chaos run drives the processes as built. */
export function builtEntry(relativePath: string): string {
  const path = join(repoRoot, 'dist', relativePath);
  if (!existsSync(path)) throw new Error(`${path} is missing: run npm run build first`);
  return path;
}
