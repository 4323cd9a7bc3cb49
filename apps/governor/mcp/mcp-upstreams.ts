import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { McpUpstreamError } from '../../../libs/mcp-pay/errors.js';
import { connectUpstreamMcp, type ToolListing, type UpstreamMcpConnection } from '../../../libs/mcp-pay/upstream-client.js';
import type { GovernorConfig } from '../config.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';

// The gateway's connections to upstream MCP servers: one per registered server, made on
// first use and kept, since an MCP handshake per call would double every call's round
// trips. A connection that failed is dropped and made again on the next call. Tool lists
// are kept for a short while: agents list tools at the start of every MCP session.

/** How long a server's tool list is answered from memory. */
export const TOOL_LIST_TTL_MS = 30_000;

interface Kept<T> {
  url: string;
  value: Promise<T>;
  atMs: number;
}

export interface UpstreamServer {
  name: string;
  url: string;
}

@Injectable()
export class McpUpstreams implements OnApplicationShutdown {
  private readonly connections = new Map<string, Kept<UpstreamMcpConnection>>();
  private readonly listings = new Map<string, Kept<ToolListing>>();

  constructor(@Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig) {}

  /** The server's connection, made now if there is none for its current URL. */
  connection(server: UpstreamServer): Promise<UpstreamMcpConnection> {
    const kept = this.connections.get(server.name);
    if (kept !== undefined && kept.url === server.url) return kept.value;
    if (kept !== undefined) this.forget(server.name);
    const value = connectUpstreamMcp({ url: server.url, privateAddresses: this.config.fetchPrivateAddresses });
    const entry = { url: server.url, value, atMs: Date.now() };
    this.connections.set(server.name, entry);
    // A failed handshake is not kept: the next call tries again.
    value.catch(() => {
      if (this.connections.get(server.name) === entry) this.connections.delete(server.name);
    });
    return value;
  }

  /** The tools the server lists, from memory for TOOL_LIST_TTL_MS. */
  tools(server: UpstreamServer): Promise<ToolListing> {
    const now = Date.now();
    const kept = this.listings.get(server.name);
    if (kept !== undefined && kept.url === server.url && now - kept.atMs < TOOL_LIST_TTL_MS) return kept.value;
    const value = this.connection(server).then((connection) => connection.listTools());
    const entry = { url: server.url, value, atMs: now };
    this.listings.set(server.name, entry);
    value.catch((error: unknown) => {
      if (this.listings.get(server.name) === entry) this.listings.delete(server.name);
      this.failed(server, error);
    });
    return value;
  }

  /** After a call failed for want of an answer: the connection is not trusted again. */
  failed(server: UpstreamServer, error: unknown): void {
    if (error instanceof McpUpstreamError) this.forget(server.name);
  }

  /** Drops what is kept of a server (its definition changed, or it was removed). */
  forget(name: string): void {
    const kept = this.connections.get(name);
    this.connections.delete(name);
    this.listings.delete(name);
    if (kept !== undefined) void kept.value.then((connection) => connection.close(), () => undefined);
  }

  async onApplicationShutdown(): Promise<void> {
    const closing = [...this.connections.values()].map((kept) => kept.value.then((connection) => connection.close(), () => undefined));
    this.connections.clear();
    this.listings.clear();
    await Promise.all(closing);
  }
}
