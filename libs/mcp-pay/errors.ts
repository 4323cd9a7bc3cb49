// Errors of the MCP payment pieces. Like libs/x402/errors.ts, each carries a stable
// snake_case code for the error catalogue and a short detail that names what is wrong
// without echoing the upstream's text, which is untrusted and may be huge or crafted.
// A malformed payment-required answer is an X402OfferError (`bad_payment_offer`) and a
// malformed settlement an X402ResponseError (`bad_payment_response`), as over HTTP.

/** An upstream MCP server's tool result that cannot be forwarded (shape, size, depth). */
export class McpToolResultError extends Error {
  readonly code = 'bad_tool_result' as const;

  constructor(readonly detail: string) {
    super(`bad_tool_result: ${detail}`);
    this.name = 'McpToolResultError';
  }
}

/**
 * Why a call to an upstream MCP server did not produce an answer. The kinds match the
 * pay-and-fetch upstream errors so one catalogue entry serves both transports.
 */
export type McpUpstreamFailure =
  | 'timeout'
  | 'unreachable'
  | 'too_large'
  | 'destination_not_allowed'
  /** The server answered, but not as an MCP server should (handshake, framing, listing). */
  | 'protocol';

const CODE_OF_FAILURE: Readonly<Record<McpUpstreamFailure, string>> = {
  timeout: 'upstream_timeout',
  unreachable: 'upstream_unreachable',
  too_large: 'upstream_response_too_large',
  destination_not_allowed: 'destination_not_allowed',
  protocol: 'mcp_upstream_protocol_error',
};

export class McpUpstreamError extends Error {
  readonly code: string;

  constructor(
    readonly failure: McpUpstreamFailure,
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${CODE_OF_FAILURE[failure]}: ${detail}`, options);
    this.name = 'McpUpstreamError';
    this.code = CODE_OF_FAILURE[failure];
  }
}
