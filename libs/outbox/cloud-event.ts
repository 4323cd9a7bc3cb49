import type { RecordedEvent } from '../eventstore/event-store.js';
import { encodeJson, reviveBigints } from '../eventstore/json-codec.js';

/** `LimitExceeded` → `paybound.limit_exceeded.v1`: the CloudEvents `type` on Kafka. */
export function cloudEventType(eventType: string, schemaVersion = 1): string {
  const snake = eventType.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  return `paybound.${snake}.v${schemaVersion}`;
}

export interface CloudEventEnvelope {
  specversion: '1.0';
  id: string;
  source: string;
  type: string;
  subject: string;
  time: string;
  datacontenttype: 'application/json';
  dataschema: string;
  orgid: string;
  streamid: string;
  streamversion: number;
  position: string;
  actor: string;
  correlationid: string;
  traceparent?: string;
  data: unknown;
}

/**
 * The structured-mode CloudEvents 1.0 JSON of one stored event. Paybound's envelope fields
 * travel as extension attributes (lower-case names, as the spec requires); money in `data`
 * is a decimal string of the unit its field name ends with.
 */
export function toCloudEvent(event: RecordedEvent): CloudEventEnvelope {
  const type = cloudEventType(event.type, event.schemaVersion);
  return {
    specversion: '1.0',
    id: event.eventId,
    source: 'urn:paybound:governor',
    type,
    subject: event.metadata.correlationId,
    time: event.occurredAt,
    datacontenttype: 'application/json',
    dataschema: `urn:paybound:schema:${type}`,
    orgid: event.metadata.orgId,
    streamid: event.streamId,
    streamversion: event.streamVersion,
    position: event.globalPosition.toString(),
    actor: event.metadata.actor,
    correlationid: event.metadata.correlationId,
    ...(event.metadata.traceparent === undefined ? {} : { traceparent: event.metadata.traceparent }),
    data: JSON.parse(encodeJson(event.data)) as unknown,
  };
}

/**
 * The stored event a CloudEvent was made from, as far as Kafka carries it (the commit's
 * transaction id stays in Postgres). Money fields come back as bigint, as from the store.
 */
export function fromCloudEvent(envelope: CloudEventEnvelope, eventType: string): RecordedEvent {
  return {
    eventId: envelope.id,
    type: eventType,
    streamId: envelope.streamid,
    streamVersion: envelope.streamversion,
    globalPosition: BigInt(envelope.position),
    transactionId: '',
    schemaVersion: Number(/\.v(\d+)$/.exec(envelope.type)?.[1] ?? 1),
    data: reviveBigints(envelope.data),
    metadata: {
      actor: envelope.actor,
      correlationId: envelope.correlationid,
      orgId: envelope.orgid,
      ...(envelope.traceparent === undefined ? {} : { traceparent: envelope.traceparent }),
    },
    occurredAt: envelope.time,
  };
}
