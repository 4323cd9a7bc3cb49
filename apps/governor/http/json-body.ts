import type { NextFunction, Request, Response } from 'express';
import { problemBody, type ProblemBody } from '../../../libs/platform/problem.js';
import { JsonInputError, parseStrictJson } from './strict-json.js';
import { sendProblem } from './problem.filter.js';

// The one body parser of the governor. Every body is JSON in UTF-8, read within a size cap,
// and parsed strictly (strict-json.ts): what a controller receives has no duplicate keys,
// no NUL, no lone surrogates, no control characters and no deep nesting. A body that is not
// JSON is refused with 415 whatever the route, so a form post never reaches a handler as `{}`.

/** Bodies are bounded: the largest legitimate request is a v1 402 body inside a payment request. */
export const BODY_BYTES_MAX = 128 * 1024;

/** Methods whose declared Content-Type must be JSON even when the body is empty. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

const utf8 = new TextDecoder('utf-8', { fatal: true });

class BodyRefusal extends Error {
  constructor(readonly problem: ProblemBody) {
    super(problem.detail);
  }
}

const unsupported = (detail: string) => new BodyRefusal(problemBody('unsupported_media_type', detail));

/** What the Content-Type header says, or a refusal when it names something other than JSON in UTF-8. */
function checkContentType(header: string | undefined): void {
  if (header === undefined) return;
  const [mediaType = '', ...parameters] = header.split(';');
  const type = mediaType.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    throw unsupported(`Content-Type ${JSON.stringify(type.slice(0, 80))} is not JSON; send Content-Type: application/json`);
  }
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=');
    if (name.trim().toLowerCase() !== 'charset') continue;
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') throw unsupported(`charset ${JSON.stringify(charset.slice(0, 40))}: bodies are UTF-8 only`);
  }
}

/**
 * UTF-16 and UTF-32 JSON is recognisable by its first bytes (RFC 4627 §3): a byte order mark,
 * or a NUL among the first two or four bytes, which UTF-8 JSON text never has.
 */
function looksLikeUtf16Or32(bytes: Buffer): boolean {
  if (bytes.length >= 2 && ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe))) return true;
  return bytes.subarray(0, 4).includes(0);
}

function decodeUtf8(bytes: Buffer): string {
  if (looksLikeUtf16Or32(bytes)) throw unsupported('the body is UTF-16 or UTF-32; bodies are UTF-8 only');
  try {
    return utf8.decode(bytes);
  } catch {
    throw unsupported('the body is not valid UTF-8; bodies are UTF-8 only');
  }
}

function parse(text: string): unknown {
  try {
    return parseStrictJson(text);
  } catch (error) {
    if (!(error instanceof JsonInputError)) throw error;
    if (error.fault === 'syntax') throw new BodyRefusal(problemBody('invalid_json', error.message));
    throw new BodyRefusal(problemBody('invalid_request', error.message, { field: error.field }));
  }
}

function hasBody(request: Request): boolean {
  const length = request.headers['content-length'];
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** Reads the body up to the cap; a larger one is refused without reading the rest. */
function readBody(request: Request, limitBytes: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > limitBytes) return Promise.reject(new BodyRefusal(problemBody('payload_too_large', `the body is larger than ${limitBytes / 1024} KiB`)));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        reject(new BodyRefusal(problemBody('payload_too_large', `the body is larger than ${limitBytes / 1024} KiB`)));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
  });
}

/** Express middleware: `request.body` is the parsed JSON, or undefined when there is none. */
export function strictJsonBody(limitBytes = BODY_BYTES_MAX) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const refuse = (problem: ProblemBody): void => {
      // The rest of the body is not read: the connection cannot be reused.
      response.setHeader('Connection', 'close');
      sendProblem(response, problem);
    };
    request.body = undefined;
    const withBody = hasBody(request);
    try {
      const encoding = request.headers['content-encoding'];
      if (withBody && encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') throw unsupported(`Content-Encoding ${JSON.stringify(encoding.slice(0, 40))}: bodies are not compressed`);
      if (withBody || BODY_METHODS.has(request.method)) checkContentType(request.headers['content-type']);
      if (withBody && request.headers['content-type'] === undefined) throw unsupported('a body needs Content-Type: application/json');
    } catch (error) {
      if (error instanceof BodyRefusal) return refuse(error.problem);
      throw error;
    }
    if (!withBody) return next();
    readBody(request, limitBytes).then(
      (bytes) => {
        try {
          if (bytes.length > 0) request.body = parse(decodeUtf8(bytes));
        } catch (error) {
          if (error instanceof BodyRefusal) return refuse(error.problem);
          return next(error);
        }
        next();
      },
      (error: unknown) => {
        if (error instanceof BodyRefusal) return refuse(error.problem);
        // The client went away while sending: there is no one to answer.
        response.destroy();
      },
    );
  };
}
