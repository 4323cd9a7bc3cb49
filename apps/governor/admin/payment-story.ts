import { createHash } from 'node:crypto';
import type pg from 'pg';
import { formatUsdMicros } from '../../../libs/domain/money.js';
import type { BudgetEvent } from '../../../libs/domain/budget/events.js';
import { reviveBigints } from '../../../libs/eventstore/json-codec.js';
import { openPaymentHeader } from '../../../libs/settlement/payment-headers.js';
import { processDataKeys } from '../../../libs/platform/data-keys.js';
import { decodeBase64Json } from '../../../libs/x402/encoding.js';
import { evmChainId } from '../../../libs/x402/networks.js';

// A payment's whole story, read from its events (by correlation id), its row in the read
// model, the offer the governor chose and the authorization the worker signed; and the
// receipt: the same story as one stable, versioned document whose parts can be checked
// without trusting Paybound (the signature against the payer, the transaction against the
// chain, the event hashes against the audit chain).

/** Events of one payment read at most: a payment has a dozen. */
const STORY_EVENTS_MAX = 200;
/** A stored payment header decoded at most this large. */
const HEADER_BYTES_MAX = 64 * 1024;

export interface StoryEvent {
  eventId: string;
  type: string;
  at: string;
  actor: string;
  streamId: string;
  streamVersion: number;
  globalPosition: string;
  hash: string;
  data: BudgetEvent['data'];
}

export interface PaymentRow {
  intent_id: string;
  org_id: string;
  team_id: string | null;
  session_id: string;
  agent_id: string;
  status: string;
  amount_micros: string;
  amount_atomic: string | null;
  asset: string | null;
  network: string | null;
  pay_to: string | null;
  resource: string | null;
  valid_before: Date | null;
  transaction: string | null;
  payer: string | null;
  reason: string | null;
  refusal: Record<string, unknown> | null;
  created_at: Date;
  created_at_exact: string;
  updated_at: Date;
}

// created_at_exact keeps the microseconds a Date would drop, so keyset cursors never skip or repeat a row.
export const PAYMENT_SELECT = `SELECT p.*, s.team_id, to_char(p.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS created_at_exact
  FROM payments_view p LEFT JOIN sessions_view s ON s.session_id = p.session_id`;

export function adminPaymentView(row: PaymentRow) {
  return {
    id: row.intent_id,
    orgId: row.org_id,
    teamId: row.team_id,
    agentId: row.agent_id,
    sessionId: row.session_id,
    status: row.status,
    amount: formatUsdMicros(BigInt(row.amount_micros)),
    amountAtomic: row.amount_atomic,
    asset: row.asset,
    network: row.network,
    payTo: row.pay_to,
    resource: row.resource,
    validBefore: row.valid_before?.toISOString() ?? null,
    transaction: row.transaction,
    payer: row.payer,
    reason: row.reason,
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  };
}

/** The org a payment belongs to, from its first event (the read model may not have caught up yet). */
export async function orgOfPayment(pool: pg.Pool, intentId: string): Promise<string | undefined> {
  if (intentId.length > 128) return undefined;
  const result = await pool.query<{ org_id: string }>(
    `SELECT metadata->>'orgId' AS org_id FROM events WHERE metadata->>'correlationId' = $1 AND type IN ('Reserved', 'ApprovalRequested', 'LimitExceeded') ORDER BY global_position LIMIT 1`,
    [intentId],
  );
  return result.rows[0]?.org_id;
}

export async function storyEvents(pool: pg.Pool, orgId: string, intentId: string): Promise<StoryEvent[]> {
  const result = await pool.query<{ event_id: string; type: string; stream_id: string; stream_version: string; global_position: string; data: unknown; actor: string; occurred_at: Date; hash: string }>(
    `SELECT event_id, type, stream_id, stream_version, global_position, data, metadata->>'actor' AS actor, occurred_at, encode(hash, 'hex') AS hash FROM events
     WHERE metadata->>'correlationId' = $1 AND metadata->>'orgId' = $2 ORDER BY global_position LIMIT ${STORY_EVENTS_MAX}`,
    [intentId, orgId],
  );
  return result.rows.map((row) => ({
    eventId: row.event_id,
    type: row.type,
    at: row.occurred_at.toISOString(),
    actor: row.actor,
    streamId: row.stream_id,
    streamVersion: Number(row.stream_version),
    globalPosition: row.global_position,
    hash: row.hash,
    data: reviveBigints<BudgetEvent['data']>(row.data),
  }));
}

interface OfferRow {
  x402_version: number;
  requirement_raw: Record<string, unknown>;
  resource_raw: unknown;
  extensions: unknown;
}

interface SignedPayload {
  signature: string;
  authorization: { from: string; to: string; value: string; validAfter: string; validBefore: string; nonce: string };
}

/** The signature and authorization inside a stored x402 payment header, or null when it holds none. */
function signedPayloadOf(headerValue: string): SignedPayload | null {
  const decoded = decodeBase64Json(headerValue, HEADER_BYTES_MAX) as { payload?: Partial<SignedPayload> } | null;
  const payload = decoded?.payload;
  if (typeof payload?.signature !== 'string' || typeof payload.authorization !== 'object') return null;
  return { signature: payload.signature, authorization: payload.authorization };
}

type EventData<T extends BudgetEvent['type']> = Extract<BudgetEvent, { type: T }>['data'];

function eventOf<T extends BudgetEvent['type']>(events: readonly StoryEvent[], type: T): (Omit<StoryEvent, 'data'> & { data: EventData<T> }) | undefined {
  const found = events.find((e) => e.type === type);
  return found === undefined ? undefined : { ...found, data: found.data as EventData<T> };
}

export async function paymentStory(pool: pg.Pool, row: PaymentRow) {
  const events = await storyEvents(pool, row.org_id, row.intent_id);
  const offer = (await pool.query<OfferRow>('SELECT x402_version, requirement_raw, resource_raw, extensions FROM payment_offers WHERE intent_id = $1', [row.intent_id])).rows[0];
  const reserved = eventOf(events, 'Reserved') ?? eventOf(events, 'ApprovalRequested');
  const refused = eventOf(events, 'LimitExceeded');
  const denied = eventOf(events, 'ApprovalDenied');
  const signed = eventOf(events, 'PaymentSigned');
  const reported = eventOf(events, 'SettlementReported');
  const settled = eventOf(events, 'Settled');
  const first = reserved ?? refused;
  return {
    payment: adminPaymentView(row),
    request: {
      method: reserved?.data.method ?? null,
      url: row.resource,
      // The hash of the agent's request as its Idempotency-Key was checked against; null without a key.
      requestHash: reserved?.data.requestHash ?? refused?.data.requestHash ?? null,
    },
    offer:
      offer === undefined
        ? null
        : { x402Version: offer.x402_version, received: { resource: offer.resource_raw, extensions: offer.extensions }, chosen: offer.requirement_raw, rejected: [] as { option: unknown; reason: string }[] },
    decision: {
      outcome: refused !== undefined ? 'refused' : denied !== undefined ? 'denied' : first?.type === 'ApprovalRequested' && eventOf(events, 'ApprovalGranted') === undefined ? 'awaiting_approval' : 'reserved',
      at: first?.at ?? null,
      policyVersion: reserved?.data.policyVersion ?? null,
      approval: first?.type === 'ApprovalRequested' || denied !== undefined ? { requested: true, granted: eventOf(events, 'ApprovalGranted') !== undefined, denied: denied?.data.reason ?? null } : null,
      refusal:
        refused === undefined
          ? null
          : {
              level: refused.data.level,
              code: refused.data.code,
              policySource: refused.data.policySource,
              limit: refused.data.limitMicros === null ? null : formatUsdMicros(refused.data.limitMicros),
              requested: formatUsdMicros(refused.data.requestedMicros),
              remaining: refused.data.remainingMicros === null ? null : formatUsdMicros(refused.data.remainingMicros),
            },
      shadowRefusals: events.filter((e) => e.type === 'ShadowRefusal').map((e) => ({ level: (e.data as { level: string }).level, code: (e.data as { code: string }).code })),
    },
    signature: signed === undefined ? null : { scheme: signed.data.scheme, payer: signed.data.payer, nonce: signed.data.nonce, validAfter: signed.data.validAfter, validBefore: signed.data.validBefore },
    sellerAnswer: reported === undefined ? null : { outcome: reported.data.outcome, detail: reported.data.detail, transaction: reported.data.transaction },
    chain: settled === undefined ? null : { network: settled.data.network, transaction: settled.data.transaction, payer: settled.data.payer, amountAtomic: settled.data.amountAtomic.toString(), settledAt: settled.data.settledAt },
    events: events.map((e) => ({ type: e.type, at: e.at, actor: e.actor, globalPosition: e.globalPosition, streamVersion: e.streamVersion, hash: e.hash })),
  };
}

/**
 * The receipt (version 1). The authorization and its signature are shown only once the
 * payment is settled: before that, they are a bearer authorization to pay.
 */
export async function paymentReceipt(pool: pg.Pool, row: PaymentRow) {
  const events = await storyEvents(pool, row.org_id, row.intent_id);
  const settled = eventOf(events, 'Settled');
  const reserved = eventOf(events, 'Reserved');
  let authorization: Record<string, unknown> | null = null;
  if (settled !== undefined && row.network !== null && row.asset !== null) {
    const stored = (await pool.query<{ intent_id: string; header_name: string; header_value: string; header_key_id: string | null }>('SELECT intent_id, header_name, header_value, header_key_id FROM payment_signatures WHERE intent_id = $1', [row.intent_id])).rows[0];
    const offer = (await pool.query<OfferRow>('SELECT x402_version, requirement_raw, resource_raw, extensions FROM payment_offers WHERE intent_id = $1', [row.intent_id])).rows[0];
    const signed = stored === undefined ? null : signedPayloadOf(openPaymentHeader(processDataKeys(), stored).value);
    const extra = (offer?.requirement_raw.extra ?? {}) as { name?: unknown; version?: unknown };
    const chainId = evmChainId(row.network);
    if (signed !== null && chainId !== undefined && typeof extra.name === 'string' && typeof extra.version === 'string') {
      authorization = {
        standard: 'EIP-3009 TransferWithAuthorization',
        typedData: {
          domain: { name: extra.name, version: extra.version, chainId, verifyingContract: row.asset },
          primaryType: 'TransferWithAuthorization',
          types: {
            TransferWithAuthorization: [
              { name: 'from', type: 'address' },
              { name: 'to', type: 'address' },
              { name: 'value', type: 'uint256' },
              { name: 'validAfter', type: 'uint256' },
              { name: 'validBefore', type: 'uint256' },
              { name: 'nonce', type: 'bytes32' },
            ],
          },
          message: signed.authorization,
        },
        signature: signed.signature,
        signer: signed.authorization.from,
      };
    }
  }
  const document = {
    receiptVersion: 1,
    paymentId: row.intent_id,
    orgId: row.org_id,
    teamId: row.team_id,
    agentId: row.agent_id,
    sessionId: row.session_id,
    status: row.status,
    request: { method: reserved?.data.method ?? null, url: row.resource, requestHash: reserved?.data.requestHash ?? null },
    amount: formatUsdMicros(BigInt(row.amount_micros)),
    amountAtomic: row.amount_atomic,
    asset: row.asset,
    network: row.network,
    payTo: row.pay_to,
    policyVersion: reserved?.data.policyVersion ?? null,
    authorization,
    settlement: settled === undefined ? null : { transaction: settled.data.transaction, payer: settled.data.payer, amountAtomic: settled.data.amountAtomic.toString(), settledAt: settled.data.settledAt },
    auditChain: {
      algorithm: 'sha256 over [previous hash hex, stream id, stream version, type, data, metadata, occurredAt] as canonical jsonb text (migration 060)',
      events: events.map((e) => ({ eventId: e.eventId, type: e.type, streamId: e.streamId, streamVersion: e.streamVersion, occurredAt: e.at, actor: e.actor, hash: e.hash })),
    },
  };
  return { ...document, documentSha256: createHash('sha256').update(JSON.stringify(document)).digest('hex') };
}
