import { decodeBase64Json } from '../../libs/x402/encoding.js';

// A few typed calls against the governor's HTTP API, for tests and benchmarks.

export interface ApiAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = Record<string, unknown>>(
  baseUrl: string,
  method: string,
  path: string,
  options: { key?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<ApiAnswer<T>> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.key === undefined ? {} : { authorization: `Bearer ${options.key}` }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? {} : JSON.parse(text)) as T, headers: response.headers };
}

/** A v2 PAYMENT-REQUIRED header value with one `exact` requirement. */
export function paymentRequiredHeader(requirement: { amount: string; asset: string; payTo: string; network?: string; url?: string }): string {
  const offer = {
    x402Version: 2,
    resource: { url: requirement.url ?? 'http://127.0.0.1/data' },
    accepts: [
      {
        scheme: 'exact',
        network: requirement.network ?? 'eip155:31337',
        amount: requirement.amount,
        asset: requirement.asset,
        payTo: requirement.payTo,
        maxTimeoutSeconds: 60,
        extra: { name: 'Test USD', version: '1' },
      },
    ],
  };
  return Buffer.from(JSON.stringify(offer)).toString('base64');
}

/** Creates an org, a team and an agent through the admin API; returns the agent's key. */
export async function seedAgent(
  baseUrl: string,
  adminToken: string,
  ids: { orgId: string; teamId?: string; agentId: string },
  limits: { org?: string | null; team?: string | null; agent?: string | null } = {},
): Promise<string> {
  const admin = { key: adminToken };
  const org = await call(baseUrl, 'POST', '/admin/v1/orgs', { ...admin, body: { id: ids.orgId, name: ids.orgId, limit: limits.org ?? null } });
  if (org.status !== 201) throw new Error(`create org: ${org.status} ${JSON.stringify(org.body)}`);
  if (ids.teamId !== undefined) {
    const team = await call(baseUrl, 'POST', `/admin/v1/orgs/${ids.orgId}/teams`, { ...admin, body: { id: ids.teamId, name: ids.teamId, limit: limits.team ?? null } });
    if (team.status !== 201) throw new Error(`create team: ${team.status} ${JSON.stringify(team.body)}`);
  }
  const agent = await call<{ apiKey: string }>(baseUrl, 'POST', `/admin/v1/orgs/${ids.orgId}/agents`, {
    ...admin,
    body: { id: ids.agentId, name: ids.agentId, teamId: ids.teamId ?? null, limit: limits.agent ?? null },
  });
  if (agent.status !== 201) throw new Error(`create agent: ${agent.status} ${JSON.stringify(agent.body)}`);
  return agent.body.apiKey;
}

/** The EIP-3009 nonce inside a PAYMENT-SIGNATURE header the governor answered with. */
export function paymentHeaderNonce(header: { value: string }): string {
  const decoded = decodeBase64Json(header.value, 64 * 1024) as { payload?: { authorization?: { nonce?: unknown } } };
  const nonce = decoded.payload?.authorization?.nonce;
  if (typeof nonce !== 'string') throw new Error('no nonce in the payment header');
  return nonce;
}
