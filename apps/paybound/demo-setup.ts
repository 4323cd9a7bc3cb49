import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The demo's org, team and agent, made through the admin API like any other. Their ids are
// fixed so that a restart on the kept database finds them again; the agent key is stored
// in .paybound/ because the API shows it only once.

const REQUEST_TIMEOUT_MS = 10_000;

export const DEMO_ORG = { id: 'demo', name: 'Demo Org', limit: '100.00' } as const;
export const DEMO_TEAM = { id: 'research', name: 'Research', limit: '20.00' } as const;
export const DEMO_AGENT = { id: 'demo-agent', name: 'demo-agent', limit: '5.00' } as const;

export interface DemoAgent {
  orgId: string;
  teamId: string;
  agentId: string;
  apiKey: string;
}

async function call(baseUrl: string, method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = { detail: text.slice(0, 200) };
  }
  return { status: response.status, body: parsed };
}

function expectStatus(result: { status: number; body: Record<string, unknown> }, allowed: number[], what: string): void {
  if (!allowed.includes(result.status)) throw new Error(`${what} failed with ${result.status}: ${JSON.stringify(result.body).slice(0, 300)}`);
}

/** The admin token: from the environment, else from .paybound/admin-token, else a new one. */
export function adminToken(stateDir: string, fromEnv: string | undefined): { token: string; created: boolean } {
  if (fromEnv !== undefined) return { token: fromEnv, created: false };
  const file = join(stateDir, 'admin-token');
  if (existsSync(file)) {
    const token = readFileSync(file, 'utf8').trim();
    if (token.length >= 24) return { token, created: false };
  }
  const token = `pb_admin_${randomBytes(32).toString('base64url')}`;
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return { token, created: true };
}

/** Finds the demo agent from an earlier run, or creates the org, team and agent now. */
export async function ensureDemoAgent(baseUrl: string, admin: string, stateDir: string): Promise<{ agent: DemoAgent; created: boolean }> {
  const file = join(stateDir, 'demo-agent.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as DemoAgent;
    // An unknown session answers 404 to a valid key and 401 to a key the database does not know.
    const probe = await call(baseUrl, 'GET', '/v1/sessions/ses_key_check', saved.apiKey);
    if (probe.status === 404) return { agent: saved, created: false };
  }
  expectStatus(await call(baseUrl, 'POST', '/admin/v1/orgs', admin, DEMO_ORG), [201, 409], 'creating the demo org');
  expectStatus(await call(baseUrl, 'POST', `/admin/v1/orgs/${DEMO_ORG.id}/teams`, admin, DEMO_TEAM), [201, 409], 'creating the demo team');
  const created = await call(baseUrl, 'POST', `/admin/v1/orgs/${DEMO_ORG.id}/agents`, admin, { ...DEMO_AGENT, teamId: DEMO_TEAM.id });
  expectStatus(created, [201, 409], 'creating the demo agent');
  // The agent exists from an earlier run whose key file is gone: a new key replaces the old.
  const withKey = created.status === 201 ? created : await call(baseUrl, 'POST', `/admin/v1/orgs/${DEMO_ORG.id}/agents/${DEMO_AGENT.id}/keys`, admin);
  expectStatus(withKey, [200, 201], 'issuing the demo agent key');
  const apiKey = withKey.body.apiKey;
  if (typeof apiKey !== 'string') throw new Error('the admin API did not return the demo agent key');
  const agent: DemoAgent = { orgId: DEMO_ORG.id, teamId: DEMO_TEAM.id, agentId: DEMO_AGENT.id, apiKey };
  writeFileSync(file, `${JSON.stringify(agent, null, 2)}\n`, { mode: 0o600 });
  return { agent, created: true };
}
