import { credentials, Metadata, type Client, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { loadAgentService } from '../../apps/governor/grpc/agent-grpc-server.js';

/** The fields of proto/paybound/v1 Session that tests read. */
export interface GrpcSession {
  id: string;
  limit: string;
  reserved: string;
  spent: string;
  remaining: string;
  status: string;
  payments: number;
  maxPayments?: number;
  metadata: Record<string, string>;
}

/** The fields of proto/paybound/v1 Payment that tests read. */
export interface GrpcPayment {
  id: string;
  status: string;
  amount: string;
  amountAtomic: string;
  resource: string;
  transaction: string;
  reason: string;
}

type Unary = (request: unknown, metadata: Metadata, callback: (error: ServiceError | null, answer: unknown) => void) => void;

export interface GrpcAgentClient {
  /** A unary call as a promise; rejects with the ServiceError. A null key sends no credentials. */
  unary<T>(method: string, request: unknown, apiKey?: string | null): Promise<T>;
  watchSession<T = { session: GrpcSession }>(request: unknown, apiKey?: string): ClientReadableStream<T>;
  close(): void;
}

/** A client of the governor's AgentService, authenticated with an agent key (overridable per call). */
export function connectAgentClient(port: number, defaultKey: () => string): GrpcAgentClient {
  const AgentService = loadAgentService();
  const client = new AgentService(`127.0.0.1:${port}`, credentials.createInsecure()) as Client & Record<string, unknown>;
  const auth = (apiKey: string | null): Metadata => {
    const metadata = new Metadata();
    if (apiKey !== null) metadata.set('authorization', `Bearer ${apiKey}`);
    return metadata;
  };
  return {
    unary<T>(method: string, request: unknown, apiKey: string | null = defaultKey()): Promise<T> {
      const call = (client[method] as Unary).bind(client);
      return new Promise((resolve, reject) => call(request, auth(apiKey), (error, answer) => (error === null ? resolve(answer as T) : reject(error))));
    },
    watchSession<T>(request: unknown, apiKey = defaultKey()): ClientReadableStream<T> {
      return (client.watchSession as (r: unknown, m: Metadata) => ClientReadableStream<T>).call(client, request, auth(apiKey));
    },
    close: () => client.close(),
  };
}
