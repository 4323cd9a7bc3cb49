import { describe, expect, it } from 'vitest';
import { adminAccess, adminKeyShapeFault, type AdminPrincipal, type AdminReach } from './admin-keys.js';

const root: AdminPrincipal = { name: 'ops', scope: 'root', orgId: null };
const orgAdmin: AdminPrincipal = { name: 'alice', scope: 'org_admin', orgId: 'acme' };
const financeAll: AdminPrincipal = { name: 'cfo', scope: 'finance', orgId: null };
const financeAcme: AdminPrincipal = { name: 'acme-books', scope: 'finance', orgId: 'acme' };

type Outcome = 'allowed' | 'forbidden' | 'org_not_found';

function outcome(principal: AdminPrincipal, method: string, reach: AdminReach, orgIdInPath?: string): Outcome {
  const access = adminAccess(principal, { method, reach, orgIdInPath });
  return access.allowed ? 'allowed' : access.code;
}

describe('adminAccess: every scope against every reach of route', () => {
  // [principal, method, reach, org in the path, outcome]
  const table: [AdminPrincipal, string, AdminReach, string | undefined, Outcome][] = [
    [root, 'POST', 'root', undefined, 'allowed'],
    [root, 'DELETE', 'deployment', undefined, 'allowed'],
    [root, 'PUT', 'org_in_path', 'other', 'allowed'],
    [root, 'POST', 'narrowed_by_handler', undefined, 'allowed'],
    [orgAdmin, 'POST', 'root', undefined, 'forbidden'],
    [orgAdmin, 'GET', 'root', undefined, 'forbidden'],
    [orgAdmin, 'GET', 'deployment', undefined, 'forbidden'],
    [orgAdmin, 'PUT', 'org_in_path', 'acme', 'allowed'],
    [orgAdmin, 'PUT', 'org_in_path', 'other', 'org_not_found'],
    [orgAdmin, 'GET', 'org_in_path', 'other', 'org_not_found'],
    [orgAdmin, 'GET', 'org_in_path', undefined, 'org_not_found'],
    [orgAdmin, 'POST', 'narrowed_by_handler', undefined, 'allowed'],
    [financeAll, 'GET', 'deployment', undefined, 'allowed'],
    [financeAll, 'HEAD', 'org_in_path', 'other', 'allowed'],
    [financeAll, 'GET', 'root', undefined, 'forbidden'],
    [financeAll, 'PUT', 'org_in_path', 'acme', 'forbidden'],
    [financeAll, 'POST', 'narrowed_by_handler', undefined, 'forbidden'],
    [financeAll, 'DELETE', 'deployment', undefined, 'forbidden'],
    [financeAcme, 'GET', 'org_in_path', 'acme', 'allowed'],
    [financeAcme, 'GET', 'org_in_path', 'other', 'org_not_found'],
    [financeAcme, 'GET', 'deployment', undefined, 'forbidden'],
    [financeAcme, 'GET', 'narrowed_by_handler', undefined, 'allowed'],
    [financeAcme, 'POST', 'narrowed_by_handler', undefined, 'forbidden'],
  ];

  it.each(table)('%o %s on a %s route (org %s): %s', (principal, method, reach, orgIdInPath, expected) => {
    expect(outcome(principal, method, reach, orgIdInPath)).toBe(expected);
  });

  it('never allows a key bound to one org to reach another org, whatever the method', () => {
    for (const principal of [orgAdmin, financeAcme]) {
      for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
        expect(outcome(principal, method, 'org_in_path', 'other')).not.toBe('allowed');
        expect(outcome(principal, method, 'deployment')).not.toBe('allowed');
        expect(outcome(principal, method, 'root')).not.toBe('allowed');
      }
    }
  });
});

describe('adminKeyShapeFault', () => {
  it('takes a root key over every org, an org_admin key over one, and finance either way', () => {
    expect(adminKeyShapeFault('root', null)).toBeUndefined();
    expect(adminKeyShapeFault('root', 'acme')).toMatch(/names none/);
    expect(adminKeyShapeFault('org_admin', 'acme')).toBeUndefined();
    expect(adminKeyShapeFault('org_admin', null)).toMatch(/names the org/);
    expect(adminKeyShapeFault('finance', null)).toBeUndefined();
    expect(adminKeyShapeFault('finance', 'acme')).toBeUndefined();
  });
});
