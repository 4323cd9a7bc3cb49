import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { freshDatabase, type TestDatabase } from '../../../test/support/database.js';
import { AccessKeys } from './access-keys.js';

describe('AccessKeys: agent key lookups of concurrent requests', () => {
  let db: TestDatabase;
  let keys: AccessKeys;

  beforeAll(async () => {
    db = await freshDatabase('access_keys');
    keys = new AccessKeys(db.pool);
  });
  afterAll(async () => {
    await db.drop();
  });

  it('answers the lookups of one turn from one query, each with its own agent, and none for a revoked or unknown key', async () => {
    const first = await keys.issueAgentKey('agent-1', 'org-a');
    const second = await keys.issueAgentKey('agent-2', 'org-b');
    const revoked = await keys.issueAgentKey('agent-3', 'org-a');
    await keys.revokeAgentKeys('org-a', 'agent-3');
    const query = vi.spyOn(db.pool, 'query');
    try {
      const found = await Promise.all([first, second, revoked, 'pb_agent_unknown', first].map((key) => keys.agentForKey(key)));
      expect(found).toEqual([{ agentId: 'agent-1', orgId: 'org-a' }, { agentId: 'agent-2', orgId: 'org-b' }, undefined, undefined, { agentId: 'agent-1', orgId: 'org-a' }]);
      expect(query).toHaveBeenCalledTimes(1);
    } finally {
      query.mockRestore();
    }
    // Revocation takes effect on the next lookup: nothing is cached between turns.
    await keys.revokeAgentKeys('org-a', 'agent-1');
    expect(await keys.agentForKey(first)).toBeUndefined();
  });

  it('revokes the keys of one org\'s agent only: agent ids are unique within an org, not across orgs', async () => {
    const orgB = await keys.issueAgentKey('agentb', 'orgb');
    const orgD = await keys.issueAgentKey('agentb', 'orgd');
    expect(await keys.revokeAgentKeys('orgd', 'agentb')).toBe(1);
    expect(await keys.agentForKey(orgD)).toBeUndefined();
    expect(await keys.agentForKey(orgB)).toEqual({ agentId: 'agentb', orgId: 'orgb' });
  });
});
