import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { problemBody } from '../../../libs/platform/problem.js';

// Requests Node's HTTP parser refuses before any handler runs (CR, LF or NUL in a header
// value, a malformed request line, headers too large) still get a problem+json answer with a
// stable code, rather than a bare "400 Bad Request" or a closed socket.

export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const detail =
      error.code === 'HPE_HEADER_OVERFLOW'
        ? 'the request headers are larger than the server reads'
        : 'the request is not valid HTTP/1.1 (a header value with CR, LF or NUL, a malformed header or request line)';
    const problem = problemBody('invalid_request', detail, { field: 'headers' });
    const body = JSON.stringify(problem);
    socket.end(`HTTP/1.1 ${problem.status} Bad Request\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}
