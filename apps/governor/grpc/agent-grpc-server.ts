import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  loadPackageDefinition,
  Metadata,
  Server,
  ServerCredentials,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceClientConstructor,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { Logger } from 'pino';
import { ApiProblem, problemBody } from '../../../libs/platform/problem.js';
import { contextOf, inSpan, SpanKind } from '../../../libs/platform/tracing.js';
import { AccessKeys, type AgentPrincipal } from '../http/access-keys.js';
import { parseBody } from '../http/input.js';
import type { PaymentView, SessionView } from '../agent/read-models.js';
import { idempotencyKeyField } from '../payments/idempotency.js';
import { PayAndFetch, payAndFetchInput, ReplayedProblem } from '../payments/pay-and-fetch.js';
import { openSessionInput, Sessions } from '../payments/sessions.js';
import { reportResultInput, SignOnly, signOnlyInput } from '../payments/sign-only.js';
import { LOGGER } from '../http/tokens.js';
import { mcpCallInput, McpGateway } from '../mcp/mcp-gateway.js';
import { GrpcProblems, problemToServiceError } from './grpc-errors.js';

// The agent API over gRPC (proto/paybound/v1/agent.proto). Each call authenticates the key
// in its metadata, maps its message to the input the use case takes (the same REST maps its
// body to), and calls the use case: validation, idempotency, decisions, events and error
// codes are the same as over REST by construction. This file translates messages and statuses.

/** The same bound as the HTTP body: the largest legitimate message carries a v1 402 body. */
const MESSAGE_BYTES_MAX = 128 * 1024;
/** The largest answer is PaidFetch's: a seller's body of up to 5 MiB, its headers, and room for metadata. */
const SEND_BYTES_MAX = 6 * 1024 * 1024;
const CONCURRENT_STREAMS_PER_CONNECTION_MAX = 100;
/** WatchSession polls the projection; each watcher costs one query per interval. */
const WATCH_POLL_MS = 250;
const WATCHERS_MAX = 200;
const WATCH_DURATION_DEFAULT_S = 900;
const WATCH_DURATION_MAX_S = 3_600;
/** A dead client's stream is noticed by keepalive rather than held for the whole duration. */
const KEEPALIVE_TIME_MS = 30_000;
const KEEPALIVE_TIMEOUT_MS = 10_000;
const SHUTDOWN_GRACE_MS = 5_000;

const PROTO_RELATIVE = 'proto/paybound/v1/agent.proto';
/** Field names in camelCase, enums by name, 64-bit integers as strings: JSON-like messages. */
export const PROTO_LOADER_OPTIONS = { keepCase: false, longs: String, enums: String, defaults: true, oneofs: true };

/** The proto file travels beside the code, not inside dist; find the repository root. */
function protoPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 8; depth++) {
    const candidate = resolve(dir, PROTO_RELATIVE);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  throw new Error(`${PROTO_RELATIVE} not found above ${fileURLToPath(import.meta.url)}`);
}

/** The service constructor from the proto; its `service` is what the server implements. */
export function loadAgentService(): ServiceClientConstructor {
  const definition = loadSync(protoPath(), PROTO_LOADER_OPTIONS);
  const root = loadPackageDefinition(definition) as unknown as { paybound: { v1: { AgentService: ServiceClientConstructor } } };
  return root.paybound.v1.AgentService;
}

/** GRPC_PORT: unset or empty means no gRPC server; 0 picks a free port. */
export function grpcPortFromEnv(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.GRPC_PORT?.trim();
  if (raw === undefined || raw === '') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`GRPC_PORT must be a port number from 0 to 65535, not ${JSON.stringify(raw)}`);
  return port;
}

interface GrpcSession {
  id: string;
  agentId: string;
  limit: string;
  reserved: string;
  spent: string;
  remaining: string;
  status: string;
  expiresAt: string;
  payments: number;
  maxPayments?: number;
  metadata: Record<string, string>;
  createdAt: string;
}

// Typed tables rather than string arithmetic: a status added to the views fails to compile
// here until the proto has a value for it.
const SESSION_STATUS: Record<SessionView['status'], string> = {
  open: 'SESSION_STATUS_OPEN',
  expired: 'SESSION_STATUS_EXPIRED',
  closed: 'SESSION_STATUS_CLOSED',
};
const PAYMENT_STATUS: Record<PaymentView['status'], string> = {
  awaiting_approval: 'PAYMENT_STATUS_AWAITING_APPROVAL',
  reserved: 'PAYMENT_STATUS_RESERVED',
  signed: 'PAYMENT_STATUS_SIGNED',
  settled: 'PAYMENT_STATUS_SETTLED',
  refunded: 'PAYMENT_STATUS_REFUNDED',
  rejected: 'PAYMENT_STATUS_REJECTED',
  unknown: 'PAYMENT_STATUS_UNKNOWN',
};

function toGrpcSession(view: SessionView): GrpcSession {
  return {
    id: view.id,
    agentId: view.agentId,
    limit: view.limit,
    reserved: view.reserved,
    spent: view.spent,
    remaining: view.remaining,
    status: SESSION_STATUS[view.status],
    expiresAt: view.expiresAt,
    payments: view.payments,
    ...(view.maxPayments === null ? {} : { maxPayments: view.maxPayments }),
    metadata: view.metadata,
    createdAt: view.createdAt,
  };
}

/** A JSON text field of a request, as REST would have parsed it: malformed is 400 with the field. */
function jsonField(text: string, field: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiProblem('invalid_request', `${field}: must be JSON text`, { field });
  }
}

function toGrpcPayment(view: PaymentView): Record<string, unknown> {
  return {
    id: view.id,
    sessionId: view.sessionId,
    status: PAYMENT_STATUS[view.status],
    amount: view.amount,
    amountAtomic: view.amountAtomic ?? '',
    asset: view.asset ?? '',
    network: view.network ?? '',
    payTo: view.payTo ?? '',
    resource: view.resource ?? '',
    validBefore: view.validBefore ?? '',
    transaction: view.transaction ?? '',
    reason: view.reason ?? view.refusal?.code ?? '',
    createdAt: view.createdAt,
  };
}

function sameBalance(a: SessionView, b: SessionView): boolean {
  return a.reserved === b.reserved && a.spent === b.spent && a.limit === b.limit && a.status === b.status && a.payments === b.payments;
}

function metadataString(metadata: Metadata, name: string): string | undefined {
  const value = metadata.get(name)[0];
  return typeof value === 'string' ? value : undefined;
}

@Injectable()
export class AgentGrpcServer implements OnModuleDestroy {
  private server: Server | undefined;
  private boundPort: number | undefined;
  private watchers = 0;
  private readonly problems: GrpcProblems;

  constructor(
    @Inject(Sessions) private readonly sessions: Sessions,
    @Inject(SignOnly) private readonly signOnly: SignOnly,
    @Inject(PayAndFetch) private readonly payAndFetch: PayAndFetch,
    @Inject(AccessKeys) private readonly keys: AccessKeys,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(McpGateway) private readonly mcpGateway: McpGateway,
  ) {
    this.problems = new GrpcProblems(logger);
  }

  /** The port the server listens on, once started. */
  get port(): number | undefined {
    return this.boundPort;
  }

  /** Watch streams open now; each one polls until it ends or is cancelled. */
  get activeWatchers(): number {
    return this.watchers;
  }

  async start(host: string, port: number): Promise<number> {
    if (this.server !== undefined) throw new Error('the gRPC server is already started');
    const server = new Server({
      'grpc.max_receive_message_length': MESSAGE_BYTES_MAX,
      'grpc.max_send_message_length': SEND_BYTES_MAX,
      'grpc.max_concurrent_streams': CONCURRENT_STREAMS_PER_CONNECTION_MAX,
      'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
      'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    });
    server.addService(loadAgentService().service, this.implementation());
    const bound = await new Promise<number>((resolvePort, reject) =>
      server.bindAsync(`${host}:${port}`, ServerCredentials.createInsecure(), (error, p) => (error === null ? resolvePort(p) : reject(error))),
    );
    this.server = server;
    this.boundPort = bound;
    this.logger.info({ grpc: `${host}:${bound}` }, 'gRPC agent API listening');
    return bound;
  }

  /** Lets calls in flight finish for a moment, then cuts the rest (watch streams included). */
  async stop(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    this.server = undefined;
    await new Promise<void>((done) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        done();
      }, SHUTDOWN_GRACE_MS);
      server.tryShutdown(() => {
        clearTimeout(timer);
        done();
      });
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.stop();
  }

  /** The agent behind `authorization: Bearer <key>`, refused exactly as the REST guard refuses. */
  private async authenticate(metadata: Metadata): Promise<AgentPrincipal> {
    const header = metadataString(metadata, 'authorization');
    const token = header === undefined ? undefined : /^Bearer ([\x21-\x7e]{1,256})$/.exec(header)?.[1];
    if (token === undefined) throw new ApiProblem('unauthenticated', 'send metadata "authorization: Bearer <key>"');
    const agent = await this.keys.agentForKey(token);
    if (agent === undefined) throw new ApiProblem('invalid_api_key', 'the API key is unknown or revoked');
    return agent;
  }

  /** A unary call inside a server span that continues the caller's `traceparent` metadata. */
  private unary<Req, Res>(handle: (request: Req, metadata: Metadata) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const method = call.getPath();
      const parent = contextOf({ traceparent: metadataString(call.metadata, 'traceparent') });
      inSpan(method, { kind: SpanKind.SERVER, parent, attributes: { 'rpc.system': 'grpc', 'rpc.method': method } }, () => handle(call.request, call.metadata)).then(
        (answer) => callback(null, answer),
        (error: unknown) => callback(this.problems.toServiceError(error)),
      );
    };
  }

  private implementation(): UntypedServiceImplementation {
    return {
      openSession: this.unary(async (r: { limit: string; expiresInMinutes: number; maxPayments?: number; metadata: Record<string, string>; idempotencyKey: string }, metadata) => {
        const agent = await this.authenticate(metadata);
        // Unset proto fields are absent inputs, as absent JSON fields are over REST.
        const input = parseBody(openSessionInput, {
          limit: r.limit,
          ...(r.expiresInMinutes === 0 ? {} : { expiresInMinutes: r.expiresInMinutes }),
          ...(r.maxPayments === undefined ? {} : { maxPayments: r.maxPayments }),
          ...(Object.keys(r.metadata).length === 0 ? {} : { metadata: r.metadata }),
        });
        return { session: toGrpcSession(await this.sessions.open(agent, input, idempotencyKeyField(r.idempotencyKey))) };
      }),
      getSession: this.unary(async (r: { sessionId: string }, metadata) => {
        const agent = await this.authenticate(metadata);
        return { session: toGrpcSession(await this.sessions.get(agent, r.sessionId)) };
      }),
      closeSession: this.unary(async (r: { sessionId: string }, metadata) => {
        const agent = await this.authenticate(metadata);
        return { session: toGrpcSession(await this.sessions.close(agent, r.sessionId)) };
      }),
      requestPayment: this.unary(async (r: { sessionId: string; paymentRequired: string; url: string; method: string; idempotencyKey: string }, metadata) => {
        const agent = await this.authenticate(metadata);
        const input = parseBody(signOnlyInput, { paymentRequired: r.paymentRequired, url: r.url, ...(r.method === '' ? {} : { method: r.method }) });
        // REST answers 201 or 202; gRPC says the same with the payment's status.
        const { payment } = await this.signOnly.request(agent, r.sessionId, input, idempotencyKeyField(r.idempotencyKey));
        return { payment: toGrpcPayment(payment), ...(payment.header === null ? {} : { header: payment.header }) };
      }),
      reportResult: this.unary(async (r: { paymentId: string; httpStatus: number; paymentResponse: string }, metadata) => {
        const agent = await this.authenticate(metadata);
        const input = parseBody(reportResultInput, { status: r.httpStatus, ...(r.paymentResponse === '' ? {} : { paymentResponse: r.paymentResponse }) });
        return { payment: toGrpcPayment(await this.signOnly.report(agent, r.paymentId, input)) };
      }),
      paidFetch: this.unary(
        async (
          r: { sessionId: string; url: string; method: string; headers: Record<string, string>; body?: string; maxPrice?: string; idempotencyKey: string },
          metadata,
        ) => {
          const agent = await this.authenticate(metadata);
          const input = parseBody(payAndFetchInput, {
            url: r.url,
            ...(r.method === '' ? {} : { method: r.method }),
            ...(Object.keys(r.headers).length === 0 ? {} : { headers: r.headers }),
            ...(r.body === undefined ? {} : { body: r.body }),
            ...(r.maxPrice === undefined ? {} : { maxPrice: r.maxPrice }),
          });
          const answer = await this.payAndFetch.fetch(agent, r.sessionId, input, idempotencyKeyField(r.idempotencyKey));
          // Paybound's own problems are errors over gRPC, a replayed one too.
          const replayed = ReplayedProblem.of(answer);
          if (replayed !== undefined) throw replayed;
          const { payment } = answer;
          return {
            status: answer.status,
            headers: answer.headers.map(([name, value]) => ({ name, value })),
            body: answer.body,
            ...(payment === null ? {} : { payment: { id: payment.id, amount: payment.amount, ...(payment.remaining === null ? {} : { remaining: payment.remaining }) } }),
            replayed: answer.replayed,
          };
        },
      ),
      listMcpTools: this.unary(async (_r: Record<string, never>, metadata) => {
        const { tools, unavailable } = await this.mcpGateway.tools(await this.authenticate(metadata));
        return {
          tools: tools.map((t) => ({
            name: t.name,
            server: t.server,
            tool: t.tool,
            description: t.description ?? '',
            inputSchemaJson: JSON.stringify(t.inputSchema),
            ...(t.price === null ? {} : { price: t.price }),
            ...(t.priceAtomic === null ? {} : { priceAtomic: t.priceAtomic }),
            ...(t.network === null ? {} : { network: t.network }),
          })),
          unavailable,
        };
      }),
      callMcpTool: this.unary(async (r: { sessionId: string; server: string; tool: string; argumentsJson: string; maxPrice: string; idempotencyKey: string }, metadata) => {
        const agent = await this.authenticate(metadata);
        const input = parseBody(mcpCallInput, {
          server: r.server,
          tool: r.tool,
          ...(r.argumentsJson === '' ? {} : { arguments: jsonField(r.argumentsJson, 'arguments') }),
          ...(r.maxPrice === '' ? {} : { maxPrice: r.maxPrice }),
        });
        const answer = await this.mcpGateway.call(agent, r.sessionId, input, idempotencyKeyField(r.idempotencyKey));
        return {
          ...(answer.result === null ? {} : { resultJson: JSON.stringify(answer.result) }),
          ...(answer.error === null ? {} : { error: answer.error }),
          ...(answer.payment === null
            ? {}
            : {
                payment: {
                  id: answer.payment.id,
                  status: PAYMENT_STATUS[answer.payment.status],
                  amount: answer.payment.amount,
                  ...(answer.payment.remaining === null ? {} : { remaining: answer.payment.remaining }),
                  ...(answer.payment.transaction === null ? {} : { transaction: answer.payment.transaction }),
                },
              }),
        };
      }),
      watchSession: (call: ServerWritableStream<{ sessionId: string; maxDurationSeconds: number }, { session: GrpcSession }>) => {
        void this.watch(call);
      },
    };
  }

  /**
   * Polls the session's view and sends it when the balance changes. Polling the projection
   * keeps the stream correct across governor instances (a payment decided by another
   * process shows up here too), at the cost of one query per watcher per interval.
   */
  private async watch(call: ServerWritableStream<{ sessionId: string; maxDurationSeconds: number }, { session: GrpcSession }>): Promise<void> {
    const fail = (error: unknown): void => {
      call.emit('error', this.problems.toServiceError(error));
    };
    const requested = call.request.maxDurationSeconds;
    if (requested > WATCH_DURATION_MAX_S) {
      fail(new ApiProblem('invalid_request', `max_duration_seconds: at most ${WATCH_DURATION_MAX_S}`, { field: 'max_duration_seconds' }));
      return;
    }
    if (this.watchers >= WATCHERS_MAX) {
      call.emit('error', problemToServiceError(problemBody('too_many_watchers', `at most ${WATCHERS_MAX} sessions are watched at once per governor; retry later`)));
      return;
    }
    this.watchers += 1;
    let cancelled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (cancelled) return;
      cancelled = true;
      if (timer !== undefined) clearTimeout(timer);
      this.watchers -= 1;
    };
    call.on('cancelled', finish);
    call.on('close', finish);
    try {
      const agent = await this.authenticate(call.metadata);
      const deadline = Date.now() + (requested === 0 ? WATCH_DURATION_DEFAULT_S : requested) * 1_000;
      let last = await this.sessions.get(agent, call.request.sessionId);
      call.write({ session: toGrpcSession(last) });
      const poll = async (): Promise<void> => {
        if (cancelled) return;
        if (Date.now() >= deadline) {
          finish();
          call.end();
          return;
        }
        try {
          const now = await this.sessions.get(agent, call.request.sessionId);
          if (cancelled) return;
          if (!sameBalance(now, last)) {
            last = now;
            call.write({ session: toGrpcSession(now) });
          }
          timer = setTimeout(() => void poll(), WATCH_POLL_MS);
        } catch (error) {
          finish();
          fail(error);
        }
      };
      timer = setTimeout(() => void poll(), WATCH_POLL_MS);
    } catch (error) {
      finish();
      fail(error);
    }
  }
}
