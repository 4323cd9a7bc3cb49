import { describe, expect, it } from 'vitest';
import type { NewEvent } from './event-store.js';
import { encodeJson } from './json-codec.js';
import { assertStorable, assertStorableText, EVENT_DEPTH_MAX, EVENT_TEXT_CHARS_MAX, storableEvent, UnstorableEventError } from './storable.js';

const metadata = { actor: 'agent:a', orgId: 'o', correlationId: 'c' };
const event = (data: unknown, overrides: Partial<NewEvent> = {}): NewEvent => ({ type: 'SessionOpened', data, metadata, occurredAt: '2026-11-25T10:00:00.000Z', ...overrides });

function refusal(run: () => void): { reason: string; field: string; code: string } | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    if (!(error instanceof UnstorableEventError)) throw error;
    return { reason: error.reason, field: error.field, code: error.code };
  }
}

describe('what the event store can hold', () => {
  it('accepts ordinary events, paired surrogates (emoji), other control characters and bigints', () => {
    expect(refusal(() => assertStorable(event({ note: 'fine ✓ 😀 \t\u0001', amountMicros: 10n ** 18n, list: [1, null, true], nested: { a: { b: 'c' } } })))).toBeUndefined();
  });

  it.each([
    ['NUL in a value', { metadata: { k: 'a\u0000' } }, 'nul_character', 'data.metadata.k'],
    ['NUL in a key', { metadata: { 'k\u0000': 'a' } }, 'nul_character', 'data.metadata[key]'],
    ['NUL in an array item', { list: ['ok', '\u0000'] }, 'nul_character', 'data.list[1]'],
    ['a lone high surrogate', { s: '\ud800' }, 'unpaired_surrogate', 'data.s'],
    ['a high surrogate before a non-surrogate', { s: '\ud83dx' }, 'unpaired_surrogate', 'data.s'],
    ['a lone low surrogate', { s: 'a\udc00' }, 'unpaired_surrogate', 'data.s'],
    ['two high surrogates', { s: '\ud83d\ud83d' }, 'unpaired_surrogate', 'data.s'],
  ])('refuses %s, naming the field', (_case, data, reason, field) => {
    expect(refusal(() => assertStorable(event(data)))).toEqual({ code: 'invalid_command', reason, field });
    expect(refusal(() => storableEvent(event(data)))).toEqual({ code: 'invalid_command', reason, field });
  });

  it('encodes an event once, as the store would, and lets a literal backslash-u text through', () => {
    const data = { note: 'C:\\u0000 and \\ud800 written out', amountMicros: 5n };
    const stored = storableEvent(event(data));
    expect(stored.encoded).toEqual({ data: encodeJson(data), metadata: encodeJson(metadata) });
    expect(JSON.parse(stored.encoded?.data ?? '')).toEqual({ note: 'C:\\u0000 and \\ud800 written out', amountMicros: '5' });
  });

  it('checks the metadata and the type as well as the data', () => {
    expect(refusal(() => assertStorable(event({}, { metadata: { ...metadata, correlationId: 'x\u0000' } })))).toMatchObject({ reason: 'nul_character', field: 'metadata.correlationId' });
    expect(refusal(() => assertStorable(event({}, { type: 'T\ud800' })))).toMatchObject({ reason: 'unpaired_surrogate', field: 'type' });
  });

  it('bounds depth and text', () => {
    let deep: unknown = 'leaf';
    for (let i = 0; i < EVENT_DEPTH_MAX; i++) deep = { d: deep };
    expect(refusal(() => assertStorable(event(deep)))).toBeUndefined();
    expect(refusal(() => assertStorable(event({ d: deep })))).toMatchObject({ reason: 'too_deep' });
    expect(refusal(() => storableEvent(event({ d: deep })))).toMatchObject({ reason: 'too_deep' });
    expect(refusal(() => storableEvent(event({ s: 'x'.repeat(EVENT_TEXT_CHARS_MAX) })))).toMatchObject({ reason: 'too_large' });
    expect(refusal(() => assertStorable(event({ s: 'x'.repeat(EVENT_TEXT_CHARS_MAX - 200) })))).toBeUndefined();
    expect(refusal(() => assertStorable(event({ s: 'x'.repeat(EVENT_TEXT_CHARS_MAX) })))).toMatchObject({ reason: 'too_large' });
  });

  it.each(['', 'yesterday', '2026-11-25', '2026-13-45T10:00:00Z', '+275760-09-13T00:00:00.000Z', '2026-11-25T10:00:00.000'])('refuses the instant %j', (occurredAt) => {
    expect(refusal(() => assertStorable(event({}, { occurredAt })))).toMatchObject({ reason: 'invalid_instant', field: 'at' });
    expect(refusal(() => storableEvent(event({}, { occurredAt })))).toMatchObject({ reason: 'invalid_instant', field: 'at' });
  });

  it('checks a single text such as an org id', () => {
    expect(refusal(() => assertStorableText('org-1', 'orgId'))).toBeUndefined();
    expect(refusal(() => assertStorableText('o\u0000', 'orgId'))).toMatchObject({ reason: 'nul_character', field: 'orgId' });
  });
});
