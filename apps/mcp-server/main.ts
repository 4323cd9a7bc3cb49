import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { pino } from 'pino';
import { createPaybound, type Paybound } from '../../libs/client/paybound.js';
import { REDACTED_PATHS } from '../../libs/platform/logger.js';
import { loadMcpConfig, McpConfigError, type McpConfig } from './config.js';
import { restGatewayBackend, restToolBackend } from './rest-backend.js';
import { createGatewayMcpServer, type GatewayDeps } from './gateway.js';

// Logs go to stderr: on the stdio transport, stdout carries the MCP messages.
const logger = pino({ name: 'mcp-server', level: process.env.LOG_LEVEL ?? 'info', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, pino.destination(2));
const REQUEST_BYTES_MAX = 1024 * 1024;

async function sessionFor(config: McpConfig, paybound: Paybound): Promise<string> {
  if (config.sessionId !== undefined) {
    // Fails early, with Paybound's own code, on a session that is unknown or not this agent's.
    await paybound.getSession(config.sessionId);
    return config.sessionId;
  }
  const session = await paybound.openSession({ limit: config.sessionLimit ?? '0', expiresInMinutes: config.sessionExpiresInMinutes, metadata: { via: 'mcp-server' } });
  logger.info({ sessionId: session.id, limit: session.limit, expiresAt: session.expiresAt }, 'opened a Paybound session');
  return session.id;
}

async function serveStdio(deps: GatewayDeps): Promise<void> {
  const server = await createGatewayMcpServer(deps);
  const transport = new StdioServerTransport();
  transport.onclose = () => process.exit(0);
  await server.connect(transport);
  logger.info({ sessionId: deps.sessionId }, 'paybound MCP server ready on stdio');
}

/**
 * Streamable HTTP in stateless mode: each POST gets a fresh server and transport, so no
 * MCP session state lives here; all of them spend from the same Paybound session.
 */
async function serveHttp(deps: GatewayDeps, config: McpConfig): Promise<Server> {
  const http = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      logger.warn({ err: { message: (error as Error).message } }, 'MCP request failed');
      if (!res.headersSent) jsonError(res, 500, -32603, 'internal error');
    });
  });
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/mcp') return jsonError(res, 404, -32601, 'not found; the MCP endpoint is /mcp');
    if (config.httpToken !== undefined && req.headers.authorization !== `Bearer ${config.httpToken}`) return jsonError(res, 401, -32001, 'unauthorized');
    if (req.method !== 'POST') return jsonError(res, 405, -32000, 'method not allowed; this server is stateless, POST only');
    const body = await readJson(req);
    if (body === undefined) return jsonError(res, 400, -32700, 'parse error: the body must be JSON of at most 1 MiB');
    const server = await createGatewayMcpServer(deps);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(config.port, config.host, () => resolve());
  });
  const address = http.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  logger.info({ url: `http://${config.host}:${port}/mcp`, sessionId: deps.sessionId }, 'paybound MCP server ready on streamable HTTP');
  return http;
}

function jsonError(res: ServerResponse, status: number, code: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > REQUEST_BYTES_MAX) return undefined;
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

try {
  const config = loadMcpConfig(process.env, process.argv.slice(2));
  const paybound = createPaybound({ url: config.payboundUrl, apiKey: config.apiKey });
  const sessionId = await sessionFor(config, paybound);
  const deps: GatewayDeps = { backend: restToolBackend(paybound, sessionId), sessionId, gateway: restGatewayBackend(paybound, sessionId), logger };
  if (config.transport === 'stdio') {
    await serveStdio(deps);
  } else {
    const http = await serveHttp(deps, config);
    const stop = (): void => {
      http.close(() => process.exit(0));
      http.closeAllConnections();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  }
} catch (error) {
  if (error instanceof McpConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  logger.fatal({ err: { message: (error as Error).message } }, 'paybound MCP server failed to start');
  process.exit(1);
}
