import { Controller, Get, Inject } from '@nestjs/common';
import pg from 'pg';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { Audience } from './auth.guard.js';

/** How long readiness waits for the database: probes run every few seconds and must not pile up. */
const READY_TIMEOUT_MS = 1_000;

@Controller()
@Audience('public')
export class HealthController {
  constructor(@Inject(pg.Pool) private readonly pool: pg.Pool) {}

  /** Liveness: the process answers. */
  @Get('health')
  health(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Readiness: the database answers and is migrated; without it nothing may be decided.
   * Answered within READY_TIMEOUT_MS whatever the database does, so a probe never hangs.
   */
  @Get('ready')
  async ready(): Promise<{ status: 'ready'; migrations: number }> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    });
    try {
      const result = await Promise.race([this.pool.query<{ count: string }>('SELECT count(*) FROM schema_migrations'), timedOut]);
      return { status: 'ready', migrations: Number(result.rows[0]?.count ?? 0) };
    } catch (error) {
      throw new ApiProblem('not_ready', `the database is not reachable (${(error as Error).message.slice(0, 80)})`);
    } finally {
      clearTimeout(timer);
    }
  }
}
