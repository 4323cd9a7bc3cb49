import { ApiProblem } from '../../../libs/platform/problem.js';
import { adminActorOf, type AuthenticatedRequest } from '../http/auth.guard.js';

// What an admin key may do on one org. Today every admin key is root (the guard lets only
// admin keys in); scoped keys (root, org_admin of an org, finance read-only) arrive with the
// admin key scopes, and this is the one place that checks them for the console's endpoints.

export type AdminAccess = 'read' | 'write';

/** The admin acting on `orgId` (null: across orgs), who may do `access` there; throws otherwise. */
export function adminFor(request: AuthenticatedRequest, _orgId: string | null, _access: AdminAccess): string {
  const actor = adminActorOf(request);
  if (!actor.startsWith('admin:')) throw new ApiProblem('forbidden', 'this key cannot use the admin API');
  return actor;
}
