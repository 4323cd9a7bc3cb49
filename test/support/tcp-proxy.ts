import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

// A TCP proxy the test controls, between a process and its database: it can stall (hold
// every byte in both directions, as a frozen server would) and cut (reset every connection
// and refuse new ones, as a dead server would), without touching the database itself, which
// other tests share.

export interface TcpProxy {
  /** host:port to connect to instead of the target. */
  readonly host: string;
  readonly port: number;
  /** Holds every byte, in both directions, on every connection, new ones included. */
  stall(): void;
  /** Resets every connection and refuses new ones. */
  cut(): void;
  /** Forwards again (after a cut, new connections only). */
  restore(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: 'forward' | 'stall' | 'cut' = 'forward';
  const pairs = new Set<Pair>();

  const server: Server = createServer((client) => {
    if (mode === 'cut') {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    const pair = { client, upstream };
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
    if (mode === 'stall') {
      client.pause();
      upstream.pause();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port,
    stall() {
      mode = 'stall';
      for (const { client, upstream } of pairs) {
        // Unpiped, paused sockets read nothing: bytes wait in the kernel buffers.
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    cut() {
      mode = 'cut';
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    restore() {
      mode = 'forward';
      for (const { client, upstream } of pairs) {
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        upstream.resume();
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
