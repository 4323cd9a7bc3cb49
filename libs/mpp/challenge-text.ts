import { PAYMENT_SCHEME, parsePaymentChallenges, type PaymentChallenge } from './challenge.js';

// One challenge kept as text, so that whoever signs it later (the settlement worker) reads it
// back through the same strict parser as the governor did, and echoes the very same
// auth-params: every value is written as a quoted-string, `\` and `"` escaped.

export function paymentChallengeText(challenge: Pick<PaymentChallenge, 'params'>): string {
  const params = Object.entries(challenge.params).map(([name, value]) => `${name}="${value.replace(/[\\"]/g, (char) => `\\${char}`)}"`);
  return `${PAYMENT_SCHEME} ${params.join(', ')}`;
}

/** The one challenge of a kept text; undefined if it no longer reads as exactly one usable challenge. */
export function paymentChallengeFromText(text: string): PaymentChallenge | undefined {
  let parsed;
  try {
    parsed = parsePaymentChallenges(text);
  } catch {
    return undefined;
  }
  const only = parsed[0];
  return parsed.length === 1 && only !== undefined && only.ok ? only.challenge : undefined;
}
