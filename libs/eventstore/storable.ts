import { DomainError } from '../domain/budget/errors.js';
import type { NewEvent } from './event-store.js';
import { encodeJson } from './json-codec.js';

// PostgreSQL refuses some JSON that JavaScript writes happily: a NUL character (\u0000) in
// any string or key, and a UTF-16 surrogate without its pair; it also has limits on depth
// and size, and on the instants a timestamptz holds. An event it refuses fails the whole
// transaction it is in, and with it every other command of the batch, so each command's
// events are checked here, before they join a batch, and only that command is refused.

/** Nesting of objects and arrays in one event at most; events are a few levels deep. */
export const EVENT_DEPTH_MAX = 32;
/**
 * Characters of strings and keys in one event at most: a request body is capped at 128 KiB,
 * and a batch of a thousand commands stays far below jsonb's 255 MB.
 */
export const EVENT_TEXT_CHARS_MAX = 256 * 1024;
// What a timestamptz column holds, written the way the governor writes instants (ISO-8601 with
// a zone); other spellings Date.parse accepts may mean something else to PostgreSQL.
const INSTANT_PATTERN = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,9})?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})$/;
// NUL is matched on purpose: it is what PostgreSQL refuses.
// eslint-disable-next-line no-control-regex
const SUSPECT_CHARACTER = /[\u0000\ud800-\udfff]/;
/** In JSON text: the escape JSON.stringify writes for a NUL, or for a surrogate it found unpaired. */
const SUSPECT_ESCAPE = /\\u(?:0000|d[89a-f])/;
// Matched on UTF-16 code units (no `u` flag): a high surrogate not followed by a low one, or a low one not preceded by a high one.
const UNPAIRED_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** `refused_by_store`: the database refused the command's events for a reason not checked here. */
export type UnstorableReason = 'nul_character' | 'unpaired_surrogate' | 'too_deep' | 'too_large' | 'invalid_instant' | 'refused_by_store';

/**
 * A command whose events the event store cannot hold. It is the command's own fault and
 * refuses only that command: a DomainError `invalid_command` (400) naming the field.
 */
export class UnstorableEventError extends DomainError {
  constructor(
    /** Where in the event, e.g. `data.metadata.note`; a key's own text is named as `data.metadata[key]`. */
    readonly field: string,
    readonly reason: UnstorableReason,
    message: string,
  ) {
    super('invalid_command', message);
    this.name = 'UnstorableEventError';
  }
}

/**
 * The event with its JSON encoded once (for the batch to reuse), when PostgreSQL can hold
 * it; throws UnstorableEventError naming the field otherwise.
 */
export function storableEvent(event: NewEvent): NewEvent {
  const encoded = { data: encodeJson(event.data), metadata: encodeJson(event.metadata) };
  // This runs for every event on the decision path, so it looks at the JSON text first:
  // JSON.stringify writes a NUL and an unpaired surrogate as \u escapes (and nothing else
  // but control characters), and an event cannot nest deeper than it has brackets. Only an
  // event that this finds suspect (a literal backslash-u in a text may look alike) is walked
  // to tell for sure and name the field.
  const suspect =
    encoded.data.length + encoded.metadata.length > EVENT_TEXT_CHARS_MAX ||
    SUSPECT_ESCAPE.test(encoded.data) ||
    SUSPECT_ESCAPE.test(encoded.metadata) ||
    SUSPECT_CHARACTER.test(event.type) ||
    bracketCount(encoded.data, EVENT_DEPTH_MAX) + bracketCount(encoded.metadata, EVENT_DEPTH_MAX) > EVENT_DEPTH_MAX;
  if (suspect || !INSTANT_PATTERN.test(event.occurredAt) || !Number.isFinite(Date.parse(event.occurredAt))) assertStorable(event);
  return { type: event.type, data: event.data, metadata: event.metadata, occurredAt: event.occurredAt, ...(event.schemaVersion === undefined ? {} : { schemaVersion: event.schemaVersion }), encoded };
}

/** Throws UnstorableEventError when PostgreSQL would refuse the event; returns otherwise. */
export function assertStorable(event: NewEvent): void {
  if (!INSTANT_PATTERN.test(event.occurredAt) || !Number.isFinite(Date.parse(event.occurredAt))) {
    throw new UnstorableEventError('at', 'invalid_instant', 'at: not an ISO-8601 instant with a time zone');
  }
  const budget = { chars: EVENT_TEXT_CHARS_MAX };
  checkText(event.type, 'type', budget);
  checkValue(event.data, 'data', 1, budget);
  checkValue(event.metadata, 'metadata', 1, budget);
}

/** Throws UnstorableEventError when PostgreSQL would refuse this text in a text or jsonb column. */
export function assertStorableText(text: string, field: string): void {
  checkText(text, field, { chars: EVENT_TEXT_CHARS_MAX });
}

/** How many objects and arrays the JSON opens, counted up to `max` + 1 (native scans: this is on the hot path). */
function bracketCount(json: string, max: number): number {
  let count = 0;
  for (const bracket of ['{', '[']) {
    for (let index = json.indexOf(bracket); index !== -1; index = json.indexOf(bracket, index + 1)) {
      count += 1;
      if (count > max) return count;
    }
  }
  return count;
}

function checkValue(value: unknown, path: string, depth: number, budget: { chars: number }): void {
  if (typeof value === 'string') {
    checkText(value, path, budget);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  if (depth > EVENT_DEPTH_MAX) throw new UnstorableEventError(path, 'too_deep', `${path}: nested deeper than ${EVENT_DEPTH_MAX} levels`);
  if (Array.isArray(value)) {
    value.forEach((item, index) => checkValue(item, `${path}[${index}]`, depth + 1, budget));
    return;
  }
  for (const [key, item] of Object.entries(value)) {
    checkText(key, `${path}[key]`, budget);
    checkValue(item, `${path}.${key}`, depth + 1, budget);
  }
}

function checkText(text: string, path: string, budget: { chars: number }): void {
  budget.chars -= text.length;
  if (budget.chars < 0) throw new UnstorableEventError(path, 'too_large', `the event holds more than ${EVENT_TEXT_CHARS_MAX} characters of text`);
  if (!SUSPECT_CHARACTER.test(text)) return;
  // Keys name the field only by path: a key is the caller's text and may be the bad part.
  const field = path.length > 200 ? `${path.slice(0, 200)}…` : path;
  if (text.includes('\u0000')) throw new UnstorableEventError(field, 'nul_character', `${field}: contains a NUL character (\\u0000)`);
  if (UNPAIRED_SURROGATE.test(text)) throw new UnstorableEventError(field, 'unpaired_surrogate', `${field}: contains an unpaired UTF-16 surrogate`);
}
