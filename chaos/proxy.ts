import { createConnection, createServer, type Server, type Socket } from 'node:net';

// A plain round-robin TCP proxy, as a load balancer in front of stateless HTTP servers: each
// new client connection goes to the next backend; a backend that refuses the connection is
// skipped for the next one (as a balancer's health check would), and a connection that breaks
// on either side is closed on both, so the client sees the failure as it would in production.

export interface Backend {
  host: string;
  port: number;
}

export interface TcpProxy {
  readonly port: number;
  readonly url: string;
  /** Connections handed to each backend, by "host:port". */
  readonly connectionsByBackend: Map<string, number>;
  /** Client connections open now. */
  activeConnections(): number;
  setBackends(backends: readonly Backend[]): void;
  /**
   * Cuts the link as a network partition would: bytes in flight stop in both directions and
   * new connections wait, with no error on either side.
   */
  partition(): void;
  /**
   * Ends the partition. The connections that lived through it are reset (as keepalives and
   * retransmission timeouts end them after a long partition); new ones flow again.
   */
  heal(): void;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 2_000;

export async function startTcpProxy(initial: readonly Backend[], port = 0): Promise<TcpProxy> {
  let backends = [...initial];
  let next = 0;
  const sockets = new Set<Socket>();
  const clients = new Set<Socket>();
  const connectionsByBackend = new Map<string, number>();
  let partitioned = false;
  /** Client connections that arrived during a partition, and links cut by it. */
  const waiting = new Set<Socket>();
  const cut = new Set<Socket>();

  const connectTo = (client: Socket, attemptsLeft: number): void => {
    if (backends.length === 0 || attemptsLeft === 0) {
      client.destroy();
      return;
    }
    const backend = backends[next % backends.length]!;
    next = (next + 1) % Math.max(backends.length, 1);
    const upstream = createConnection({ host: backend.host, port: backend.port });
    sockets.add(upstream);
    upstream.once('close', () => sockets.delete(upstream));
    let connected = false;
    upstream.setTimeout(CONNECT_TIMEOUT_MS, () => {
      if (!connected) upstream.destroy(new Error('connect timeout'));
    });
    upstream.once('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      const key = `${backend.host}:${backend.port}`;
      connectionsByBackend.set(key, (connectionsByBackend.get(key) ?? 0) + 1);
      client.once('close', () => upstream.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    upstream.once('error', () => {
      if (!connected) {
        upstream.destroy();
        connectTo(client, attemptsLeft - 1);
        return;
      }
      client.destroy();
    });
    upstream.once('close', () => {
      if (connected) client.destroy();
    });
  };

  const server: Server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    clients.add(client);
    client.once('close', () => {
      sockets.delete(client);
      clients.delete(client);
    });
    client.on('error', () => client.destroy());
    if (partitioned) waiting.add(client);
    else connectTo(client, backends.length);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy: no TCP address');
  return {
    port: address.port,
    url: `http://127.0.0.1:${address.port}`,
    connectionsByBackend,
    activeConnections: () => clients.size,
    setBackends(list) {
      backends = [...list];
    },
    partition() {
      partitioned = true;
      for (const socket of sockets) {
        socket.unpipe();
        socket.pause();
        cut.add(socket);
      }
    },
    heal() {
      partitioned = false;
      for (const socket of cut) socket.destroy();
      cut.clear();
      for (const client of waiting) if (!client.destroyed) connectTo(client, backends.length);
      waiting.clear();
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
