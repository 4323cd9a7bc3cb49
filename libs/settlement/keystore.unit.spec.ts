import { describe, expect, it } from 'vitest';
import { privateKeyToAccount } from 'viem/accounts';
import { decryptKeystore, encryptKeystore, KeystoreError } from './keystore.js';

// The lowest cost the format accepts keeps these tests fast; production files use 2^17.
const FAST = { scryptN: 2 ** 14 };
const KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d' as const;
const PASSWORD = 'correct horse battery staple';

describe('keystore', () => {
  it('round-trips a key and never stores it in clear', async () => {
    const file = await encryptKeystore(KEY, PASSWORD, FAST);
    const text = JSON.stringify(file);
    expect(text).not.toContain(KEY.slice(2));
    expect(text).not.toContain(PASSWORD);
    expect(file.address).toBe(privateKeyToAccount(KEY).address);
    await expect(decryptKeystore(text, PASSWORD)).resolves.toEqual({ address: file.address, privateKey: KEY });
  });

  it('refuses a wrong password', async () => {
    const text = JSON.stringify(await encryptKeystore(KEY, PASSWORD, FAST));
    await expect(decryptKeystore(text, `${PASSWORD}!`)).rejects.toMatchObject({ code: 'keystore_password_wrong' });
  });

  it('refuses a file whose ciphertext, tag, address or cost was modified', async () => {
    const file = await encryptKeystore(KEY, PASSWORD, FAST);
    const flip = (hex: string) => `${hex.slice(0, -1)}${hex.endsWith('0') ? '1' : '0'}`;
    const tampered = [
      { ...file, ciphertextHex: flip(file.ciphertextHex) },
      { ...file, tagHex: flip(file.tagHex) },
      { ...file, ivHex: flip(file.ivHex) },
      { ...file, address: privateKeyToAccount('0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba').address },
      { ...file, kdfParams: { ...file.kdfParams, saltHex: flip(file.kdfParams.saltHex) } },
      { ...file, kdfParams: { ...file.kdfParams, n: 2 ** 15 } },
    ];
    for (const variant of tampered) {
      await expect(decryptKeystore(JSON.stringify(variant), PASSWORD)).rejects.toMatchObject({ code: 'keystore_password_wrong' });
    }
  });

  it('refuses files it cannot vouch for before running scrypt', async () => {
    const file = await encryptKeystore(KEY, PASSWORD, FAST);
    for (const text of ['not json', '{}', JSON.stringify({ ...file, version: 2 }), JSON.stringify({ ...file, kdfParams: { ...file.kdfParams, n: 2 ** 30 } }), 'x'.repeat(5_000)]) {
      await expect(decryptKeystore(text, PASSWORD)).rejects.toMatchObject({ code: 'keystore_invalid' });
    }
  });

  it('refuses a short password when creating', async () => {
    await expect(encryptKeystore(KEY, 'short', FAST)).rejects.toBeInstanceOf(KeystoreError);
  });
});
