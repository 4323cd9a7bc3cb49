import { tool } from 'ai';
import { z } from 'zod';
import { PayboundError, type Paybound } from './paybound.js';

// A Vercel AI SDK tool (package `ai`, v5 and v6; zod 4) that lets a model fetch paid URLs
// within one Paybound session. The model sees the seller's answer and what the request
// cost; Paybound's refusals come back as results the model can read and act on, because a
// thrown error would end a multi-step run that could otherwise choose a cheaper source.

/** Models are given a bounded excerpt: a page does not belong in a context window whole. */
const BODY_CHARS_MAX_DEFAULT = 20_000;

const paidFetchInput = z.object({
  url: z.string().url().max(2048).describe('The http(s) URL to fetch.'),
  method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD']).default('GET').describe('The HTTP method.'),
  headers: z.record(z.string(), z.string().max(4096)).optional().describe('Request headers, if the endpoint needs any.'),
  body: z.string().max(64 * 1024).optional().describe('A request body, for POST, PUT and PATCH.'),
  maxPrice: z
    .string()
    .regex(/^\d+(\.\d{1,6})?$/)
    .optional()
    .describe('The most to pay for this one request, in USD, such as "0.05".'),
});

export type PaidFetchInput = z.infer<typeof paidFetchInput>;

export interface PaidFetchOutput {
  status: number;
  contentType: string | null;
  body: string;
  truncated: boolean;
  /** What this request cost in USD, when it was paid. */
  paid: string | null;
  /** What the session has left in USD after the request, when Paybound said. */
  remaining: string | null;
  /** Paybound's refusal code (for example `session_limit_exceeded`), when it refused. */
  refused: string | null;
}

export interface PaidFetchToolOptions {
  description?: string;
  bodyCharsMax?: number;
}

/**
 * `paidFetchTool(paybound, sessionId)`: pass it to `generateText({ tools: { paid_fetch: … } })`.
 * The session's budget and the org's policies bound what the model can spend.
 */
export function paidFetchTool(paybound: Paybound, sessionId: string, options: PaidFetchToolOptions = {}) {
  const bodyCharsMax = options.bodyCharsMax ?? BODY_CHARS_MAX_DEFAULT;
  return tool({
    description:
      options.description ??
      'Fetch a URL over HTTP. If the URL is behind an x402 paywall (HTTP 402), it is paid automatically from a limited budget; the result says what it cost and how much budget remains.',
    inputSchema: paidFetchInput,
    execute: async (input: PaidFetchInput, { abortSignal }: { abortSignal?: AbortSignal }): Promise<PaidFetchOutput> => {
      try {
        const response = await paybound.fetch(sessionId, input.url, {
          method: input.method,
          headers: input.headers,
          body: input.body,
          maxPrice: input.maxPrice,
          signal: abortSignal,
        });
        const text = await response.text();
        return {
          status: response.status,
          contentType: response.headers.get('content-type'),
          body: text.slice(0, bodyCharsMax),
          truncated: text.length > bodyCharsMax,
          paid: response.headers.get('paybound-amount'),
          remaining: response.headers.get('paybound-remaining'),
          refused: null,
        };
      } catch (error) {
        // Only refusals are results; Paybound being unreachable is an error for the caller.
        if (error instanceof PayboundError && error.status !== 0) {
          const remaining = typeof error.figures.remaining === 'string' ? error.figures.remaining : null;
          return { status: error.status, contentType: null, body: error.detail, truncated: false, paid: null, remaining, refused: error.code };
        }
        throw error;
      }
    },
  });
}
