import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { decodeOtlpSpans, type OtlpExport, type ReceivedSpan } from '../test/support/otlp-receiver.js';

// An OTLP/HTTP trace receiver for the paid bench, on a worker thread: the governor and the
// worker export a few hundred spans a second under load, and decoding their batches on the
// main thread would hold up the event loop that sends the measured requests and times them.
// The main thread asks for the spans of given trace ids when it needs them. Decoding is
// test/support/otlp-receiver.ts's, which the observability tests use.

export interface SpanReceiver {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT; the exporter appends /v1/traces. */
  endpoint: string;
  /** The spans received so far for these traces. */
  spansOf(traceIds: readonly string[]): Promise<Map<string, ReceivedSpan[]>>;
  /** Forgets every span received so far, so that a run's spans do not outlive it. */
  clear(): Promise<void>;
  stop(): Promise<void>;
}

type Question = { kind: 'spans'; traceIds: string[] } | { kind: 'clear' };
type Request = Question & { id: number };
type Reply = { kind: 'listening'; port: number } | { id: number; kind: 'spans'; spans: [string, ReceivedSpan[]][] } | { id: number; kind: 'cleared' };

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

function runReceiverThread(port: NonNullable<typeof parentPort>): void {
  let byTrace = new Map<string, ReceivedSpan[]>();
  let count = 0;
  const keep = (body: OtlpExport): void => {
    for (const span of decodeOtlpSpans(body)) {
      if (count >= SPANS_MAX) return;
      count += 1;
      const list = byTrace.get(span.traceId);
      if (list === undefined) byTrace.set(span.traceId, [span]);
      else list.push(span);
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
    const spans: [string, ReceivedSpan[]][] = message.traceIds.map((traceId) => [traceId, byTrace.get(traceId) ?? []]);
    port.postMessage({ id: message.id, kind: 'spans', spans } satisfies Reply);
  });
  server.listen(0, '127.0.0.1', () => port.postMessage({ kind: 'listening', port: (server.address() as AddressInfo).port } satisfies Reply));
}

if (!isMainThread && parentPort !== null && (workerData as { role?: unknown } | null)?.role === ROLE) runReceiverThread(parentPort);
