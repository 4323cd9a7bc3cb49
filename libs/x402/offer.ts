import { getAddress, isAddress } from 'viem';
import { z } from 'zod';

import { DecodeError, assertSafeJson, decodeBase64Json, parseJsonText } from './encoding.js';
import { X402OfferError } from './errors.js';
import { caip2FromV1Network, isEvmNetwork } from './networks.js';

// Limits on what a seller may send us. They are generous for honest offers (the official
// SDK produces well under 2 KiB per requirement) and small enough that a hostile 402 costs
// us no more than a few milliseconds and kilobytes.
export const PAYMENT_REQUIRED_HEADER_BYTES_MAX = 16 * 1024;
export const PAYMENT_REQUIRED_BODY_BYTES_MAX = 64 * 1024;
export const REQUIREMENTS_MAX = 16;
export const AMOUNT_DIGITS_MAX = 78;
export const MAX_TIMEOUT_SECONDS_MAX = 86_400;
const URL_CHARS_MAX = 2_048;
const DESCRIPTION_CHARS_MAX = 2_048;
const MIME_TYPE_CHARS_MAX = 256;
const ERROR_CHARS_MAX = 1_024;
const ADDRESS_CHARS_MAX = 128;
const DETAIL_CHARS_MAX = 200;
const UINT256_MAX = 2n ** 256n - 1n;

export interface PaymentExtra {
  readonly name?: string;
  readonly version?: string;
  readonly [key: string]: unknown;
}

export interface PaymentRequirement {
  /** Position in the seller's `accepts`, kept so logs and audits can point at it. */
  readonly index: number;
  readonly scheme: string;
  /** CAIP-2, also for v1 offers whose wire name ("base-sepolia") is mapped. */
  readonly network: string;
  readonly amountAtomic: bigint;
  /** Checksummed for EVM networks. */
  readonly asset: string;
  /** Checksummed for EVM networks. */
  readonly payTo: string;
  readonly maxTimeoutSeconds: number;
  readonly extra?: PaymentExtra;
  /** The seller's requirement object exactly as received; v2 `accepted` must echo it. */
  readonly raw: Readonly<Record<string, unknown>>;
}

export interface ResourceInfo {
  readonly url: string;
  readonly description?: string;
  readonly mimeType?: string;
}

export interface PaymentOffer {
  readonly x402Version: 1 | 2;
  readonly error?: string;
  /** For v1 this is taken from the first requirement, where v1 keeps it. */
  readonly resource?: ResourceInfo;
  /** The v2 `resource` object exactly as received, to be echoed in PAYMENT-SIGNATURE. */
  readonly resourceRaw?: Readonly<Record<string, unknown>>;
  readonly extensions?: Readonly<Record<string, unknown>>;
  readonly requirements: readonly PaymentRequirement[];
}

export type PaymentRequiredInput = { header?: string | null; body?: unknown } | string;

const schemeName = z
  .string({ error: 'must be a string' })
  .regex(/^[a-z][a-z0-9_-]{0,31}$/, { error: 'must be a short lowercase scheme name' });
const caip2Network = z
  .string({ error: 'must be a string' })
  .regex(/^[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}$/, { error: 'must be a CAIP-2 network id' });
const atomicAmount = z
  .string({ error: 'must be a string of atomic units' })
  .regex(new RegExp(`^[1-9][0-9]{0,${AMOUNT_DIGITS_MAX - 1}}$`), {
    error: `must be a positive integer string of at most ${AMOUNT_DIGITS_MAX} digits`,
  });
const addressText = z.string({ error: 'must be a string' }).min(1).max(ADDRESS_CHARS_MAX);
const timeoutSeconds = z
  .number({ error: 'must be a number' })
  .int({ error: 'must be an integer' })
  .min(1, { error: 'must be at least 1' })
  .max(MAX_TIMEOUT_SECONDS_MAX, { error: `must be at most ${MAX_TIMEOUT_SECONDS_MAX}` });
const extraSchema = z.looseObject({
  name: z.string().min(1).max(128).optional(),
  version: z.string().min(1).max(32).optional(),
});
const urlText = z.string({ error: 'must be a string' }).min(1).max(URL_CHARS_MAX);

const requirementV2Schema = z.object({
  scheme: schemeName,
  network: caip2Network,
  amount: atomicAmount,
  asset: addressText,
  payTo: addressText,
  maxTimeoutSeconds: timeoutSeconds,
  extra: extraSchema.optional(),
});

const requirementV1Schema = z.object({
  scheme: schemeName,
  network: z.string({ error: 'must be a string' }).min(1).max(64),
  maxAmountRequired: atomicAmount,
  asset: addressText,
  payTo: addressText,
  resource: urlText,
  description: z.string().max(DESCRIPTION_CHARS_MAX),
  mimeType: z.string().max(MIME_TYPE_CHARS_MAX).optional(),
  outputSchema: z.unknown().optional(),
  maxTimeoutSeconds: timeoutSeconds,
  extra: extraSchema.optional(),
});

const accepts = <T extends z.ZodType>(requirement: T) =>
  z
    .array(requirement, { error: 'must be an array' })
    .min(1, { error: 'must list at least one requirement' })
    .max(REQUIREMENTS_MAX, { error: `must list at most ${REQUIREMENTS_MAX} requirements` });

const offerV2Schema = z.object({
  x402Version: z.literal(2),
  error: z.string().max(ERROR_CHARS_MAX).optional(),
  resource: z.looseObject({
    url: urlText,
    description: z.string().max(DESCRIPTION_CHARS_MAX).optional(),
    mimeType: z.string().max(MIME_TYPE_CHARS_MAX).optional(),
  }),
  accepts: accepts(requirementV2Schema),
  extensions: z.record(z.string().max(64), z.unknown()).optional(),
});

const offerV1Schema = z.object({
  x402Version: z.literal(1),
  error: z.string().max(ERROR_CHARS_MAX).optional(),
  accepts: accepts(requirementV1Schema),
});

/**
 * Reads an x402 offer from a 402 answer: the v2 `PAYMENT-REQUIRED` header value, or the
 * v1 JSON body (object or text). A bare string is taken as JSON when it starts with `{`
 * and as a header value otherwise. Throws X402OfferError for anything it cannot vouch for.
 */
export function parsePaymentRequired(input: PaymentRequiredInput): PaymentOffer {
  const document = readDocument(input);
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new X402OfferError('offer is not a JSON object');
  }
  const version = (document as Record<string, unknown>)['x402Version'];
  if (version === 2) return normaliseV2(document as Record<string, unknown>);
  if (version === 1) return normaliseV1(document as Record<string, unknown>);
  throw new X402OfferError('x402Version must be 1 or 2');
}

function readDocument(input: PaymentRequiredInput): unknown {
  try {
    if (typeof input === 'string') {
      return input.trimStart().startsWith('{')
        ? parseJsonText(input, PAYMENT_REQUIRED_BODY_BYTES_MAX)
        : decodeBase64Json(input, PAYMENT_REQUIRED_HEADER_BYTES_MAX);
    }
    if (typeof input.header === 'string' && input.header.trim().length > 0) {
      return decodeBase64Json(input.header, PAYMENT_REQUIRED_HEADER_BYTES_MAX);
    }
    const { body } = input;
    if (body === undefined || body === null) {
      throw new X402OfferError('402 answer has neither a PAYMENT-REQUIRED header nor a body');
    }
    if (typeof body === 'string') return parseJsonText(body, PAYMENT_REQUIRED_BODY_BYTES_MAX);
    if (body instanceof Uint8Array) {
      return parseJsonText(new TextDecoder('utf-8', { fatal: true }).decode(body), PAYMENT_REQUIRED_BODY_BYTES_MAX);
    }
    // An object handed to us may share structure with the caller. The safety walk bounds
    // its size before the copy, and the JSON round trip makes `raw` plain, detached data.
    assertSafeJson(body);
    return parseJsonText(JSON.stringify(body), PAYMENT_REQUIRED_BODY_BYTES_MAX);
  } catch (error) {
    if (error instanceof X402OfferError) throw error;
    if (error instanceof DecodeError) throw new X402OfferError(error.detail);
    if (error instanceof TypeError) throw new X402OfferError('402 body is not UTF-8');
    throw error;
  }
}

function normaliseV2(document: Record<string, unknown>): PaymentOffer {
  const parsed = offerV2Schema.safeParse(document);
  if (!parsed.success) throw new X402OfferError(describeIssue(parsed.error));
  const rawAccepts = document['accepts'] as Array<Record<string, unknown>>;
  const requirements = parsed.data.accepts.map((requirement, index) =>
    normaliseRequirement(index, {
      scheme: requirement.scheme,
      network: requirement.network,
      amount: requirement.amount,
      asset: requirement.asset,
      payTo: requirement.payTo,
      maxTimeoutSeconds: requirement.maxTimeoutSeconds,
      extra: requirement.extra,
      raw: rawAccepts[index] ?? {},
    }),
  );
  const { resource } = parsed.data;
  return deepFreeze({
    x402Version: 2 as const,
    ...(parsed.data.error === undefined ? {} : { error: parsed.data.error }),
    resource: {
      url: resource.url,
      ...(resource.description === undefined ? {} : { description: resource.description }),
      ...(resource.mimeType === undefined ? {} : { mimeType: resource.mimeType }),
    },
    resourceRaw: document['resource'] as Record<string, unknown>,
    ...(parsed.data.extensions === undefined ? {} : { extensions: parsed.data.extensions }),
    requirements,
  });
}

function normaliseV1(document: Record<string, unknown>): PaymentOffer {
  const parsed = offerV1Schema.safeParse(document);
  if (!parsed.success) throw new X402OfferError(describeIssue(parsed.error));
  const rawAccepts = document['accepts'] as Array<Record<string, unknown>>;
  const requirements = parsed.data.accepts.map((requirement, index) => {
    const network = caip2FromV1Network(requirement.network);
    if (network === undefined) {
      throw new X402OfferError(`accepts.${index}.network: unknown v1 network name`);
    }
    return normaliseRequirement(index, {
      scheme: requirement.scheme,
      network,
      amount: requirement.maxAmountRequired,
      asset: requirement.asset,
      payTo: requirement.payTo,
      maxTimeoutSeconds: requirement.maxTimeoutSeconds,
      extra: requirement.extra,
      raw: rawAccepts[index] ?? {},
    });
  });
  const first = parsed.data.accepts[0];
  return deepFreeze({
    x402Version: 1 as const,
    ...(parsed.data.error === undefined ? {} : { error: parsed.data.error }),
    ...(first === undefined
      ? {}
      : {
          resource: {
            url: first.resource,
            ...(first.description === '' ? {} : { description: first.description }),
            ...(first.mimeType === undefined || first.mimeType === '' ? {} : { mimeType: first.mimeType }),
          },
        }),
    requirements,
  });
}

interface RequirementFields {
  scheme: string;
  network: string;
  amount: string;
  asset: string;
  payTo: string;
  maxTimeoutSeconds: number;
  extra: Record<string, unknown> | undefined;
  raw: Record<string, unknown>;
}

function normaliseRequirement(index: number, fields: RequirementFields): PaymentRequirement {
  const amountAtomic = BigInt(fields.amount);
  const evm = isEvmNetwork(fields.network);
  if (evm && amountAtomic > UINT256_MAX) {
    throw new X402OfferError(`accepts.${index}.amount: exceeds uint256`);
  }
  return {
    index,
    scheme: fields.scheme,
    network: fields.network,
    amountAtomic,
    asset: normaliseAddress(index, 'asset', fields.asset, evm),
    payTo: normaliseAddress(index, 'payTo', fields.payTo, evm),
    maxTimeoutSeconds: fields.maxTimeoutSeconds,
    ...(fields.extra === undefined ? {} : { extra: fields.extra }),
    raw: fields.raw,
  };
}

// Non-EVM addresses (Solana base58 and others) are only checked for a safe alphabet and
// length here; a scheme for such a network has to validate them properly before signing.
const OPAQUE_ADDRESS = /^[A-Za-z0-9._:-]{1,128}$/;

function normaliseAddress(index: number, field: 'asset' | 'payTo', value: string, evm: boolean): string {
  if (evm) {
    if (!isAddress(value, { strict: false })) {
      throw new X402OfferError(`accepts.${index}.${field}: not an EVM address`);
    }
    // A mixed-case address with a wrong checksum is most likely a typo; refuse it instead
    // of silently paying an address that differs from what the seller meant.
    if (value !== value.toLowerCase() && value.slice(2) !== value.slice(2).toUpperCase() && !isAddress(value)) {
      throw new X402OfferError(`accepts.${index}.${field}: EVM address has a bad checksum`);
    }
    return getAddress(value);
  }
  if (!OPAQUE_ADDRESS.test(value)) {
    throw new X402OfferError(`accepts.${index}.${field}: not a valid address`);
  }
  return value;
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'offer is invalid';
  const path = issue.path.map(String).join('.');
  const text = path.length > 0 ? `${path}: ${issue.message}` : issue.message;
  return text.length > DETAIL_CHARS_MAX ? `${text.slice(0, DETAIL_CHARS_MAX - 3)}...` : text;
}

// Offers are frozen so the `raw` objects that must be echoed verbatim cannot be edited
// by accident between parsing and signing. The input is bounded by the safety walk.
function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  for (let step = 0; step < 100_000 && stack.length > 0; step++) {
    const item = stack.pop();
    if (item === null || typeof item !== 'object' || Object.isFrozen(item)) continue;
    Object.freeze(item);
    for (const child of Object.values(item)) stack.push(child);
  }
  return value;
}
