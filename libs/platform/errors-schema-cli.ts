import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ERRORS_SCHEMA_PATH, errorsSchemaJson } from './error-catalogue.js';

// `npm run schemas:errors`: writes schemas/errors.json from the error catalogue. npm runs it
// from the repository root.
const path = resolve(process.cwd(), ERRORS_SCHEMA_PATH);
const json = errorsSchemaJson();
let current: string | undefined;
try {
  current = readFileSync(path, 'utf8');
} catch {
  current = undefined;
}
if (current === json) {
  console.log(`${ERRORS_SCHEMA_PATH} is up to date`);
} else {
  writeFileSync(path, json);
  console.log(`wrote ${ERRORS_SCHEMA_PATH} (${(JSON.parse(json) as { errors: unknown[] }).errors.length} codes)`);
}
