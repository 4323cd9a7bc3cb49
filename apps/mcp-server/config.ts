import { z } from 'zod';

// The MCP server is configured from the environment, checked once at start.

export interface McpConfig {
  payboundUrl: string;
  apiKey: string;
  /** The Paybound session every paid fetch spends from; opened at start when not given. */
  sessionId: string | undefined;
  /** USD limit of the session opened at start when no PAYBOUND_SESSION_ID is given. */
  sessionLimit: string | undefined;
  sessionExpiresInMinutes: number;
  transport: 'stdio' | 'http';
  host: string;
  port: number;
  /** When set, the HTTP transport requires `Authorization: Bearer <token>`. */
  httpToken: string | undefined;
}

export class McpConfigError extends Error {}

const optional = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .optional();

const schema = z.object({
  PAYBOUND_URL: z.string().url({ message: 'PAYBOUND_URL must be the governor URL, e.g. http://127.0.0.1:8080' }),
  PAYBOUND_API_KEY: z.string().regex(/^[\x21-\x7e]{1,256}$/, { message: 'PAYBOUND_API_KEY must be an agent key (pb_agent_…)' }),
  PAYBOUND_SESSION_ID: optional,
  PAYBOUND_SESSION_LIMIT: optional.pipe(z.string().regex(/^(0|[1-9][0-9]{0,12})(\.[0-9]{1,6})?$/, { message: 'PAYBOUND_SESSION_LIMIT must be a USD amount such as "2.00"' }).optional()),
  PAYBOUND_SESSION_EXPIRES_MINUTES: z.coerce.number().int().min(1).max(10_080).default(60),
  PAYBOUND_MCP_TRANSPORT: z.enum(['stdio', 'http']).default('stdio'),
  PAYBOUND_MCP_HOST: z.string().default('127.0.0.1'),
  PAYBOUND_MCP_PORT: z.coerce.number().int().min(0).max(65_535).default(8787),
  PAYBOUND_MCP_TOKEN: optional,
});

export function loadMcpConfig(env: NodeJS.ProcessEnv, argv: readonly string[]): McpConfig {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`);
    throw new McpConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (c.PAYBOUND_SESSION_ID === undefined && c.PAYBOUND_SESSION_LIMIT === undefined) {
    throw new McpConfigError('invalid configuration:\n  give PAYBOUND_SESSION_ID (an open session) or PAYBOUND_SESSION_LIMIT (a USD limit for a session opened at start)');
  }
  return {
    payboundUrl: c.PAYBOUND_URL.replace(/\/+$/, ''),
    apiKey: c.PAYBOUND_API_KEY,
    sessionId: c.PAYBOUND_SESSION_ID,
    sessionLimit: c.PAYBOUND_SESSION_LIMIT,
    sessionExpiresInMinutes: c.PAYBOUND_SESSION_EXPIRES_MINUTES,
    transport: argv.includes('--http') ? 'http' : argv.includes('--stdio') ? 'stdio' : c.PAYBOUND_MCP_TRANSPORT,
    host: c.PAYBOUND_MCP_HOST,
    port: c.PAYBOUND_MCP_PORT,
    httpToken: c.PAYBOUND_MCP_TOKEN,
  };
}
