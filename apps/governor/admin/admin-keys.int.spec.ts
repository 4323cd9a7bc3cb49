import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadGovernorConfig } from '../config.js';
import { createGovernor, type RunningGovernor } from '../create-governor.js';
import { createLogger } from '../../../libs/platform/logger.js';
import { call, seedAgent } from '../../../test/support/api-client.js';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { rawRequest } from '../../../test/support/raw-http.js';
import { WEBHOOK_BASE } from '../../../test/support/api-routes.js';

// Admin keys (#17 Medium 11) and policy edits (#17 Medium 3, Low): keys are listed and
// revoked, only root mints them, org admins govern their own org, finance reads; a policy is
// replaced only by a JSON body with If-Match; revoking a key ends its open streams.

const ROOT = 'root-admin-token-admin-keys';

describe('admin keys, scopes and policy edits', () => {
  let db: TestDatabase;
  let governor: RunningGovernor;
  let base: string;

  beforeAll(async () => {
    db = await freshDatabase('admin_keys');
    const config = loadGovernorConfig({ DATABASE_URL: db.url, PORT: '0', PAYBOUND_ADMIN_TOKEN: ROOT, PAYBOUND_SIGN_WAIT_MS: '0' });
    governor = await createGovernor(config, createLogger('test', 'silent'));
    base = governor.url;
    await seedAgent(base, ROOT, { orgId: 'acme', teamId: 'ops', agentId: 'bot' }, { org: '100.00' });
    await seedAgent(base, ROOT, { orgId: 'globex', teamId: 'ops', agentId: 'bot' }, { org: '100.00' });
  });

  afterAll(async () => {
    await governor?.close();
    await db?.drop();
  });

  /** An agent in an org that exists; returns its key. */
  async function addAgent(orgId: string, agentId: string): Promise<string> {
    const created = await call<{ apiKey: string }>(base, 'POST', `/admin/v1/orgs/${orgId}/agents`, { key: ROOT, body: { id: agentId, name: agentId } });
    expect(created.status).toBe(201);
    return created.body.apiKey;
  }

  async function mint(name: string, scope: string, orgId: string | null, key = ROOT) {
    return call<{ apiKey: string; name: string; scope: string; orgId: string | null; code?: string; field?: string }>(base, 'POST', '/admin/v1/admin-keys', { key, body: { name, scope, orgId } });
  }

  describe('minting, listing and revoking', () => {
    it('answers a duplicate name with 409 (it was a 500), and never reuses a revoked name', async () => {
      expect((await mint('alice', 'root', null)).status).toBe(201);
      const again = await mint('alice', 'finance', null);
      expect([again.status, again.body.code, again.body.field]).toEqual([409, 'admin_key_already_exists', 'name']);
      expect((await call(base, 'DELETE', '/admin/v1/admin-keys/alice', { key: ROOT })).status).toBe(200);
      expect((await mint('alice', 'root', null)).status).toBe(409);
      // The admin token's own name is taken.
      expect((await mint('root', 'root', null)).status).toBe(409);
    });

    it('lets only root mint, list and revoke admin keys', async () => {
      const orgAdmin = await mint('acme-admin', 'org_admin', 'acme');
      const finance = await mint('cfo', 'finance', null);
      expect([orgAdmin.status, finance.status]).toEqual([201, 201]);
      for (const key of [orgAdmin.body.apiKey, finance.body.apiKey]) {
        expect((await mint('escalated', 'root', null, key)).status).toBe(403);
        expect((await call(base, 'GET', '/admin/v1/admin-keys', { key })).status).toBe(403);
        expect((await call(base, 'DELETE', '/admin/v1/admin-keys/cfo', { key })).status).toBe(403);
      }
      // A named root key may.
      const ops = await mint('ops', 'root', null);
      expect((await mint('ops-helper', 'finance', 'acme', ops.body.apiKey)).status).toBe(201);
      const list = await call<{ items: { name: string; scope: string; orgId: string | null; createdBy: string; revokedAt: string | null }[] }>(base, 'GET', '/admin/v1/admin-keys', { key: ops.body.apiKey });
      expect(list.status).toBe(200);
      expect(list.body.items.find((k) => k.name === 'ops-helper')).toMatchObject({ scope: 'finance', orgId: 'acme', createdBy: 'admin:ops', revokedAt: null });
      expect(list.body.items.find((k) => k.name === 'alice')?.revokedAt).not.toBeNull();
      expect(JSON.stringify(list.body)).not.toContain('pb_admin_');
    });

    it('checks the shape of a key: org_admin names an org that exists, root names none', async () => {
      expect((await mint('nobody-admin', 'org_admin', null)).body).toMatchObject({ code: 'invalid_request', field: 'orgId' });
      expect((await mint('rooted', 'root', 'acme')).body).toMatchObject({ code: 'invalid_request', field: 'orgId' });
      expect((await mint('ghost-admin', 'org_admin', 'ghost')).body).toMatchObject({ code: 'org_not_found', field: 'orgId' });
      expect((await mint('upper', 'superuser', null)).body).toMatchObject({ code: 'invalid_request', field: 'scope' });
    });

    it('refuses a revoked key at once, and records mint and revocation in the audit with who did it', async () => {
      const temp = await mint('temp', 'org_admin', 'acme');
      expect((await call(base, 'GET', '/admin/v1/orgs/acme/policy', { key: temp.body.apiKey })).status).toBe(200);
      const revoked = await call<{ revokedBy: string }>(base, 'DELETE', '/admin/v1/admin-keys/temp', { key: ROOT });
      expect([revoked.status, revoked.body.revokedBy]).toEqual([200, 'admin:root']);
      expect((await call(base, 'GET', '/admin/v1/orgs/acme/policy', { key: temp.body.apiKey })).status).toBe(403);
      expect((await call<{ code: string }>(base, 'DELETE', '/admin/v1/admin-keys/temp', { key: ROOT })).body.code).toBe('admin_key_not_found');
      const audit = await call<{ items: { type: string; actor: string; orgId: string; data: { name: string; change: string; scope: string } }[] }>(base, 'GET', '/admin/v1/audit?orgId=acme&type=AdminKeyChanged', { key: ROOT });
      expect(audit.body.items.filter((e) => e.data.name === 'temp').map((e) => [e.data.change, e.actor, e.data.scope])).toEqual([
        ['issued', 'admin:root', 'org_admin'],
        ['revoked', 'admin:root', 'org_admin'],
      ]);
    });
  });

  describe('scopes', () => {
    let acmeAdmin: string;
    let acmeBooks: string;
    let cfo: string;

    beforeAll(async () => {
      acmeAdmin = (await mint('acme-owner', 'org_admin', 'acme')).body.apiKey;
      acmeBooks = (await mint('acme-books', 'finance', 'acme')).body.apiKey;
      cfo = (await mint('group-cfo', 'finance', null)).body.apiKey;
    });

    it('an org admin governs its own org and sees no other: 404 for another org, 403 for what spans every org', async () => {
      expect((await call(base, 'PUT', '/admin/v1/orgs/acme/budget', { key: acmeAdmin, body: { limit: '50.00' } })).status).toBe(200);
      expect((await call(base, 'POST', '/admin/v1/orgs/acme/agents', { key: acmeAdmin, body: { id: 'bot2', name: 'bot2' } })).status).toBe(201);
      for (const [method, path, body] of [
        ['GET', '/admin/v1/orgs/globex/policy', undefined],
        ['PUT', '/admin/v1/orgs/globex/budget', { limit: '1.00' }],
        ['POST', '/admin/v1/orgs/globex/agents', { id: 'mole', name: 'mole' }],
        ['DELETE', '/admin/v1/orgs/globex/agents/bot/keys', undefined],
        ['GET', '/admin/v1/audit?orgId=globex', undefined],
        ['GET', '/admin/v1/approvals?orgId=globex', undefined],
        ['GET', '/admin/v1/webhooks?orgId=globex', undefined],
      ] as const) {
        const answer = await call<{ code: string }>(base, method, path, { key: acmeAdmin, body });
        expect([method, path, answer.status, answer.body.code]).toEqual([method, path, 404, 'org_not_found']);
      }
      for (const [method, path, body] of [
        ['POST', '/admin/v1/orgs', { id: 'newco', name: 'newco' }],
        ['GET', '/admin/v1/wallets', undefined],
        ['GET', '/admin/v1/admin-keys', undefined],
      ] as const) {
        expect((await call(base, method, path, { key: acmeAdmin, body })).status, path).toBe(403);
      }
      // What spans orgs is narrowed to its own.
      const audit = await call<{ items: { orgId: string }[] }>(base, 'GET', '/admin/v1/audit?limit=500', { key: acmeAdmin });
      expect(audit.body.items.length).toBeGreaterThan(0);
      expect(new Set(audit.body.items.map((e) => e.orgId))).toEqual(new Set(['acme']));
      const balances = await call<{ agents: { orgId: string }[] }>(base, 'GET', '/admin/v1/balances', { key: acmeAdmin });
      expect(new Set(balances.body.agents.map((a) => a.orgId))).toEqual(new Set(['acme']));
      // The budget of globex is untouched.
      expect((await call<{ agents: { orgId: string }[] }>(base, 'GET', '/admin/v1/balances', { key: ROOT })).body.agents.some((a) => a.orgId === 'globex')).toBe(true);
    });

    it('a finance key reads and changes nothing; one bound to an org reads that org only', async () => {
      expect((await call(base, 'GET', '/admin/v1/orgs/globex/policy', { key: cfo })).status).toBe(200);
      expect((await call(base, 'GET', '/admin/v1/wallets', { key: cfo })).status).toBe(200);
      expect((await call(base, 'GET', '/admin/v1/audit', { key: cfo })).status).toBe(200);
      for (const key of [cfo, acmeBooks]) {
        expect((await call(base, 'PUT', '/admin/v1/orgs/acme/budget', { key, body: { limit: '1.00' } })).status).toBe(403);
        expect((await call(base, 'PUT', '/admin/v1/orgs/acme/policy', { key, body: {}, headers: { 'If-Match': '*' } })).status).toBe(403);
        expect((await call(base, 'POST', '/admin/v1/webhooks', { key, body: { url: `${WEBHOOK_BASE}/x` } })).status).toBe(403);
      }
      expect((await call(base, 'GET', '/admin/v1/orgs/acme/policy', { key: acmeBooks })).status).toBe(200);
      expect((await call(base, 'GET', '/admin/v1/orgs/globex/policy', { key: acmeBooks })).status).toBe(404);
      expect((await call(base, 'GET', '/admin/v1/wallets', { key: acmeBooks })).status).toBe(403);
    });

    it('an org admin\'s webhooks are its org\'s: created for it, invisible to other org admins', async () => {
      const created = await call<{ id: string; orgId: string }>(base, 'POST', '/admin/v1/webhooks', { key: acmeAdmin, body: { url: `${WEBHOOK_BASE}/acme` } });
      expect([created.status, created.body.orgId]).toEqual([201, 'acme']);
      const globexAdmin = (await mint('globex-owner', 'org_admin', 'globex')).body.apiKey;
      expect((await call(base, 'GET', `/admin/v1/webhooks/${created.body.id}`, { key: globexAdmin })).status).toBe(404);
      expect((await call(base, 'PATCH', `/admin/v1/webhooks/${created.body.id}`, { key: globexAdmin, body: { enabled: false } })).status).toBe(404);
      expect((await call(base, 'DELETE', `/admin/v1/webhooks/${created.body.id}`, { key: globexAdmin })).status).toBe(404);
      expect((await call<{ items: unknown[] }>(base, 'GET', '/admin/v1/webhooks', { key: globexAdmin })).body.items).toEqual([]);
      expect((await call(base, 'GET', `/admin/v1/webhooks/${created.body.id}`, { key: acmeAdmin })).status).toBe(200);
    });
  });

  describe('policy edits', () => {
    it('refuses a PUT without a body (400) or with a form body (415) instead of resetting the policy', async () => {
      const set = await call<{ version: number }>(base, 'PUT', '/admin/v1/orgs/acme/policy', { key: ROOT, body: { maxPerPayment: '0.50' }, headers: { 'If-Match': '*' } });
      expect(set.status).toBe(200);
      const empty = await rawRequest(base, { method: 'PUT', target: '/admin/v1/orgs/acme/policy', headers: [['Authorization', `Bearer ${ROOT}`], ['If-Match', '*']] });
      expect([empty.status, empty.json?.code]).toEqual([400, 'invalid_request']);
      const form = await rawRequest(base, {
        method: 'PUT',
        target: '/admin/v1/orgs/acme/policy',
        headers: [['Authorization', `Bearer ${ROOT}`], ['If-Match', '*'], ['Content-Type', 'application/x-www-form-urlencoded']],
        body: 'maxPerPayment=',
      });
      expect([form.status, form.json?.code]).toEqual([415, 'unsupported_media_type']);
      const after = await call<{ version: number; policy: { maxPerPayment: string } }>(base, 'GET', '/admin/v1/orgs/acme/policy', { key: ROOT });
      expect([after.body.version, after.body.policy.maxPerPayment]).toEqual([set.body.version, '0.50']);
    });

    it('needs If-Match on a PUT: 428 without it, 412 when stale, 200 with the current ETag', async () => {
      const current = await call(base, 'GET', '/admin/v1/orgs/acme/teams/ops/policy', { key: ROOT });
      const etag = current.headers.get('etag')!;
      const missing = await call<{ code: string; field: string }>(base, 'PUT', '/admin/v1/orgs/acme/teams/ops/policy', { key: ROOT, body: { maxPerPayment: '0.10' } });
      expect([missing.status, missing.body.code, missing.body.field]).toEqual([428, 'precondition_required', 'If-Match']);
      expect((await call(base, 'PUT', '/admin/v1/orgs/acme/teams/ops/policy', { key: ROOT, body: { maxPerPayment: '0.10' }, headers: { 'If-Match': etag } })).status).toBe(200);
      expect((await call(base, 'PUT', '/admin/v1/orgs/acme/teams/ops/policy', { key: ROOT, body: { maxPerPayment: '0.20' }, headers: { 'If-Match': etag } })).status).toBe(412);
    });

    it('answers the policy of an org, team or agent that does not exist with 404, not an empty policy', async () => {
      expect((await call<{ code: string }>(base, 'GET', '/admin/v1/orgs/nope/policy', { key: ROOT })).body.code).toBe('org_not_found');
      expect((await call<{ code: string }>(base, 'GET', '/admin/v1/orgs/acme/teams/nope/policy', { key: ROOT })).body.code).toBe('team_not_found');
      expect((await call<{ code: string }>(base, 'GET', '/admin/v1/orgs/acme/agents/nope/policy', { key: ROOT })).body.code).toBe('agent_not_found');
      expect((await call(base, 'GET', '/admin/v1/orgs/acme/agents/bot/policy', { key: ROOT })).status).toBe(200);
    });
  });

  describe('revoking a key ends its open event streams', () => {
    /** Opens an SSE stream and resolves when the server ends it, or rejects after `timeoutMs`. */
    async function openStream(path: string, key: string): Promise<{ ended: Promise<number> }> {
      const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${key}` } });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      const started = Date.now();
      const ended = (async () => {
        for (;;) {
          const { done } = await reader.read();
          if (done) return Date.now() - started;
        }
      })();
      return { ended };
    }

    const within = <T>(promise: Promise<T>, ms: number) =>
      Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`still open after ${ms} ms`)), ms))]);

    it('an admin stream ends when its admin key is revoked', async () => {
      const watcher = await mint('watcher', 'finance', null);
      const stream = await openStream('/admin/v1/stream?backlog=0', watcher.body.apiKey);
      expect((await call(base, 'DELETE', '/admin/v1/admin-keys/watcher', { key: ROOT })).status).toBe(200);
      await within(stream.ended, 2_000);
    });

    it('a session stream ends when its agent\'s keys are revoked, and a namesake\'s in another org stays open', async () => {
      const acmeKey = await addAgent('acme', 'streamer');
      const globexKey = await addAgent('globex', 'streamer');
      const acmeSession = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: acmeKey, body: { limit: '1.00' } });
      const globexSession = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key: globexKey, body: { limit: '1.00' } });
      const acmeStream = await openStream(`/v1/sessions/${acmeSession.body.id}/stream`, acmeKey);
      const globexStream = await openStream(`/v1/sessions/${globexSession.body.id}/stream`, globexKey);
      expect((await call(base, 'DELETE', '/admin/v1/orgs/acme/agents/streamer/keys', { key: ROOT })).status).toBe(200);
      await within(acmeStream.ended, 2_000);
      await expect(within(globexStream.ended, 1_000)).rejects.toThrow(/still open/);
    });

    it('a stream whose key was revoked elsewhere (another governor) ends at its next key check', async () => {
      const key = await addAgent('acme', 'far-away');
      const session = await call<{ id: string }>(base, 'POST', '/v1/sessions', { key, body: { limit: '1.00' } });
      const stream = await openStream(`/v1/sessions/${session.body.id}/stream`, key);
      // As another governor would: the row changes, no signal reaches this process.
      await db.pool.query(`UPDATE agent_keys SET revoked_at = now() WHERE org_id = 'acme' AND agent_id = 'far-away'`);
      const endedAfterMs = await within(stream.ended, 8_000);
      expect(endedAfterMs).toBeLessThan(8_000);
    });
  });
});
