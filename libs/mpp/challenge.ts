import { createHash } from 'node:crypto';

import { DecodeError, assertSafeJson } from '../x402/encoding.js';
import { parseWwwAuthenticate } from './auth-params.js';
import { decodeBase64Url } from './base64url.js';
import type { MppChallengeRefusal } from './errors.js';
import { canonicalJson } from './jcs.js';

// The `Payment` HTTP authentication scheme (MPP, draft-httpauth-payment, as mppx 0.11
// speaks it). A 402 carries one challenge per payment option:
//
//   WWW-Authenticate: Payment id="…", realm="…", method="evm", intent="charge",
//     request="<base64url of JCS JSON>", expires="<RFC 3339>"[, digest="sha-256=…"]
//     [, opaque="<base64url>"][, description="…"][, header="…"]
//
// The server binds `id` by HMAC to realm|method|intent|request|expires|digest|opaque, so the
// credential must echo every one of them exactly as received; this module keeps them as
// received and decodes `request` beside them for the decision.

export const PAYMENT_SCHEME = 'Payment';
/** The credential header when the challenge names none (mppx: `Authorization`). */
export const DEFAULT_CREDENTIAL_HEADER = 'Authorization';
/**
 * The only other credential header a challenge may name. mppx lets a seller pick any field
 * name, but a hostile seller could then make the buyer send its credential in `Cookie` or
 * `Host`; Paybound sends it only where the scheme defines it.
 */
export const ALTERNATE_CREDENTIAL_HEADER = 'Payment-Authorization';

const ID_CHARS_MAX = 256;
const REALM_CHARS_MAX = 256;
const DESCRIPTION_CHARS_MAX = 1_024;
const OPAQUE_CHARS_MAX = 16 * 1024;
/** mppx refuses a larger `request` (Challenge.deserialize, maxRequestParameterLength). */
export const REQUEST_PARAM_CHARS_MAX = 16 * 1024;
const REQUEST_JSON_CHARS_MAX = 12 * 1024;

const FORBIDDEN_PARAM_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
const METHOD = /^[a-z][a-z0-9:_-]{0,63}$/;
const INTENT = /^[a-z][a-z0-9_-]{0,63}$/;
const VISIBLE_ASCII = /^[\x21-\x7e]+$/;
// Printable: no C0 control character and no DEL.
const isPrintable = (value: string): boolean => ![...value].some((char) => char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f);
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const DIGEST_SHA256 = /^sha-256=(?::([A-Za-z0-9+/]{43}=):|([A-Za-z0-9+/]{43}=))$/;

export interface PaymentChallenge {
  /** Position among the `Payment` challenges of the answer, for audits and option ids. */
  readonly index: number;
  readonly id: string;
  readonly realm: string;
  readonly method: string;
  readonly intent: string;
  /** The `request` auth-param exactly as received (base64url). */
  readonly request: string;
  /** `request` decoded: a plain, frozen JSON object, checked to be its canonical form. */
  readonly requestJson: Readonly<Record<string, unknown>>;
  readonly expires?: string;
  readonly expiresAtMs?: number;
  readonly digest?: string;
  readonly opaque?: string;
  /** Shown to humans only; never an input to a decision. */
  readonly description?: string;
  /** Where the credential goes: `Authorization` unless the challenge names the alternate. */
  readonly credentialHeader: string;
  /** Every auth-param as received (names lowercased), for the credential's echo. */
  readonly params: Readonly<Record<string, string>>;
}

export type ChallengeParse =
  | { readonly ok: true; readonly challenge: PaymentChallenge }
  | {
      readonly ok: false;
      readonly index: number;
      readonly code: MppChallengeRefusal;
      readonly detail: string;
      /** What could be read before the refusal, so the audit can say which option it was. */
      readonly method?: string;
      readonly intent?: string;
    };

/**
 * Reads every `Payment` challenge of a 402's `WWW-Authenticate` values. Other schemes are
 * skipped. A value that breaks the header grammar throws MppChallengeError; a challenge
 * that parses but is unusable comes back as `{ok: false}` with its reason, so one bad
 * challenge does not hide the good ones.
 */
export function parsePaymentChallenges(values: string | readonly string[]): ChallengeParse[] {
  const results: ChallengeParse[] = [];
  for (const challenge of parseWwwAuthenticate(values)) {
    if (challenge.scheme.toLowerCase() !== PAYMENT_SCHEME.toLowerCase()) continue;
    const index = results.length;
    if (challenge.token68 !== undefined) {
      results.push({ ok: false, index, code: 'mpp_challenge_invalid', detail: 'a Payment challenge carries a token68, not auth-params' });
      continue;
    }
    results.push(readChallenge(index, Object.fromEntries(challenge.params)));
  }
  return results;
}

function readChallenge(index: number, params: Record<string, string>): ChallengeParse {
  const refuse = (code: MppChallengeRefusal, detail: string): ChallengeParse => ({
    ok: false,
    index,
    code,
    detail,
    ...(typeof params['method'] === 'string' && METHOD.test(params['method']) ? { method: params['method'] } : {}),
    ...(typeof params['intent'] === 'string' && INTENT.test(params['intent']) ? { intent: params['intent'] } : {}),
  });
  // The echo is JSON the seller parses again: names that reach an object prototype there
  // are refused here, as assertSafeJson refuses them in JSON.
  if (Object.keys(params).some((name) => FORBIDDEN_PARAM_NAMES.has(name))) {
    return refuse('mpp_challenge_invalid', 'an auth-param name is reserved');
  }
  const { id, realm, method, intent, request, expires, digest, opaque, description, header } = params;
  if (id === undefined || id.length > ID_CHARS_MAX || !VISIBLE_ASCII.test(id)) {
    return refuse('mpp_challenge_invalid', `id must be 1..${ID_CHARS_MAX} visible ASCII characters`);
  }
  if (realm === undefined || realm.length === 0 || realm.length > REALM_CHARS_MAX || !isPrintable(realm)) {
    return refuse('mpp_challenge_invalid', `realm must be 1..${REALM_CHARS_MAX} printable characters`);
  }
  if (method === undefined || !METHOD.test(method)) return refuse('mpp_challenge_invalid', 'method must be a lowercase token');
  if (intent === undefined || !INTENT.test(intent)) return refuse('mpp_challenge_invalid', 'intent must be a lowercase token');
  if (description !== undefined && (description.length > DESCRIPTION_CHARS_MAX || !isPrintable(description))) {
    return refuse('mpp_challenge_invalid', `description must be at most ${DESCRIPTION_CHARS_MAX} printable characters`);
  }
  let expiresAtMs: number | undefined;
  if (expires !== undefined) {
    expiresAtMs = RFC3339.test(expires) ? Date.parse(expires) : Number.NaN;
    if (!Number.isFinite(expiresAtMs)) return refuse('mpp_challenge_invalid', 'expires must be an RFC 3339 date-time');
  }
  if (digest !== undefined && !/^[a-z0-9-]{1,16}=/.test(digest)) {
    return refuse('mpp_challenge_invalid', 'digest must be "<algorithm>=<value>"');
  }
  if (digest !== undefined && digest.length > 256) return refuse('mpp_challenge_invalid', 'digest is too long');
  if (opaque !== undefined && (opaque.length > OPAQUE_CHARS_MAX || decodeBase64Url(opaque) === undefined)) {
    return refuse('mpp_challenge_invalid', `opaque must be base64url of at most ${OPAQUE_CHARS_MAX} characters`);
  }
  let credentialHeader = DEFAULT_CREDENTIAL_HEADER;
  if (header !== undefined) {
    const named = [DEFAULT_CREDENTIAL_HEADER, ALTERNATE_CREDENTIAL_HEADER].find((name) => name.toLowerCase() === header.toLowerCase());
    if (named === undefined) return refuse('mpp_challenge_invalid', `header may only name ${DEFAULT_CREDENTIAL_HEADER} or ${ALTERNATE_CREDENTIAL_HEADER}`);
    credentialHeader = named;
  }
  if (request === undefined) return refuse('mpp_challenge_invalid', 'request is missing');
  const decoded = decodeRequest(request);
  if (typeof decoded === 'string') return refuse('mpp_request_invalid', decoded);

  return {
    ok: true,
    challenge: Object.freeze({
      index,
      id,
      realm,
      method,
      intent,
      request,
      requestJson: decoded,
      ...(expires === undefined ? {} : { expires, expiresAtMs }),
      ...(digest === undefined ? {} : { digest }),
      ...(opaque === undefined ? {} : { opaque }),
      ...(description === undefined ? {} : { description }),
      credentialHeader,
      params: Object.freeze({ ...params }),
    }),
  };
}

/** The decoded request object, or the reason it is not acceptable. */
function decodeRequest(request: string): Readonly<Record<string, unknown>> | string {
  if (request.length > REQUEST_PARAM_CHARS_MAX) return `request is longer than ${REQUEST_PARAM_CHARS_MAX} characters`;
  const bytes = decodeBase64Url(request);
  if (bytes === undefined) return 'request is not base64url';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return 'request is not UTF-8';
  }
  if (text.length > REQUEST_JSON_CHARS_MAX) return 'request JSON is too large';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
    assertSafeJson(parsed);
  } catch (error) {
    if (error instanceof DecodeError) return `request ${error.detail}`;
    return 'request is not JSON';
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'request is not a JSON object';
  // The spec makes `request` canonical JSON (RFC 8785). Requiring it rejects duplicate
  // members and any other text two parsers could read differently: what Paybound decides
  // on is then the only reading there is.
  if (canonicalJson(parsed) !== text) return 'request is not canonical JSON (RFC 8785)';
  return deepFreeze(parsed as Record<string, unknown>);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Whether the challenge still leaves `marginSec` to sign, send and settle at `nowMs`. */
export function challengeUsableAt(challenge: PaymentChallenge, nowMs: number, marginSec: number): boolean {
  return challenge.expiresAtMs === undefined || challenge.expiresAtMs - nowMs >= marginSec * 1000;
}

/**
 * Checks the `digest` body binding: the credential may only travel with the body the
 * challenge was issued for. mppx writes `sha-256=<base64>`; RFC 9530's structured form
 * `sha-256=:<base64>:` is accepted too. Without a digest any body goes.
 */
export function digestMatchesBody(challenge: PaymentChallenge, body: string | Uint8Array | undefined): boolean {
  if (challenge.digest === undefined) return true;
  const match = DIGEST_SHA256.exec(challenge.digest);
  const expected = match?.[1] ?? match?.[2];
  if (expected === undefined) return false;
  const bytes = body === undefined ? new Uint8Array(0) : typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return createHash('sha256').update(bytes).digest('base64') === expected;
}
