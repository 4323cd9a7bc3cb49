// The admin API, with the token the operator typed. The token lives in memory only: a reload
// asks for it again, and nothing about it reaches storage, URLs or logs.

let token = '';

export function setToken(value: string): void {
  token = value;
}

export function authHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { Authorization: `Bearer ${token}`, ...extra };
}

/** A problem+json answer, or the bare status when the body is not one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly body: Record<string, unknown>,
  ) {
    super(`${code}: ${detail}`);
  }

  /** The input a 400 names, when it names one. */
  get field(): string | undefined {
    return typeof this.body.field === 'string' ? this.body.field : undefined;
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  etag: string | null;
}

interface Options {
  method?: 'GET' | 'POST' | 'PUT';
  body?: unknown;
  headers?: Record<string, string>;
}

/** The error of a failed answer, from its problem+json body when it has one. */
function problemOf(status: number, statusText: string, body: unknown): ApiError {
  const problem = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const code = typeof problem.code === 'string' ? problem.code : String(status);
  const detail = typeof problem.detail === 'string' ? problem.detail : statusText;
  return new ApiError(status, code, detail, problem);
}

function parseJson(text: string): unknown {
  try {
    return text === '' ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

export async function api<T>(path: string, options: Options = {}): Promise<ApiAnswer<T>> {
  const headers = authHeaders(options.headers);
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method: options.method ?? 'GET', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const body = parseJson(await response.text());
  if (!response.ok) throw problemOf(response.status, response.statusText, body);
  return { status: response.status, body: body as T, etag: response.headers.get('ETag') };
}

/** For pages whose endpoint may not be served by this governor yet: says so plainly. */
export function explain(error: unknown): string {
  if (error instanceof ApiError) {
    // A route this governor does not serve answers the generic not_found; named codes are real answers.
    if (error.status === 404 && error.code === 'not_found') return 'not available on this governor (404 not_found)';
    return error.field === undefined ? `${error.code}: ${error.detail}` : `${error.code}: ${error.detail} (${error.field})`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Downloads an authenticated answer as a file: a plain link could not carry the token. */
export async function download(path: string, fallbackName: string): Promise<{ name: string; bytes: number }> {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) throw problemOf(response.status, response.statusText, parseJson(await response.text()));
  const disposition = response.headers.get('Content-Disposition') ?? '';
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const blob = await response.blob();
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return { name, bytes: blob.size };
}
