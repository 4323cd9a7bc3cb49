import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CloudEventEnvelope } from '../../libs/outbox/cloud-event.js';

// A webhook receiver on 127.0.0.1 for tests: records every request with its raw body and
// headers, and can be down (port closed), unavailable (503) or hanging (holds requests open).

export type ReceiverMode = 'ok' | 'unavailable' | 'hang';

export interface ReceivedRequest {
  path: string;
  headers: IncomingHttpHeaders;
  rawBody: string;
  envelope: CloudEventEnvelope;
  receivedAtMs: number;
  /** The status answered; undefined while held open. */
  answered: number | undefined;
  /** When the sender gave up on a held request (closed its connection). */
  abortedAtMs: number | undefined;
}

const BODY_BYTES_MAX = 1024 * 1024;
const CLOSE_TIMEOUT_MS = 3_000;
const WAIT_STEP_MS = 50;

export class WebhookReceiver {
  readonly requests: ReceivedRequest[] = [];
  mode: ReceiverMode = 'ok';
  private server: Server | undefined;
  private readonly held = new Map<ReceivedRequest, ServerResponse>();

  private constructor(readonly port: number) {}

  /** Starts listening on a free port; `down` starts it with the port closed (connections refused). */
  static async start(options: { down?: boolean } = {}): Promise<WebhookReceiver> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const receiver = new WebhookReceiver(port);
    if (options.down !== true) await receiver.up();
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Requests answered 2xx on a path. */
  accepted(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path && r.answered !== undefined && r.answered >= 200 && r.answered < 300);
  }

  onPath(path: string): ReceivedRequest[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** Requests held open right now. */
  openCount(): number {
    return this.held.size;
  }

  /** Answers every held request with `status`. */
  release(status = 200): void {
    for (const [request, response] of this.held) {
      request.answered = status;
      response.writeHead(status).end();
    }
    this.held.clear();
  }

  async up(): Promise<void> {
    if (this.server !== undefined) return;
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      request.on('data', (chunk: Buffer) => {
        bytes += chunk.byteLength;
        if (bytes > BODY_BYTES_MAX) request.destroy();
        else chunks.push(chunk);
      });
      request.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        const received: ReceivedRequest = {
          path: request.url ?? '',
          headers: request.headers,
          rawBody,
          envelope: JSON.parse(rawBody) as CloudEventEnvelope,
          receivedAtMs: Date.now(),
          answered: undefined,
          abortedAtMs: undefined,
        };
        this.requests.push(received);
        if (this.mode === 'hang') {
          this.held.set(received, response);
          response.on('close', () => {
            if (!this.held.delete(received)) return;
            received.abortedAtMs = Date.now();
          });
          return;
        }
        received.answered = this.mode === 'ok' ? 200 : 503;
        response.writeHead(received.answered, { 'content-type': 'text/plain' }).end(this.mode === 'ok' ? 'ok' : 'unavailable');
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
  }

  /** Stops listening and cuts open connections: senders see the connection refused. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    this.held.clear();
    server.closeAllConnections();
    await Promise.race([new Promise<void>((resolve) => server.close(() => resolve())), new Promise<void>((resolve) => setTimeout(resolve, CLOSE_TIMEOUT_MS))]);
  }
}

/** Polls until `read` returns something other than undefined, within a bound. */
export async function eventually<T>(what: string, read: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, WAIT_STEP_MS));
  }
}
