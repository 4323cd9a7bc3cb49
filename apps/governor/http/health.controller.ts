import { Controller, Get, Inject } from '@nestjs/common';
import pg from 'pg';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { Audience } from './auth.guard.js';

@Controller()
@Audience('public')
export class HealthController {
  constructor(@Inject(pg.Pool) private readonly pool: pg.Pool) {}

  /** Liveness: the process answers. */
  @Get('health')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: the database answers and is migrated; without it nothing may be decided. */
  @Get('ready')
  async ready(): Promise<{ status: 'ready'; migrations: number }> {
    try {
      const result = await this.pool.query<{ count: string }>('SELECT count(*) FROM schema_migrations');
      return { status: 'ready', migrations: Number(result.rows[0]?.count ?? 0) };
    } catch {
      throw new ApiProblem('not_ready', 'the database is not reachable');
    }
  }
}
