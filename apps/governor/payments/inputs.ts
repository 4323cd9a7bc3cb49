import { z } from 'zod';

// Fields more than one payment use case takes, validated alike whichever transport carried them.

/** An http(s) URL without credentials: a paid request names a resource, never a password. */
export const paymentUrl = z
  .string()
  .max(2048)
  .url()
  .refine((u) => /^https?:\/\//i.test(u), 'must be an http(s) URL')
  .refine((u) => {
    const url = new URL(u);
    return url.username === '' && url.password === '';
  }, 'must not carry credentials (user:password@); send them in a header');

export const httpMethod = z.string().regex(/^[A-Z]{3,7}$/, 'must be an HTTP method in capitals, such as GET');

/** A USD amount as a decimal string. */
export { usdAmountField as usdAmount } from '../http/input.js';
