import { writeFile } from 'node:fs/promises';
import { generatePrivateKey } from 'viem/accounts';
import type { Hex } from 'viem';
import { encryptKeystore, KeystoreError } from '../../libs/settlement/keystore.js';

// node dist/apps/settlement-worker/keystore-cli.js create <file>
//
// Writes an encrypted keystore for the settlement worker. The password comes from
// PAYBOUND_KEYSTORE_PASSWORD; the key is new and random unless PAYBOUND_IMPORT_PRIVATE_KEY
// holds one to import. Only the address is printed. The file is created with mode 0600 and
// never overwrites an existing one.

const USAGE = 'usage: PAYBOUND_KEYSTORE_PASSWORD=… [PAYBOUND_IMPORT_PRIVATE_KEY=0x…] node dist/apps/settlement-worker/keystore-cli.js create <file>';

const [command, file] = process.argv.slice(2);
if (command !== 'create' || file === undefined) {
  console.error(USAGE);
  process.exit(2);
}
const password = process.env.PAYBOUND_KEYSTORE_PASSWORD ?? '';
const imported = process.env.PAYBOUND_IMPORT_PRIVATE_KEY?.trim();
delete process.env.PAYBOUND_KEYSTORE_PASSWORD;
delete process.env.PAYBOUND_IMPORT_PRIVATE_KEY;
let privateKey: Hex;
if (imported !== undefined && imported !== '') {
  const hex = imported.startsWith('0x') ? imported : `0x${imported}`;
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) {
    console.error('PAYBOUND_IMPORT_PRIVATE_KEY must be 32 bytes of hex');
    process.exit(2);
  }
  privateKey = hex as Hex;
} else {
  privateKey = generatePrivateKey();
}
try {
  const keystore = await encryptKeystore(privateKey, password);
  await writeFile(file, `${JSON.stringify(keystore, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  console.log(JSON.stringify({ file, address: keystore.address }));
} catch (error) {
  if (error instanceof KeystoreError) {
    console.error(error.message);
    process.exit(2);
  }
  console.error(`could not write the keystore: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  process.exit(1);
}
