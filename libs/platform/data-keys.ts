import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { openSync, closeSync, fstatSync, readFileSync, writeFileSync } from 'node:fs';

// Secrets at rest (webhook signing secrets, stored payment headers) are sealed with
// AES-256-GCM under a data key read from a file. Each ciphertext is stored with the id of its
// key beside it, so keys rotate: new values take the first key of the file, and values sealed
// under an older key, still listed after it, keep opening until they are sealed again. The
// row they belong to is bound into the tag (associated data), so a ciphertext moved to another
// row does not open.
//
// The key file (PAYBOUND_DATA_KEY_FILE) has one key a line, `<id>=<32 bytes in base64>`, the
// current key first; lines starting with # are comments. It must be readable by its owner
// only. PAYBOUND_DATA_KEY holds one such line, for development; it is removed from the
// environment once read, so that nothing the process starts inherits it.

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_ID_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const KEY_FILE_BYTES_MAX = 16 * 1024;
const KEYS_MAX = 32;

export class DataKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataKeyError';
  }
}

/** A value as stored: `keyId` null means it was stored before sealing began, in the clear. */
export interface StoredSecret {
  value: string;
  keyId: string | null;
}

export class DataKeys {
  private constructor(
    readonly currentKeyId: string,
    private readonly keys: ReadonlyMap<string, Buffer>,
  ) {}

  /** Parses key lines (the current key first). */
  static parse(text: string, source: string): DataKeys {
    const keys = new Map<string, Buffer>();
    let current: string | undefined;
    for (const [index, raw] of text.split(/\r?\n/).entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const separator = line.indexOf('=');
      const id = line.slice(0, separator);
      // The message names the line, never its content: it is key material.
      if (separator < 1 || !KEY_ID_PATTERN.test(id)) throw new DataKeyError(`${source}: line ${index + 1} is not <id>=<base64 key> with an id of letters, digits, - and _`);
      const key = Buffer.from(line.slice(separator + 1), 'base64');
      if (key.length !== KEY_BYTES) throw new DataKeyError(`${source}: the key on line ${index + 1} is not ${KEY_BYTES} bytes of base64`);
      if (keys.has(id)) throw new DataKeyError(`${source}: key id ${id} appears twice`);
      keys.set(id, key);
      current ??= id;
    }
    if (current === undefined) throw new DataKeyError(`${source}: no key`);
    if (keys.size > KEYS_MAX) throw new DataKeyError(`${source}: more than ${KEYS_MAX} keys`);
    return new DataKeys(current, keys);
  }

  /** A new key file's text: one fresh key. */
  static generate(keyId = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`): string {
    return `# Paybound data key: seals webhook secrets and payment headers at rest. Keep it; without it they cannot be read.\n${keyId}=${randomBytes(KEY_BYTES).toString('base64')}\n`;
  }

  /**
   * The keys the environment names: PAYBOUND_DATA_KEY_FILE, else PAYBOUND_DATA_KEY (removed
   * from `env` once read); undefined when neither is set.
   */
  static fromEnv(env: NodeJS.ProcessEnv = process.env): DataKeys | undefined {
    const file = env.PAYBOUND_DATA_KEY_FILE?.trim();
    const inline = env.PAYBOUND_DATA_KEY;
    delete env.PAYBOUND_DATA_KEY;
    if (file !== undefined && file !== '') return DataKeys.parse(readPrivateFile(file, 'PAYBOUND_DATA_KEY_FILE'), 'PAYBOUND_DATA_KEY_FILE');
    if (inline !== undefined && inline.trim() !== '') return DataKeys.parse(inline, 'PAYBOUND_DATA_KEY');
    return undefined;
  }

  /** Seals `plaintext` with the current key, bound to `context` (which row and column it belongs to). */
  seal(plaintext: string, context: string): StoredSecret {
    const key = this.keys.get(this.currentKeyId)!;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { value: Buffer.concat([iv, ciphertext, cipher.getAuthTag()]).toString('base64'), keyId: this.currentKeyId };
  }

  /** Opens a sealed value; a wrong key, another row's ciphertext or a modified one all fail alike. */
  open(sealed: string, keyId: string, context: string): string {
    const key = this.keys.get(keyId);
    if (key === undefined) throw new DataKeyError(`a stored secret is sealed under data key ${keyId.slice(0, 32)}, which PAYBOUND_DATA_KEY_FILE does not hold`);
    const bytes = Buffer.from(sealed, 'base64');
    if (bytes.length < IV_BYTES + TAG_BYTES) throw new DataKeyError('a stored secret is not a sealed value');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new DataKeyError(`a stored secret does not open with data key ${keyId}: modified, or moved from another row`);
    }
  }
}

/** Seals a value when keys are configured; stores it as is (key id null) otherwise. */
export function sealSecret(keys: DataKeys | undefined, plaintext: string, context: string): StoredSecret {
  return keys === undefined ? { value: plaintext, keyId: null } : keys.seal(plaintext, context);
}

/** Reads a stored value: a key id means sealed, none means stored in the clear before sealing began. */
export function openSecret(keys: DataKeys | undefined, stored: StoredSecret, context: string): string {
  if (stored.keyId === null) return stored.value;
  if (keys === undefined) throw new DataKeyError('stored secrets are sealed, and no data key is configured: set PAYBOUND_DATA_KEY_FILE');
  return keys.open(stored.value, stored.keyId, context);
}

let processKeys: { keys: DataKeys | undefined } | undefined;

/** This process's data keys, read from its environment once. */
export function processDataKeys(): DataKeys | undefined {
  processKeys ??= { keys: DataKeys.fromEnv(process.env) };
  return processKeys.keys;
}

/**
 * Reads a file that holds secret material, refusing one that others than its owner may
 * read: a key left readable by every account on the machine is not a secret.
 */
export function readPrivateFile(path: string, variable: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new DataKeyError(`${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new DataKeyError(`${variable}: ${path} is not a file`);
    if ((stat.mode & 0o077) !== 0) throw new DataKeyError(`${variable}: ${path} may be read by others than its owner (mode ${(stat.mode & 0o777).toString(8)}); chmod 600 it`);
    if (stat.size > KEY_FILE_BYTES_MAX) throw new DataKeyError(`${variable}: ${path} is larger than ${KEY_FILE_BYTES_MAX} bytes`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}

/** Writes a new secret file readable by its owner only; an existing one is left as it is. */
export function writePrivateFileOnce(path: string, text: string): boolean {
  try {
    writeFileSync(path, text, { mode: 0o600, flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}
