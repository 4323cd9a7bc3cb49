import { createCipheriv, createDecipheriv, randomBytes, scrypt as scryptCallback, type ScryptOptions } from 'node:crypto';
import { privateKeyToAccount } from 'viem/accounts';
import type { Address, Hex } from 'viem';

// An encrypted keystore file: the private key sealed with AES-256-GCM under a key derived
// from a password with scrypt. The address and KDF parameters are bound into the GCM tag as
// associated data, so a file whose address, salt or cost was edited is refused, not misread.

export interface KeystoreFile {
  version: 1;
  address: Address;
  kdf: 'scrypt';
  kdfParams: { n: number; r: number; p: number; saltHex: string };
  cipher: 'aes-256-gcm';
  ivHex: string;
  ciphertextHex: string;
  tagHex: string;
}

export class KeystoreError extends Error {
  constructor(
    readonly code: 'keystore_invalid' | 'keystore_password_wrong' | 'keystore_password_weak',
    message: string,
  ) {
    super(message);
    this.name = 'KeystoreError';
  }
}

/** scrypt cost: N=2^17 takes about a third of a second and 128 MiB, which slows offline guessing. */
export const SCRYPT_N_DEFAULT = 2 ** 17;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SCRYPT_N_MIN = 2 ** 14;
const SCRYPT_N_MAX = 2 ** 20;
const KEY_BYTES = 32;
const PASSWORD_CHARS_MIN = 8;
const KEYSTORE_CHARS_MAX = 4_096;

function scrypt(password: string, salt: Buffer, n: number): Promise<Buffer> {
  const options: ScryptOptions = { N: n, r: SCRYPT_R, p: SCRYPT_P, maxmem: 256 * n * SCRYPT_R + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize('NFKC'), salt, KEY_BYTES, options, (error, key) => (error === null ? resolve(key) : reject(error)));
  });
}

function associatedData(file: Pick<KeystoreFile, 'version' | 'address' | 'kdfParams'>): Buffer {
  return Buffer.from(JSON.stringify([file.version, file.address.toLowerCase(), file.kdfParams.n, file.kdfParams.r, file.kdfParams.p, file.kdfParams.saltHex]));
}

/** Seals a private key under a password. `scryptN` may be lowered only for tests. */
export async function encryptKeystore(privateKey: Hex, password: string, options: { scryptN?: number } = {}): Promise<KeystoreFile> {
  if (password.length < PASSWORD_CHARS_MIN) throw new KeystoreError('keystore_password_weak', `the keystore password must have at least ${PASSWORD_CHARS_MIN} characters`);
  const n = options.scryptN ?? SCRYPT_N_DEFAULT;
  assertCost(n);
  const address = privateKeyToAccount(privateKey).address;
  const salt = randomBytes(32);
  const iv = randomBytes(12);
  const kdfParams = { n, r: SCRYPT_R, p: SCRYPT_P, saltHex: salt.toString('hex') };
  const key = await scrypt(password, salt, n);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(associatedData({ version: 1, address, kdfParams }));
  const ciphertext = Buffer.concat([cipher.update(Buffer.from(privateKey.slice(2), 'hex')), cipher.final()]);
  key.fill(0);
  return {
    version: 1,
    address,
    kdf: 'scrypt',
    kdfParams,
    cipher: 'aes-256-gcm',
    ivHex: iv.toString('hex'),
    ciphertextHex: ciphertext.toString('hex'),
    tagHex: cipher.getAuthTag().toString('hex'),
  };
}

/**
 * Opens a keystore file's text with its password. A wrong password and a tampered file both
 * fail the GCM tag; they cannot be told apart, and the message says so without detail.
 */
export async function decryptKeystore(text: string, password: string): Promise<{ address: Address; privateKey: Hex }> {
  const file = parseKeystore(text);
  const key = await scrypt(password, Buffer.from(file.kdfParams.saltHex, 'hex'), file.kdfParams.n);
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(file.ivHex, 'hex'));
    decipher.setAAD(associatedData(file));
    decipher.setAuthTag(Buffer.from(file.tagHex, 'hex'));
    plain = Buffer.concat([decipher.update(Buffer.from(file.ciphertextHex, 'hex')), decipher.final()]);
  } catch {
    throw new KeystoreError('keystore_password_wrong', 'the keystore could not be opened: wrong password or a modified file');
  } finally {
    key.fill(0);
  }
  const privateKey: Hex = `0x${plain.toString('hex')}`;
  plain.fill(0);
  // The address is authenticated data; checking it again catches a file sealed for another key.
  if (privateKeyToAccount(privateKey).address.toLowerCase() !== file.address.toLowerCase()) {
    throw new KeystoreError('keystore_invalid', 'the keystore key does not match its address');
  }
  return { address: file.address, privateKey };
}

function parseKeystore(text: string): KeystoreFile {
  if (text.length > KEYSTORE_CHARS_MAX) throw new KeystoreError('keystore_invalid', 'the keystore file is too large');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeystoreError('keystore_invalid', 'the keystore file is not JSON');
  }
  const f = json as Partial<KeystoreFile> | null;
  const hex = (value: unknown, bytes: number): boolean => typeof value === 'string' && new RegExp(`^[0-9a-f]{${bytes * 2}}$`).test(value);
  const valid =
    f !== null &&
    typeof f === 'object' &&
    f.version === 1 &&
    f.kdf === 'scrypt' &&
    f.cipher === 'aes-256-gcm' &&
    typeof f.address === 'string' &&
    /^0x[0-9a-fA-F]{40}$/.test(f.address) &&
    typeof f.kdfParams === 'object' &&
    f.kdfParams !== null &&
    Number.isInteger(f.kdfParams.n) &&
    f.kdfParams.r === SCRYPT_R &&
    f.kdfParams.p === SCRYPT_P &&
    hex(f.kdfParams.saltHex, 32) &&
    hex(f.ivHex, 12) &&
    hex(f.ciphertextHex, 32) &&
    hex(f.tagHex, 16);
  if (!valid) throw new KeystoreError('keystore_invalid', 'the keystore file is not a Paybound keystore (version 1, scrypt, aes-256-gcm)');
  const file = f as KeystoreFile;
  assertCost(file.kdfParams.n);
  return file;
}

function assertCost(n: number): void {
  // A power of two in range: a file cannot make the worker spend unbounded memory or time.
  if (!Number.isInteger(n) || n < SCRYPT_N_MIN || n > SCRYPT_N_MAX || (n & (n - 1)) !== 0) {
    throw new KeystoreError('keystore_invalid', `scrypt N must be a power of two in ${SCRYPT_N_MIN}..${SCRYPT_N_MAX}`);
  }
}
