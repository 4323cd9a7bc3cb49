import { ApiProblem } from '../../../libs/platform/problem.js';
import { adminActorOf, adminOf, type AuthenticatedRequest } from '../http/auth.guard.js';

// What an admin key may do on one org, for the console's endpoints. The guard has already
// admitted the key by its route's reach (apps/governor/http/auth.guard.ts); this checks the
// org and access a handler is about to use: root does everything, an org_admin key reads and
// changes its own org, and a finance key only reads (its org, or every org when it names none).

export type AdminAccess = 'read' | 'write';

/**
 * The admin acting on `orgId` (null: across orgs), who may do `access` there; throws otherwise.
 * Another org answers as if it did not exist, so a key learns nothing about orgs it does not govern.
 */
export function adminFor(request: AuthenticatedRequest, orgId: string | null, access: AdminAccess): string {
  const admin = adminOf(request);
  if (access === 'write' && admin.scope === 'finance') {
    throw new ApiProblem('forbidden', `admin key ${admin.name} is a finance key: it reads, it does not change anything`);
  }
  if (admin.orgId !== null) {
    if (orgId === null) throw new ApiProblem('forbidden', `admin key ${admin.name} is bound to one org; name it with orgId`, { field: 'orgId' });
    if (orgId !== admin.orgId) throw new ApiProblem('org_not_found', `org ${orgId.slice(0, 64)} does not exist`, { field: 'orgId' });
  }
  return adminActorOf(request);
}
