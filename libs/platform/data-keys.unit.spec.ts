import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DataKeyError, DataKeys, openSecret, sealSecret } from './data-keys.js';

const dir = mkdtempSync(join(tmpdir(), 'paybound-data-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const line = (id: string) => DataKeys.generate(id).split('\n')[1]!;

describe('data keys: secrets sealed at rest', () => {
  it('seals and opens, bound to the row: another row, a changed byte or an unknown key do not open', () => {
    const keys = DataKeys.parse(line('a'), 'test');
    const sealed = keys.seal('whsec_secret', 'webhook_endpoints.secret:we_1');
    expect(sealed.keyId).toBe('a');
    expect(sealed.value).not.toContain('whsec_secret');
    expect(keys.open(sealed.value, 'a', 'webhook_endpoints.secret:we_1')).toBe('whsec_secret');
    expect(() => keys.open(sealed.value, 'a', 'webhook_endpoints.secret:we_2')).toThrow(DataKeyError);
    const bytes = Buffer.from(sealed.value, 'base64');
    bytes[14] = (bytes[14] ?? 0) ^ 1;
    expect(() => keys.open(bytes.toString('base64'), 'a', 'webhook_endpoints.secret:we_1')).toThrow(DataKeyError);
    expect(() => keys.open(sealed.value, 'b', 'webhook_endpoints.secret:we_1')).toThrow(/data key b/);
  });

  it('rotates: new values take the first key, values under an older key listed after it still open', () => {
    const oldLine = `old=${Buffer.alloc(32, 7).toString('base64')}`;
    const value = DataKeys.parse(oldLine, 'test').seal('header', 'ctx');
    const keyring = DataKeys.parse(`# rotated\n${line('new')}\n${oldLine}`, 'test');
    expect(keyring.currentKeyId).toBe('new');
    expect(keyring.open(value.value, 'old', 'ctx')).toBe('header');
    expect(keyring.seal('header', 'ctx').keyId).toBe('new');
    // Once the old key leaves the file, what it sealed no longer opens.
    expect(() => DataKeys.parse(line('new'), 'test').open(value.value, 'old', 'ctx')).toThrow(DataKeyError);
  });

  it('keeps values stored before sealing began readable, and refuses sealed ones without a key', () => {
    const keys = DataKeys.parse(line('a'), 'test');
    expect(openSecret(keys, { value: 'plain', keyId: null }, 'ctx')).toBe('plain');
    expect(sealSecret(undefined, 'plain', 'ctx')).toEqual({ value: 'plain', keyId: null });
    expect(() => openSecret(undefined, keys.seal('x', 'ctx'), 'ctx')).toThrow(/PAYBOUND_DATA_KEY_FILE/);
  });

  it('refuses malformed keys without repeating them', () => {
    const secretish = 'k=' + Buffer.alloc(31, 9).toString('base64');
    expect(() => DataKeys.parse(secretish, 'PAYBOUND_DATA_KEY')).toThrow(/line 1 is not 32 bytes|not 32 bytes/);
    try {
      DataKeys.parse(secretish, 'PAYBOUND_DATA_KEY');
    } catch (error) {
      expect((error as Error).message).not.toContain(secretish.slice(2));
    }
    expect(() => DataKeys.parse('# nothing', 'test')).toThrow(/no key/);
    expect(() => DataKeys.parse(`${line('a')}\n${line('a')}`, 'test')).toThrow(/twice/);
  });

  it('reads the key file only when its owner alone may read it, and takes PAYBOUND_DATA_KEY out of the environment', () => {
    const file = join(dir, 'data-key');
    writeFileSync(file, DataKeys.generate('f1'), { mode: 0o644 });
    expect(() => DataKeys.fromEnv({ PAYBOUND_DATA_KEY_FILE: file })).toThrow(/chmod 600/);
    rmSync(file);
    writeFileSync(file, DataKeys.generate('f1'), { mode: 0o600 });
    expect(DataKeys.fromEnv({ PAYBOUND_DATA_KEY_FILE: file })?.currentKeyId).toBe('f1');
    const env: NodeJS.ProcessEnv = { PAYBOUND_DATA_KEY: line('e1') };
    expect(DataKeys.fromEnv(env)?.currentKeyId).toBe('e1');
    expect(env.PAYBOUND_DATA_KEY).toBeUndefined();
    expect(DataKeys.fromEnv({})).toBeUndefined();
  });
});
