// Named admin keys and what each may do. A key has a scope: `root` governs everything and
// alone mints and revokes admin keys; `org_admin` governs one org; `finance` reads (one org,
// or every org when it names none). Minting and revoking are events, so the audit trail says
// who could act, from when, and who granted it. Pure: the governor stores and enforces.

export const ADMIN_SCOPES = ['root', 'org_admin', 'finance'] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

/** Who an admin request acts as. `orgId` null: every org (root, or finance over all orgs). */
export interface AdminPrincipal {
  name: string;
  scope: AdminScope;
  orgId: string | null;
}

export interface AdminKeyChanged {
  type: 'AdminKeyChanged';
  data: {
    name: string;
    scope: AdminScope;
    /** The org the key is bound to; null for a key over every org. */
    orgId: string | null;
    change: 'issued' | 'revoked';
  };
}

/** One stream per key name: names are never reused, so a name means one key in the audit. */
export function adminKeyStreamId(name: string): string {
  return `admin-key-${name}`;
}

/** Why a key of this scope and org cannot be minted, or undefined when it can. */
export function adminKeyShapeFault(scope: AdminScope, orgId: string | null): string | undefined {
  switch (scope) {
    case 'root':
      return orgId === null ? undefined : 'a root key governs every org: it names none';
    case 'org_admin':
      return orgId === null ? 'an org_admin key names the org it governs' : undefined;
    case 'finance':
      return undefined;
    default: {
      const _never: never = scope;
      return _never;
    }
  }
}

/** How far a route reaches, which decides the admin keys that may call it. */
export type AdminReach =
  /** Admin keys themselves, and creating orgs: root only. */
  | 'root'
  /** Every org at once and no way to narrow it (the paying wallets): keys bound to no org. */
  | 'deployment'
  /** The org in the route's path (`:orgId`): keys over every org, or bound to that one. */
  | 'org_in_path'
  /** The handler narrows what it reads and changes to the key's org itself. */
  | 'narrowed_by_handler';

export type AdminAccess = { allowed: true } | { allowed: false; code: 'forbidden' | 'org_not_found'; detail: string };

const READ_METHODS = new Set(['GET', 'HEAD']);

/**
 * Whether an admin key may call a route. Another org's resources answer as if they did not
 * exist (org_not_found), so a key learns nothing about orgs it does not govern.
 */
export function adminAccess(principal: AdminPrincipal, route: { method: string; reach: AdminReach; orgIdInPath: string | undefined }): AdminAccess {
  if (principal.scope === 'finance' && !READ_METHODS.has(route.method)) {
    return { allowed: false, code: 'forbidden', detail: `admin key ${principal.name} is a finance key: it reads, it does not change anything` };
  }
  switch (route.reach) {
    case 'root':
      return principal.scope === 'root' ? { allowed: true } : { allowed: false, code: 'forbidden', detail: `only a root admin key may do this; ${principal.name} is ${principal.scope}` };
    case 'deployment':
      return principal.orgId === null ? { allowed: true } : { allowed: false, code: 'forbidden', detail: `admin key ${principal.name} is bound to one org; this route spans every org` };
    case 'org_in_path':
      if (principal.orgId === null || route.orgIdInPath === principal.orgId) return { allowed: true };
      return { allowed: false, code: 'org_not_found', detail: `org ${(route.orgIdInPath ?? '').slice(0, 64)} does not exist` };
    case 'narrowed_by_handler':
      return { allowed: true };
    default: {
      const _never: never = route.reach;
      return _never;
    }
  }
}
