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

export async function api<T>(path: string, options: Options = {}): Promise<ApiAnswer<T>> {
  const headers = authHeaders(options.headers);
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method: options.method ?? 'GET', headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = null;
  }
  if (!response.ok) {
    const problem = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const code = typeof problem.code === 'string' ? problem.code : String(response.status);
    const detail = typeof problem.detail === 'string' ? problem.detail : response.statusText;
    throw new ApiError(response.status, code, detail, problem);
  }
  return { status: response.status, body: body as T, etag: response.headers.get('ETag') };
}

/** For pages whose endpoint may not be served by this governor yet: says so plainly. */
export function explain(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 404 && error.code !== 'payment_not_found') return `not available on this governor (404 ${error.code})`;
    return error.field === undefined ? `${error.code}: ${error.detail}` : `${error.code}: ${error.detail} (${error.field})`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Downloads an authenticated answer as a file: a plain link could not carry the token. */
export async function download(path: string, fallbackName: string): Promise<{ name: string; bytes: number }> {
  const response = await fetch(path, { headers: authHeaders() });
  if (!response.ok) {
    let problem: Record<string, unknown> = {};
    try {
      problem = (await response.json()) as Record<string, unknown>;
    } catch {
      // Not a problem document.
    }
    throw new ApiError(response.status, typeof problem.code === 'string' ? problem.code : String(response.status), typeof problem.detail === 'string' ? problem.detail : response.statusText, problem);
  }
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
