import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { adminAccess, type AdminPrincipal, type AdminReach } from '../../../libs/domain/admin/admin-keys.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { sameSecret } from '../../../libs/platform/secrets.js';
import { AccessKeys, type AgentPrincipal } from './access-keys.js';
import { GOVERNOR_CONFIG } from './tokens.js';
import type { GovernorConfig } from '../config.js';

export type Audience = 'agent' | 'admin' | 'worker' | 'public';
export const AUDIENCE = 'paybound:audience';
/** Marks a controller or route with who may call it; agent is the default. */
export const Audience = (audience: Audience) => SetMetadata(AUDIENCE, audience);

export const REACH = 'paybound:admin-reach';
/**
 * How far an admin route reaches (libs/domain/admin/admin-keys.ts). Without it, a route with
 * `:orgId` in its path reaches that org, and any other reaches every org: only keys bound to
 * no org may call it. A new admin route is therefore closed to org-bound keys until it says
 * how it narrows what it shows to the key's org.
 */
export const Reach = (reach: AdminReach) => SetMetadata(REACH, reach);

/** The principal of PAYBOUND_ADMIN_TOKEN: root, over every org. */
const ROOT_PRINCIPAL: AdminPrincipal = { name: 'root', scope: 'root', orgId: null };

export interface AuthenticatedRequest extends Request {
  agent?: AgentPrincipal;
  /** Who an admin request acts as, with its scope. */
  admin?: AdminPrincipal;
}

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AccessKeys) private readonly keys: AccessKeys,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const audience = this.reflector.getAllAndOverride<Audience | undefined>(AUDIENCE, targets) ?? 'agent';
    if (audience === 'public') return true;
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request);
    if (token === undefined) throw new ApiProblem('unauthenticated', 'send "Authorization: Bearer <key>"');
    if (audience === 'worker') {
      if (this.config.workerToken === undefined) throw new ApiProblem('forbidden', 'this governor takes no settlement worker commands (PAYBOUND_WORKER_TOKEN is not set)');
      if (!sameSecret(token, this.config.workerToken)) throw new ApiProblem('forbidden', 'this key cannot send settlement worker commands');
      return true;
    }
    if (audience === 'admin') {
      const admin = await this.adminFor(token);
      if (admin === undefined) throw new ApiProblem('forbidden', 'this key cannot use the admin API');
      const orgIdInPath = typeof request.params.orgId === 'string' ? request.params.orgId : undefined;
      const reach = this.reflector.getAllAndOverride<AdminReach | undefined>(REACH, targets) ?? (orgIdInPath === undefined ? 'deployment' : 'org_in_path');
      const access = adminAccess(admin, { method: request.method, reach, orgIdInPath });
      if (!access.allowed) throw new ApiProblem(access.code, access.detail, access.code === 'org_not_found' ? { field: 'orgId' } : {});
      request.admin = admin;
      return true;
    }
    const agent = await this.keys.agentForKey(token);
    if (agent === undefined) throw new ApiProblem('invalid_api_key', 'the API key is unknown or revoked');
    request.agent = agent;
    return true;
  }

  private async adminFor(token: string): Promise<AdminPrincipal | undefined> {
    if (this.config.adminToken !== undefined && sameSecret(token, this.config.adminToken)) return ROOT_PRINCIPAL;
    return this.keys.adminForKey(token);
  }
}

export function bearerToken(request: Request): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer ([\x21-\x7e]{1,256})$/.exec(header);
  return match?.[1];
}

export function principalOf(request: AuthenticatedRequest): AgentPrincipal {
  if (request.agent === undefined) throw new ApiProblem('unauthenticated', 'no agent key on this request');
  return request.agent;
}

/** `admin:<name>`: who an admin request acts as, recorded on the events it causes. */
export function adminActorOf(request: AuthenticatedRequest): string {
  return `admin:${adminOf(request).name}`;
}

export function adminOf(request: AuthenticatedRequest): AdminPrincipal {
  if (request.admin === undefined) throw new ApiProblem('unauthenticated', 'no admin key on this request');
  return request.admin;
}

/**
 * The org an admin request is confined to, or null for a key over every org. Handlers of
 * routes that reach `narrowed_by_handler` pass it to every query; `requested` is the org a
 * filter or body names, refused as unknown when it is another org.
 */
export function adminOrgScope(request: AuthenticatedRequest, requested?: string | null): string | null {
  const bound = adminOf(request).orgId;
  if (bound === null) return requested ?? null;
  if (requested !== undefined && requested !== null && requested !== bound) throw new ApiProblem('org_not_found', `org ${requested.slice(0, 64)} does not exist`, { field: 'orgId' });
  return bound;
}
