import { createHash, timingSafeEqual } from 'node:crypto';

/** SHA-256 is enough for keys of 256 random bits: there is nothing to brute-force. */
export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** Compares two secrets in constant time (their hashes have the same length whatever they are). */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(hashKey(given), hashKey(expected));
}
