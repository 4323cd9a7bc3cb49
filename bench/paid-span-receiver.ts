import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { TimedSpan } from './paid-spans.js';

// An OTLP/HTTP trace receiver for the paid bench, on a worker thread: the governor and the
// worker export a few hundred spans a second under load, and decoding their batches on the
// main thread would hold up the event loop that sends the measured requests and times them.
// The main thread asks for the spans of given trace ids when it needs them.

export interface SpanReceiver {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT; the exporter appends /v1/traces. */
  endpoint: string;
  /** The spans received so far for these traces. */
  spansOf(traceIds: readonly string[]): Promise<Map<string, TimedSpan[]>>;
  /** Forgets every span received so far, so that a run's spans do not outlive it. */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttribute[] };
    scopeSpans?: { spans?: { traceId: string; spanId: string; parentSpanId?: string; name: string; startTimeUnixNano: string | number; endTimeUnixNano: string | number; attributes?: OtlpAttribute[] }[] }[];
  }[];
}

type Question = { kind: 'spans'; traceIds: string[] } | { kind: 'clear' };
type Request = Question & { id: number };
type Reply = { kind: 'listening'; port: number } | { id: number; kind: 'spans'; spans: [string, TimedSpan[]][] } | { id: number; kind: 'cleared' };

const ROLE = 'paid-span-receiver';
/** One export is a batch of at most OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans; this bounds it generously. */
const EXPORT_BYTES_MAX = 64 * 1024 * 1024;
/** Spans kept at most; beyond, new ones are dropped, so a long run cannot exhaust memory. */
const SPANS_MAX = 2_000_000;

export async function startSpanReceiver(): Promise<SpanReceiver> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { role: ROLE } });
  const waiting = new Map<number, (reply: Reply) => void>();
  let nextId = 0;
  let failure: Error | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    worker.on('message', (reply: Reply) => {
      if (reply.kind === 'listening') resolve(reply.port);
      else waiting.get(reply.id)?.(reply);
    });
    const end = (error: Error): void => {
      failure ??= error;
      reject(error);
      for (const settle of waiting.values()) settle({ id: -1, kind: 'cleared' });
    };
    worker.on('error', end);
    worker.on('exit', (code) => end(new Error(`the span receiver thread exited with code ${code}`)));
  });
  const ask = (request: Question): Promise<Reply> => {
    if (failure !== undefined) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<Reply>((resolve) => {
      waiting.set(id, (reply) => {
        waiting.delete(id);
        resolve(reply);
      });
      worker.postMessage({ ...request, id });
    });
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spansOf: async (traceIds) => {
      const reply = await ask({ kind: 'spans', traceIds: [...traceIds] });
      if (failure !== undefined) throw failure;
      return new Map(reply.kind === 'spans' ? reply.spans : []);
    },
    clear: async () => {
      await ask({ kind: 'clear' });
    },
    stop: async () => {
      await worker.terminate();
    },
  };
}

function attributesOf(list: OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
  }
  return out;
}

/** Nanoseconds since the epoch (a decimal string in OTLP/JSON) as milliseconds; 2^53 µs is beyond the year 2200. */
function nanosToMs(nanos: string | number): number {
  return Number(BigInt(nanos) / 1_000n) / 1_000;
}

function runReceiverThread(port: NonNullable<typeof parentPort>): void {
  let byTrace = new Map<string, TimedSpan[]>();
  let count = 0;
  const keep = (body: OtlpExport): void => {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const service = String(attributesOf(resourceSpans.resource?.attributes)['service.name'] ?? '');
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          if (count >= SPANS_MAX) return;
          count += 1;
          const timed: TimedSpan = {
            service,
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            name: span.name,
            attributes: attributesOf(span.attributes),
            startMs: nanosToMs(span.startTimeUnixNano),
            endMs: nanosToMs(span.endTimeUnixNano),
          };
          const list = byTrace.get(timed.traceId);
          if (list === undefined) byTrace.set(timed.traceId, [timed]);
          else list.push(timed);
        }
      }
    }
  };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= EXPORT_BYTES_MAX) chunks.push(chunk);
    });
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces' || size > EXPORT_BYTES_MAX) {
        response.writeHead(404).end();
        return;
      }
      try {
        keep(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport);
      } catch {
        response.writeHead(400).end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  port.on('message', (message: Request) => {
    if (message.kind === 'clear') {
      byTrace = new Map();
      count = 0;
      port.postMessage({ id: message.id, kind: 'cleared' } satisfies Reply);
      return;
    }
    const spans: [string, TimedSpan[]][] = message.traceIds.map((traceId) => [traceId, byTrace.get(traceId) ?? []]);
    port.postMessage({ id: message.id, kind: 'spans', spans } satisfies Reply);
  });
  server.listen(0, '127.0.0.1', () => port.postMessage({ kind: 'listening', port: (server.address() as AddressInfo).port } satisfies Reply));
}

if (!isMainThread && parentPort !== null && (workerData as { role?: unknown } | null)?.role === ROLE) runReceiverThread(parentPort);
