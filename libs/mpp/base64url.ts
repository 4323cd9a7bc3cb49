// base64url (RFC 4648 §5) as MPP uses it: the `request` and `opaque` auth-params, the
// credential and the receipt. Padding is optional on input and never written.

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Decodes base64url text to bytes, or returns undefined when it is not base64url. */
export function decodeBase64Url(text: string): Uint8Array | undefined {
  const unpadded = text.replace(/={1,2}$/, '');
  if (!BASE64URL.test(unpadded)) return undefined;
  // A padded value must be padded to a whole quantum, and one leftover character can
  // never encode a byte.
  if (unpadded.length !== text.length && text.length % 4 !== 0) return undefined;
  if (unpadded.length % 4 === 1) return undefined;
  const bytes = Buffer.from(unpadded, 'base64url');
  // Node ignores non-zero trailing bits; re-encoding catches a value that is not the
  // canonical encoding of its bytes, so one payload has one spelling.
  if (bytes.toString('base64url') !== unpadded) return undefined;
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function encodeBase64Url(bytes: Uint8Array | string): string {
  return (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes)).toString('base64url');
}
