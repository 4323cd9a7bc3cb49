import type { Server } from 'node:http';

import type { Express } from 'express';

const CLOSE_TIMEOUT_MS = 3_000;

/** Listens on 127.0.0.1 (port 0 = any free port) and returns a bounded stop. */
export async function listenLoopback(app: Express, port = 0): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = await new Promise<Server>((resolveListen, reject) => {
    const listening = app.listen(port, '127.0.0.1', (error?: Error) => (error ? reject(error) : resolveListen(listening)));
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listenLoopback: no TCP address');
  const close = async () => {
    // Hanging requests (the seller's hang modes) would keep close() waiting forever, so
    // open connections are cut first and the wait is bounded anyway.
    server.closeAllConnections();
    await Promise.race([
      new Promise<void>((resolveClose) => server.close(() => resolveClose())),
      new Promise<void>((resolveClose) => setTimeout(resolveClose, CLOSE_TIMEOUT_MS)),
    ]);
  };
  return { url: `http://127.0.0.1:${address.port}`, server, close };
}
