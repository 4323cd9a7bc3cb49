import { connect } from 'node:net';

// HTTP/1.1 spoken byte for byte, for tests that must send what fetch() refuses to: raw
// paths (`%00`, malformed escapes), repeated or malformed headers, bodies in any encoding.

export interface RawAnswer {
  status: number;
  headers: Map<string, string[]>;
  body: Buffer;
  /** The body as JSON when it parses, else undefined. */
  json: Record<string, unknown> | undefined;
  header(name: string): string | undefined;
}

export interface RawRequest {
  method: string;
  /** Sent as it is: no encoding is applied. */
  target: string;
  /** Name/value pairs in order; repeated names are sent repeatedly. */
  headers?: [string, string][];
  body?: Buffer | string;
  /** Adds a Content-Length matching the body unless the headers carry one (or Transfer-Encoding). */
  contentLength?: boolean;
  timeoutMs?: number;
}

/** An event stream that opened: its head is the answer, and the connection is closed at once. */
function openedStream(raw: Buffer): RawAnswer | undefined {
  if (raw.indexOf('\r\n\r\n') < 0) return undefined;
  const answer = parseAnswer(raw);
  return answer.status === 200 && (answer.header('content-type') ?? '').startsWith('text/event-stream') ? answer : undefined;
}

const ANSWER_BYTES_MAX = 8 * 1024 * 1024;

/** Sends one request on its own connection (Connection: close) and reads the whole answer. */
export function rawRequest(baseUrl: string, request: RawRequest): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body, 'utf8');
  const headers: [string, string][] = [['Host', url.host], ['Connection', 'close'], ...(request.headers ?? [])];
  const named = (name: string) => headers.some(([n]) => n.toLowerCase() === name);
  if (body !== undefined && request.contentLength !== false && !named('content-length') && !named('transfer-encoding')) headers.push(['Content-Length', String(body.length)]);
  const head = Buffer.from(`${request.method} ${request.target} HTTP/1.1\r\n${headers.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`, 'latin1');
  const timeoutMs = request.timeoutMs ?? 10_000;
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete answer to ${request.method} ${request.target.slice(0, 80)} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > ANSWER_BYTES_MAX) {
        socket.destroy(new Error('answer too large'));
        return;
      }
      chunks.push(chunk);
      const stream = openedStream(Buffer.concat(chunks));
      if (stream !== undefined) {
        clearTimeout(timer);
        socket.destroy();
        resolve(stream);
      }
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      // A server that answered and closed before reading everything resets the connection.
      if (chunks.length > 0) resolve(parseAnswer(Buffer.concat(chunks)));
      else reject(error);
    });
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(parseAnswer(Buffer.concat(chunks)));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.write(head);
    if (body !== undefined) socket.write(body);
  });
}

function parseAnswer(raw: Buffer): RawAnswer {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`no HTTP answer: ${raw.subarray(0, 200).toString('latin1')}`);
  const lines = raw.subarray(0, split).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (statusLine?.[1] === undefined) throw new Error(`bad status line: ${lines[0]}`);
  const headers = new Map<string, string[]>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  let body = raw.subarray(split + 4);
  if (headers.get('transfer-encoding')?.[0]?.toLowerCase() === 'chunked') body = dechunk(body);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: Number(statusLine[1]), headers, body, json, header: (name) => headers.get(name.toLowerCase())?.[0] };
}

function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset < raw.length) {
    const lineEnd = raw.indexOf('\r\n', offset);
    if (lineEnd < 0) break;
    const size = Number.parseInt(raw.subarray(offset, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    offset = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
