import type { LogEvent, TopicMessage, Violations } from './model.js';

// The topic judge: the Kafka topic read from the beginning must hold every event of the log
// exactly once, as a CloudEvents 1.0 JSON envelope keyed by its org (by stream for org-less
// events), with each stream's events in stream order within one partition.

export interface IndexedEvent {
  streamId: string;
  streamVersion: number;
  orgId: string;
  type: string;
  schemaVersion: number;
  /** The payment the event is about, if any: what a lost event leaves undone. */
  intentId: string;
}

export interface TopicFigures {
  messages: number;
  distinctEvents: number;
  logEvents: number;
  duplicates: number;
  missing: number;
  unknown: number;
  /** Streams whose events went backwards in a partition, counting every message. */
  streamsOutOfOrderRaw: number;
  /** The same after dropping repeated event ids, as a consumer that dedupes by id sees it. */
  streamsOutOfOrderDeduplicated: number;
  partitions: number;
}

/** `LimitExceeded` → `paybound.limit_exceeded.v1`, written here again rather than imported. */
export function expectedCloudEventType(type: string, schemaVersion: number): string {
  return `paybound.${type.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase()}.v${schemaVersion}`;
}

export function indexEvent(event: LogEvent): IndexedEvent {
  const intentId = event.data.intentId;
  return { streamId: event.streamId, streamVersion: event.streamVersion, orgId: event.orgId, type: event.type, schemaVersion: event.schemaVersion, intentId: typeof intentId === 'string' ? intentId : '' };
}

/** Fed the topic's messages in partition order, one at a time, so that no message needs keeping. */
export class TopicJudge {
  private readonly seen = new Map<string, number>();
  // Per partition and stream: the last version seen (raw) and the last new one (deduplicated).
  private readonly lastRaw = new Map<string, number>();
  private readonly lastNew = new Map<string, number>();
  private readonly outOfOrderRaw = new Set<string>();
  private readonly outOfOrderDeduplicated = new Set<string>();
  private readonly partitionOfKey = new Map<string, number>();
  private readonly partitions = new Set<number>();
  private count = 0;
  private unknown = 0;
  private duplicates = 0;

  constructor(
    private readonly log: ReadonlyMap<string, IndexedEvent>,
    private readonly violations: Violations,
  ) {}

  add(message: TopicMessage): void {
    const violations = this.violations;
    this.count += 1;
    this.partitions.add(message.partition);
    let envelope: Record<string, unknown>;
    try {
      envelope = JSON.parse(message.value) as Record<string, unknown>;
    } catch {
      violations.add({ invariant: 'topic_envelope', detail: `message ${message.partition}/${message.offset} is not JSON` });
      return;
    }
    const id = typeof envelope.id === 'string' ? envelope.id : '';
    const event = this.log.get(id);
    if (event === undefined) {
      this.unknown += 1;
      violations.add({ invariant: 'topic_exactly_once', detail: `message ${message.partition}/${message.offset} carries event ${id || '(no id)'}, which is not in the log` });
      return;
    }
    const times = (this.seen.get(id) ?? 0) + 1;
    this.seen.set(id, times);
    if (times > 1) this.duplicates += 1;
    if (times === 2) violations.add({ invariant: 'topic_exactly_once', detail: `event ${id} (${event.type} ${event.streamId} v${event.streamVersion}) is on the topic more than once (again at ${message.partition}/${message.offset})`, orgId: event.orgId });
    const expectedKey = event.orgId === '' ? event.streamId : event.orgId;
    const type = expectedCloudEventType(event.type, event.schemaVersion);
    if (
      message.key !== expectedKey ||
      envelope.specversion !== '1.0' ||
      envelope.type !== type ||
      envelope.streamid !== event.streamId ||
      envelope.streamversion !== event.streamVersion ||
      envelope.orgid !== event.orgId ||
      envelope.datacontenttype !== 'application/json' ||
      typeof envelope.data !== 'object'
    ) {
      violations.add({ invariant: 'topic_envelope', detail: `event ${id}: key ${message.key} / type ${String(envelope.type)} / stream ${String(envelope.streamid)} v${String(envelope.streamversion)} do not match the log (${expectedKey}, ${type}, ${event.streamId} v${event.streamVersion})`, orgId: event.orgId });
    }
    const partition = this.partitionOfKey.get(expectedKey);
    if (partition === undefined) this.partitionOfKey.set(expectedKey, message.partition);
    else if (partition !== message.partition) violations.add({ invariant: 'topic_order', detail: `key ${expectedKey} is in partitions ${partition} and ${message.partition}`, orgId: event.orgId });
    const streamKey = `${message.partition}\u0000${event.streamId}`;
    if (event.streamVersion <= (this.lastRaw.get(streamKey) ?? 0)) this.outOfOrderRaw.add(streamKey);
    this.lastRaw.set(streamKey, event.streamVersion);
    if (times === 1) {
      const previousNew = this.lastNew.get(streamKey) ?? 0;
      if (event.streamVersion !== previousNew + 1 && !this.outOfOrderDeduplicated.has(streamKey)) {
        this.outOfOrderDeduplicated.add(streamKey);
        violations.add({ invariant: 'topic_order', detail: `stream ${event.streamId}: v${event.streamVersion} follows v${previousNew} in partition ${message.partition}`, orgId: event.orgId });
      }
      this.lastNew.set(streamKey, event.streamVersion);
    }
  }

  finish(): TopicFigures {
    let missing = 0;
    for (const [id, event] of this.log) {
      if (this.seen.has(id)) continue;
      missing += 1;
      this.violations.add({
        invariant: 'topic_exactly_once',
        detail: `event ${id} (${event.type} ${event.streamId} v${event.streamVersion}${event.intentId === '' ? '' : `, intent ${event.intentId}`}) is missing from the topic`,
        orgId: event.orgId,
        ...(event.intentId === '' ? {} : { intentId: event.intentId }),
      });
    }
    return {
      messages: this.count,
      distinctEvents: this.seen.size,
      logEvents: this.log.size,
      duplicates: this.duplicates,
      missing,
      unknown: this.unknown,
      streamsOutOfOrderRaw: this.outOfOrderRaw.size,
      streamsOutOfOrderDeduplicated: this.outOfOrderDeduplicated.size,
      partitions: this.partitions.size,
    };
  }
}
