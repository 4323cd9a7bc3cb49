import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { z } from 'zod';
import { parseUsdMicros } from '../../../libs/domain/money.js';
import { McpToolResultError, McpUpstreamError } from '../../../libs/mcp-pay/errors.js';
import { paidToolCallOutcome } from '../../../libs/mcp-pay/paid-outcome.js';
import { isMcpToolName, isServerName, mcpToolResource, namespaceTools } from '../../../libs/mcp-pay/tool-names.js';
import { paymentPayloadFromHeader, withoutPaymentMeta, withPayment, type ToolCallOutcome, type ToolCallParams, type ToolResult } from '../../../libs/mcp-pay/transport.js';
import type { UpstreamTool } from '../../../libs/mcp-pay/upstream-client.js';
import { isErrorCode } from '../../../libs/platform/error-catalogue.js';
import { collectOptions } from '../../../libs/rails/options.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { X402OfferError } from '../../../libs/x402/errors.js';
import type { AgentPrincipal } from '../http/access-keys.js';
import { Clock } from '../http/clock.js';
import { canonicalJson } from '../http/input.js';
import { LOGGER } from '../http/tokens.js';
import { ReadModels, type PaymentView } from '../agent/read-models.js';
import { Catalog, type CatalogPrice } from '../catalog/catalog.js';
import { idempotencyClaim } from '../payments/idempotency.js';
import { usdAmount } from '../payments/inputs.js';
import { PayAndFetch } from '../payments/pay-and-fetch.js';
import { PaymentRequests } from '../payments/payment-requests.js';
import { McpServers, type McpServerView } from './mcp-servers.js';
import { McpUpstreams } from './mcp-upstreams.js';

// The MCP gateway's use case, alike for REST, gRPC and Paybound's MCP server: an agent
// calls a tool of an upstream its org may use; a payment-required answer becomes a
// decision under the session, through the same reservation, signature wait and outcome
// report as pay-and-fetch. The resource is the upstream's URL with the tool as fragment
// (domain rules read its host), the method `MCP`, and the loop guard counts calls with the
// same tool and arguments as one request. A refusal is the same 403 problem as over HTTP.

/** The arguments of one call, as JSON text, at most. */
const ARGUMENTS_CHARS_MAX = 64 * 1024;

export const mcpCallInput = z
  .object({
    server: z.string().max(32).refine(isServerName, 'must be a registered MCP server name'),
    tool: z.string().max(128).refine(isMcpToolName, 'must be an MCP tool name: 1 to 128 of A-Z a-z 0-9 _ . -'),
    arguments: z
      .record(z.string(), z.unknown())
      .refine((args) => JSON.stringify(args).length <= ARGUMENTS_CHARS_MAX, `must be at most ${ARGUMENTS_CHARS_MAX} characters as JSON`)
      .default({}),
    /** Extra `_meta` for the upstream (progress tokens, trace context); x402 keys are dropped. */
    meta: z.record(z.string(), z.unknown()).optional(),
    maxPrice: usdAmount.optional(),
  })
  .strict();

export type McpCallInput = z.infer<typeof mcpCallInput>;

export interface McpPaymentFigures {
  id: string;
  status: PaymentView['status'];
  amount: string;
  remaining: string | null;
  transaction: string | null;
}

export interface McpCallAnswer {
  server: string;
  tool: string;
  /** The tool's result as the upstream gave it; null when it answered a JSON-RPC error or awaits approval. */
  result: ToolResult | null;
  /** A JSON-RPC error that is not about payment (unknown tool, bad arguments). */
  error: { code: number; message: string } | null;
  /** Null when nothing was paid. */
  payment: McpPaymentFigures | null;
}

export interface GatewayTool extends UpstreamTool {
  /** `<server>__<tool>`, as an agent calls it through Paybound's MCP server. */
  name: string;
  server: string;
  tool: string;
  /** What one call costs, when the catalog knows: USD decimal string. */
  price: string | null;
  priceAtomic: string | null;
  network: string | null;
}

export interface GatewayToolList {
  tools: GatewayTool[];
  /** Servers whose tools could not be listed now, with the code of why. */
  unavailable: { server: string; code: string }[];
}

/** The loop guard's key for a tool call: the tool's resource and a digest of its arguments, in canonical JSON. */
export function mcpLoopKey(resource: string, args: Readonly<Record<string, unknown>>): string {
  return `MCP ${resource} ${createHash('sha256').update(canonicalJson(args)).digest('hex')}`;
}

@Injectable()
export class McpGateway {
  constructor(
    @Inject(McpServers) private readonly servers: McpServers,
    @Inject(McpUpstreams) private readonly upstreams: McpUpstreams,
    @Inject(PaymentRequests) private readonly payments: PaymentRequests,
    @Inject(PayAndFetch) private readonly paidCalls: PayAndFetch,
    @Inject(ReadModels) private readonly reads: ReadModels,
    @Inject(Catalog) private readonly catalog: Catalog,
    @Inject(Clock) private readonly clock: Clock,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Every tool of every upstream the agent's org may use, namespaced, with its price when known. */
  async tools(agent: AgentPrincipal): Promise<GatewayToolList> {
    const servers = await this.servers.usableBy(agent.orgId);
    const listed = await Promise.all(
      servers.map(async (server) => {
        try {
          const listing = await this.upstreams.tools(server);
          return { server, tools: namespaceTools(server.name, listing.tools, server.tools ?? undefined).tools, code: null };
        } catch (error) {
          return { server, tools: null, code: error instanceof McpUpstreamError ? error.code : 'mcp_upstream_protocol_error' };
        }
      }),
    );
    const resources = listed.flatMap((entry) => (entry.tools === null ? [] : entry.tools.map((t) => mcpToolResource(entry.server.url, t.upstreamName))));
    const prices = await this.catalog.pricesOf(resources);
    const tools: GatewayTool[] = [];
    const unavailable: GatewayToolList['unavailable'] = [];
    for (const entry of listed) {
      if (entry.tools === null) {
        unavailable.push({ server: entry.server.name, code: entry.code ?? 'mcp_upstream_protocol_error' });
        continue;
      }
      for (const { upstreamName, ...tool } of entry.tools) {
        const price: CatalogPrice | undefined = prices.get(mcpToolResource(entry.server.url, upstreamName));
        tools.push({ ...tool, server: entry.server.name, tool: upstreamName, price: price?.price ?? null, priceAtomic: price?.priceAtomic ?? null, network: price?.network ?? null });
      }
    }
    return { tools, unavailable };
  }

  async call(agent: AgentPrincipal, sessionId: string, input: McpCallInput, idempotencyKey: string | null): Promise<McpCallAnswer> {
    const server = await this.servers.usableServer(agent.orgId, input.server);
    if (server.tools !== null && !server.tools.includes(input.tool)) {
      throw new ApiProblem('mcp_tool_not_found', `the MCP server ${server.name} offers no tool ${input.tool}`, { field: 'tool' });
    }
    const maxPriceMicros = input.maxPrice === undefined ? null : parseUsdMicros(input.maxPrice);
    const claim = idempotencyClaim(idempotencyKey, 'mcp_call', { sessionId, server: server.name, tool: input.tool, arguments: input.arguments, maxPriceMicros: maxPriceMicros?.toString() ?? null });
    // The session is checked before anything is sent on the agent's behalf.
    const session = await this.reads.session(agent.orgId, agent.agentId, sessionId, this.clock.now());
    if (session === undefined) throw new ApiProblem('session_not_found', `session ${sessionId.slice(0, 80)} does not exist`);

    const meta = withoutPaymentMeta(input.meta);
    const params: ToolCallParams = { name: input.tool, arguments: input.arguments, ...(meta === undefined ? {} : { _meta: meta }) };
    const first = await this.send(server, params, null);
    const answered = (outcome: ToolCallOutcome, payment: McpPaymentFigures | null): McpCallAnswer => {
      if (outcome.kind === 'completed') return { server: server.name, tool: input.tool, result: outcome.result, error: null, payment };
      if (outcome.kind === 'failed') return { server: server.name, tool: input.tool, result: null, error: { code: outcome.code, message: outcome.message }, payment };
      throw new ApiProblem('bad_payment_offer', 'the upstream asked for payment in a way that cannot be paid');
    };
    if (first.kind !== 'payment_required') {
      if (first.kind === 'payment_rejected') throw new ApiProblem('bad_payment_offer', 'the upstream answered an unpaid call as a rejected payment');
      return answered(first, null);
    }

    const resource = mcpToolResource(server.url, input.tool);
    const reserved = await this.payments.reserve(agent, {
      sessionId,
      // The tool's requirements are an x402 offer (the MCP transport carries no MPP challenge).
      options: { ...collectOptions({ x402: first.offer }), offer: first.offer },
      url: resource,
      method: 'MCP',
      idempotency: claim,
      maxPriceMicros,
      // The catalog learns the tool's price once this payment settles.
      fetchedUrl: resource,
      loopKey: mcpLoopKey(resource, input.arguments),
    });
    const { payment } = reserved;
    const figures: McpPaymentFigures = { id: payment.id, status: payment.status, amount: payment.amount, remaining: null, transaction: null };
    if (payment.status === 'awaiting_approval') return { server: server.name, tool: input.tool, result: null, error: null, payment: figures };
    if (!reserved.created && payment.status !== 'reserved') {
      // A retry of a call that went ahead: the payment is never sent twice.
      throw new ApiProblem('payment_already_used', `payment ${payment.id} for this Idempotency-Key is already ${payment.status}`, { paymentId: payment.id, paymentStatus: payment.status });
    }
    const header = await this.paidCalls.signedHeader(agent, payment);
    const paymentPayload = paymentPayloadFromHeader(header.value);
    let paid: ToolCallOutcome;
    try {
      paid = await this.send(server, withPayment(params, paymentPayload), payment.id);
    } catch (error) {
      // The payment was sent: without an answer its outcome is unknown until the chain says.
      await this.paidCalls.report(agent, payment.id, { outcome: 'unknown', transaction: null, detail: 'no_answer' });
      throw error;
    }
    const outcome = paidToolCallOutcome(paid);
    await this.paidCalls.report(agent, payment.id, outcome);
    const current = await this.reads.payment(agent.orgId, agent.agentId, payment.id);
    const after = await this.reads.session(agent.orgId, agent.agentId, sessionId, this.clock.now());
    const settled: McpPaymentFigures = {
      ...figures,
      status: current?.status ?? 'signed',
      remaining: after?.remaining ?? null,
      transaction: current?.transaction ?? (outcome.outcome === 'paid' ? outcome.transaction : null),
    };
    if (paid.kind === 'payment_rejected') {
      throw new ApiProblem('upstream_payment_rejected', `the MCP server ${server.name} refused the payment it was sent${paid.reason === '' ? '' : `: ${paid.reason}`}; it is reconciled on chain`, {
        paymentId: payment.id,
        reason: paid.reason,
      });
    }
    return answered(paid, settled);
  }

  /** One tools/call; every way it can fail is a problem with a stable code (and the payment, once one was sent). */
  private async send(server: McpServerView, params: ToolCallParams, paymentId: string | null): Promise<ToolCallOutcome> {
    const figures = paymentId === null ? {} : { paymentId };
    const after = paymentId === null ? 'nothing was paid' : 'the payment was sent and is reconciled on chain';
    try {
      const connection = await this.upstreams.connection(server);
      return await connection.callTool(params, { paymentSent: paymentId !== null });
    } catch (error) {
      this.upstreams.failed(server, error);
      if (error instanceof McpUpstreamError) {
        this.logger.warn({ server: server.name, code: error.code, detail: error.detail }, 'mcp gateway: upstream call failed');
        const code = isErrorCode(error.code) ? error.code : 'mcp_upstream_protocol_error';
        throw new ApiProblem(code, `the MCP server ${server.name}: ${error.detail}; ${after}`, figures);
      }
      if (error instanceof X402OfferError) throw new ApiProblem('bad_payment_offer', `the MCP server ${server.name}: ${error.detail}; ${after}`, figures);
      if (error instanceof McpToolResultError) throw new ApiProblem('bad_tool_result', `the MCP server ${server.name}: ${error.detail}; ${after}`, figures);
      throw error;
    }
  }
}
