import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { sameSecret } from '../../../libs/platform/secrets.js';
import { AccessKeys, type AgentPrincipal } from './access-keys.js';
import { GOVERNOR_CONFIG } from './tokens.js';
import type { GovernorConfig } from '../config.js';

export type Audience = 'agent' | 'admin' | 'worker' | 'public';
export const AUDIENCE = 'paybound:audience';
/** Marks a controller or route with who may call it; agent is the default. */
export const Audience = (audience: Audience) => SetMetadata(AUDIENCE, audience);

export interface AuthenticatedRequest extends Request {
  agent?: AgentPrincipal;
  /** `admin:<name>`: who an admin request acts as, recorded on the events it causes. */
  adminActor?: string;
}

@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AccessKeys) private readonly keys: AccessKeys,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const audience = this.reflector.getAllAndOverride<Audience | undefined>(AUDIENCE, [context.getHandler(), context.getClass()]) ?? 'agent';
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
      if (this.config.adminToken !== undefined && sameSecret(token, this.config.adminToken)) {
        request.adminActor = 'admin:root';
        return true;
      }
      const name = await this.keys.adminForKey(token);
      if (name === undefined) throw new ApiProblem('forbidden', 'this key cannot use the admin API');
      request.adminActor = `admin:${name}`;
      return true;
    }
    const agent = await this.keys.agentForKey(token);
    if (agent === undefined) throw new ApiProblem('invalid_api_key', 'the API key is unknown or revoked');
    request.agent = agent;
    return true;
  }
}

function bearerToken(request: Request): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer ([\x21-\x7e]{1,256})$/.exec(header);
  return match?.[1];
}

export function principalOf(request: AuthenticatedRequest): AgentPrincipal {
  if (request.agent === undefined) throw new ApiProblem('unauthenticated', 'no agent key on this request');
  return request.agent;
}

export function adminActorOf(request: AuthenticatedRequest): string {
  if (request.adminActor === undefined) throw new ApiProblem('unauthenticated', 'no admin key on this request');
  return request.adminActor;
}
