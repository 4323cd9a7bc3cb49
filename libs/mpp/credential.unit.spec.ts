import { Challenge, Credential, Receipt } from 'mppx';
import { charge as clientCharge } from 'mppx/evm/client';
import { Mppx, evm } from 'mppx/server';
import { recoverTypedDataAddress } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { describe, expect, it } from 'vitest';

import { acceptPaymentValue } from './accept-payment.js';
import { decodeBase64Url, encodeBase64Url } from './base64url.js';
import { parsePaymentChallenges, type PaymentChallenge } from './challenge.js';
import {
  buildPaymentCredential,
  evmAuthorizationPayload,
  evmChargeNonce,
  evmChargeSource,
  evmChargeTypedData,
  evmChargeValidBeforeSec,
} from './credential.js';
import { MppReceiptError } from './errors.js';
import { parseEvmChargeRequest, type EvmChargeRequest } from './evm-charge.js';
import { parsePaymentReceipt } from './receipt.js';

// Anvil's published development key #1: never holds value anywhere.
const PAYER = privateKeyToAccount('0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d');
const TOKEN = '0x5FbDB2315678afecb367f032d93F642f64180aa3';
const RECIPIENT = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';
const SECRET = 'credential-test-secret-long-enough-for-hmac';
const DOMAIN = { name: 'Test USD', version: '1' } as const;
const REALM = 'seller.example.test';

/** The official mppx EVM charge server, settling nowhere: only its verification runs here. */
function mppxServer(settled: unknown[]) {
  return Mppx.create({
    methods: [
      evm.charge({
        currency: TOKEN,
        recipient: RECIPIENT,
        chainId: 31337,
        decimals: 6,
        authorization: DOMAIN,
        settle: (authorization) => {
          settled.push(authorization.payload);
          return Promise.resolve({ reference: `0x${'ab'.repeat(32)}` });
        },
      }),
    ],
    secretKey: SECRET,
    realm: REALM,
  });
}

async function challengeFrom(response: Response): Promise<{ challenge: PaymentChallenge; request: EvmChargeRequest }> {
  expect(response.status).toBe(402);
  await response.arrayBuffer();
  const [parsed] = parsePaymentChallenges(response.headers.get('WWW-Authenticate') ?? '');
  if (parsed === undefined || !parsed.ok) throw new Error('the mppx server sent no usable challenge');
  const request = parseEvmChargeRequest(parsed.challenge);
  if (!request.ok) throw new Error(request.detail);
  return { challenge: parsed.challenge, request: request.request };
}

async function signCredential(challenge: PaymentChallenge, request: EvmChargeRequest, nowSec: number) {
  const validBeforeSec = evmChargeValidBeforeSec(challenge, nowSec, { windowMaxSec: 3_600, marginSec: 10 });
  if (validBeforeSec === undefined) throw new Error('challenge expired');
  const typedData = evmChargeTypedData({ challenge, request, from: PAYER.address, domain: DOMAIN, validBeforeSec });
  const signature = await PAYER.signTypedData(typedData);
  return buildPaymentCredential({
    challenge,
    payload: evmAuthorizationPayload(signature, typedData.message),
    source: evmChargeSource(request.chainId, PAYER.address),
  });
}

describe('the evm/charge credential against the official mppx server', () => {
  it('is accepted, and the server settles exactly the signed authorization', async () => {
    const settled: unknown[] = [];
    const handler = mppxServer(settled).charge({ amount: '0.01' });
    const url = 'http://seller.example.test/report';
    const unpaid = await handler(new Request(url));
    if (unpaid.status !== 402) throw new Error('expected a challenge');
    const { challenge, request } = await challengeFrom(unpaid.challenge);
    expect(request.amountAtomic).toBe(10_000n);

    const credential = await signCredential(challenge, request, Math.floor(Date.now() / 1000));
    expect(credential.name).toBe('Authorization');
    const paid = await handler(new Request(url, { headers: { [credential.name]: credential.value } }));
    expect(paid.status).toBe(200);
    if (paid.status !== 200) return;
    const receiptHeader = paid.withReceipt(new Response('ok')).headers.get('Payment-Receipt');
    expect(parsePaymentReceipt(receiptHeader ?? '')).toMatchObject({ status: 'success', method: 'evm', reference: `0x${'ab'.repeat(32)}` });
    expect(settled).toHaveLength(1);
    expect(settled[0]).toMatchObject({ type: 'authorization', from: PAYER.address, to: RECIPIENT, value: '10000', nonce: evmChargeNonce(challenge) });
  });

  it('echoes the challenge so exactly that the server HMAC still verifies', async () => {
    const handler = mppxServer([]).charge({ amount: '0.01', description: 'A "quoted" report — with an em dash' });
    const unpaid = await handler(new Request('http://seller.example.test/report'));
    if (unpaid.status !== 402) throw new Error('expected a challenge');
    const { challenge, request } = await challengeFrom(unpaid.challenge);
    const credential = await signCredential(challenge, request, Math.floor(Date.now() / 1000));
    const decoded = Credential.deserialize(credential.value);
    expect(Challenge.verify(decoded.challenge, { secretKey: SECRET })).toBe(true);
    expect(decoded.challenge.description).toBe('A "quoted" report — with an em dash');
    // One byte changed in the echo (the expiry moved by a millisecond) and it no longer does.
    const tampered = JSON.parse(Buffer.from(decodeBase64Url(credential.value.slice('Payment '.length)) ?? []).toString('utf8')) as {
      challenge: Record<string, string>;
    };
    tampered.challenge['expires'] = new Date(Date.parse(tampered.challenge['expires'] ?? '') + 1).toISOString();
    const forged = Credential.deserialize(`Payment ${encodeBase64Url(JSON.stringify(tampered))}`);
    expect(Challenge.verify(forged.challenge, { secretKey: SECRET })).toBe(false);
  });

  it('is refused by the server when the nonce is not the challenge hash (an intent-derived nonce would fail)', async () => {
    const settled: unknown[] = [];
    const handler = mppxServer(settled).charge({ amount: '0.01' });
    const unpaid = await handler(new Request('http://seller.example.test/report'));
    if (unpaid.status !== 402) throw new Error('expected a challenge');
    const { challenge, request } = await challengeFrom(unpaid.challenge);
    const nowSec = Math.floor(Date.now() / 1000);
    const typedData = evmChargeTypedData({ challenge, request, from: PAYER.address, domain: DOMAIN, validBeforeSec: nowSec + 120 });
    const message = { ...typedData.message, nonce: `0x${'11'.repeat(32)}` as const };
    const signature = await PAYER.signTypedData({ ...typedData, message });
    const credential = buildPaymentCredential({ challenge, payload: evmAuthorizationPayload(signature, message) });
    const paid = await handler(new Request('http://seller.example.test/report', { headers: { Authorization: credential.value } }));
    expect(paid.status).toBe(402);
    expect(settled).toHaveLength(0);
  });
});

describe('the evm/charge credential against the official mppx client', () => {
  it('matches what mppx signs for the same challenge, byte for byte once decoded', async () => {
    const header = Challenge.serialize(
      Challenge.from({
        realm: REALM,
        method: 'evm',
        intent: 'charge',
        request: { amount: '25000', currency: TOKEN, recipient: RECIPIENT, methodDetails: { chainId: 31337, credentialTypes: ['authorization'], decimals: 6 } },
        expires: '2031-05-06T07:08:09.000Z',
        secretKey: SECRET,
      }),
    );
    const theirs = await clientCharge({ account: PAYER, authorization: DOMAIN }).createCredential({
      challenge: Challenge.deserialize(header) as never,
      context: {},
    });
    const [parsed] = parsePaymentChallenges(header);
    if (parsed === undefined || !parsed.ok) throw new Error('unusable');
    const request = parseEvmChargeRequest(parsed.challenge);
    if (!request.ok) throw new Error(request.detail);
    // mppx signs until the challenge expires; the window cap is set wide enough not to bind.
    const nowSec = Date.parse('2031-05-06T07:00:00Z') / 1000;
    const validBeforeSec = evmChargeValidBeforeSec(parsed.challenge, nowSec, { windowMaxSec: 86_400, marginSec: 10 });
    expect(validBeforeSec).toBe(Date.parse('2031-05-06T07:08:09Z') / 1000);
    const typedData = evmChargeTypedData({ challenge: parsed.challenge, request: request.request, from: PAYER.address, domain: DOMAIN, validBeforeSec: validBeforeSec ?? 0 });
    const ours = buildPaymentCredential({
      challenge: parsed.challenge,
      payload: evmAuthorizationPayload(await PAYER.signTypedData(typedData), typedData.message),
      source: evmChargeSource(31337, PAYER.address),
    });
    const decode = (value: string): unknown => JSON.parse(Buffer.from(decodeBase64Url(value.slice('Payment '.length)) ?? []).toString('utf8'));
    expect(decode(ours.value)).toEqual(decode(theirs));
  });

  it('signs typed data the server-side recovery attributes to the payer', async () => {
    const [parsed] = parsePaymentChallenges(
      Challenge.serialize(
        Challenge.from({
          id: 'fixed-id',
          realm: REALM,
          method: 'evm',
          intent: 'charge',
          request: { amount: '1', currency: TOKEN, recipient: RECIPIENT, methodDetails: { chainId: 31337 } },
        }),
      ),
    );
    if (parsed === undefined || !parsed.ok) throw new Error('unusable');
    const request = parseEvmChargeRequest(parsed.challenge);
    if (!request.ok) throw new Error(request.detail);
    const typedData = evmChargeTypedData({ challenge: parsed.challenge, request: request.request, from: PAYER.address, domain: DOMAIN, validBeforeSec: 2_000_000_000 });
    expect(typedData.message.nonce).toBe(evmChargeNonce({ id: 'fixed-id', realm: REALM }));
    expect(await recoverTypedDataAddress({ ...typedData, signature: await PAYER.signTypedData(typedData) })).toBe(PAYER.address);
  });
});

describe('validBefore of an evm/charge authorization', () => {
  const at = (iso: string) => ({ expiresAtMs: Date.parse(iso) });
  it('is the expiry, capped by the window, and undefined when too little time is left', () => {
    const now = Date.parse('2030-01-01T00:00:00Z') / 1000;
    const options = { windowMaxSec: 300, marginSec: 10 };
    expect(evmChargeValidBeforeSec(at('2030-01-01T00:01:00.900Z'), now, options)).toBe(now + 60);
    expect(evmChargeValidBeforeSec(at('2031-01-01T00:00:00Z'), now, options)).toBe(now + 300);
    expect(evmChargeValidBeforeSec({}, now, options)).toBe(now + 300);
    expect(evmChargeValidBeforeSec(at('2030-01-01T00:00:10Z'), now, options)).toBe(now + 10);
    expect(evmChargeValidBeforeSec(at('2030-01-01T00:00:09.999Z'), now, options)).toBeUndefined();
    expect(evmChargeValidBeforeSec(at('2029-12-31T23:00:00Z'), now, options)).toBeUndefined();
  });

  it('refuses to build one authorization for a charge with splits', () => {
    const [parsed] = parsePaymentChallenges(
      Challenge.serialize(
        Challenge.from({
          id: 'x',
          realm: REALM,
          method: 'evm',
          intent: 'charge',
          request: { amount: '100', currency: TOKEN, recipient: RECIPIENT, methodDetails: { chainId: 31337, splits: [{ amount: '10', recipient: TOKEN }] } },
        }),
      ),
    );
    if (parsed === undefined || !parsed.ok) throw new Error('unusable');
    const request = parseEvmChargeRequest(parsed.challenge);
    if (!request.ok) throw new Error(request.detail);
    expect(() => evmChargeTypedData({ challenge: parsed.challenge, request: request.request, from: PAYER.address, domain: DOMAIN, validBeforeSec: 2_000_000_000 })).toThrow(/splits/);
  });
});

describe('Payment-Receipt', () => {
  const receipt = { method: 'evm', reference: `0x${'cd'.repeat(32)}`, status: 'success', timestamp: '2030-01-01T00:00:00.000Z' } as const;

  it('reads what mppx writes, keeping extra members', () => {
    const value = Receipt.serialize(Receipt.from({ ...receipt, externalId: 'order-7', blockNumber: '12' }));
    expect(parsePaymentReceipt(value)).toEqual({ ...receipt, externalId: 'order-7', raw: { ...receipt, externalId: 'order-7', blockNumber: '12' } });
  });

  const bad: Array<[string, string, RegExp]> = [
    ['empty', '', /1\.\./],
    ['standard base64', Buffer.from(JSON.stringify({ ...receipt, reference: '0x??>>' })).toString('base64'), /base64url/],
    ['not JSON', encodeBase64Url('nope'), /JSON/],
    ['a failure status', encodeBase64Url(JSON.stringify({ ...receipt, status: 'failed' })), /status/],
    ['an evm reference that is not a hash', encodeBase64Url(JSON.stringify({ ...receipt, reference: 'pending' })), /transaction hash/],
    ['a bad timestamp', encodeBase64Url(JSON.stringify({ ...receipt, timestamp: 'yesterday' })), /timestamp/],
    ['too large', encodeBase64Url(JSON.stringify({ ...receipt, pad: 'x'.repeat(9_000) })), /characters/],
    ['a __proto__ member', encodeBase64Url(`{"__proto__":{},"method":"evm"}`), /forbidden/],
  ];
  it.each(bad)('refuses %s', (_name, value, detail) => {
    expect(() => parsePaymentReceipt(value)).toThrow(MppReceiptError);
    expect(() => parsePaymentReceipt(value)).toThrow(detail);
  });
});

describe('Accept-Payment', () => {
  it('names what Paybound pays, and formats preferences as mppx does', () => {
    expect(acceptPaymentValue()).toBe('evm/charge');
    expect(acceptPaymentValue([{ method: 'evm', intent: 'charge' }, { method: 'tempo', intent: 'charge', q: 0.5 }, { method: 'stripe', intent: 'charge', q: 0 }])).toBe(
      'evm/charge, tempo/charge;q=0.5, stripe/charge;q=0',
    );
    expect(() => acceptPaymentValue([{ method: 'evm', intent: 'charge', q: 0.1234 }])).toThrow(RangeError);
    expect(() => acceptPaymentValue([{ method: 'EVM', intent: 'charge' }])).toThrow(RangeError);
    expect(() => acceptPaymentValue([])).toThrow(RangeError);
  });
});
