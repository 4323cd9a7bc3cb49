import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { startTcpProxy, type TcpProxy } from '../../chaos/proxy.js';

// The chaos run's network partition (chaos/proxy.ts): while it lasts, bytes stop both ways
// without an error and new connections wait; when it heals, the connections that lived
// through it are reset and new ones flow again. Loopback only, bounded waits.

const QUIET_MS = 300;

async function echoServer(): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.pipe(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return { server, port: address.port };
}

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The next bytes the socket receives within `ms`, or undefined when nothing came. */
function nextData(socket: Socket, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('data', onData);
      resolve(undefined);
    }, ms);
    const onData = (chunk: Buffer): void => {
      clearTimeout(timer);
      resolve(chunk.toString());
    };
    socket.once('data', onData);
  });
}

function closed(socket: Socket, ms: number): Promise<boolean> {
  if (socket.destroyed) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    socket.on('error', () => undefined);
  });
}

describe('the chaos proxy', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('partitions a link silently and resets what lived through it when it heals', async () => {
    const { server, port } = await echoServer();
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const proxy: TcpProxy = await startTcpProxy([{ host: '127.0.0.1', port }]);
    cleanups.push(() => proxy.close());

    const before = await connect(proxy.port);
    cleanups.push(() => void before.destroy());
    const echoed = nextData(before, 2_000);
    before.write('ping');
    expect(await echoed).toBe('ping');

    proxy.partition();
    // Nothing gets through either way, and nothing says so.
    const lost = nextData(before, QUIET_MS);
    before.write('lost');
    expect(await lost).toBeUndefined();
    expect(before.destroyed).toBe(false);
    // A new connection is accepted but waits.
    const during = await connect(proxy.port);
    cleanups.push(() => void during.destroy());
    const waiting = nextData(during, QUIET_MS);
    during.write('wait');
    expect(await waiting).toBeUndefined();

    const beforeClosed = closed(before, 2_000);
    const afterHeal = nextData(during, 2_000);
    proxy.heal();
    // The connection that lived through the partition is reset; the one that waited flows.
    expect(await beforeClosed).toBe(true);
    expect(await afterHeal).toBe('wait');
    const fresh = await connect(proxy.port);
    cleanups.push(() => void fresh.destroy());
    const freshEcho = nextData(fresh, 2_000);
    fresh.write('pong');
    expect(await freshEcho).toBe('pong');
  });
});
