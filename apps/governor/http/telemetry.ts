import { Controller, Get, Inject, Req, Res } from '@nestjs/common';
import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import type pg from 'pg';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { scrapeAllowed } from '../../../libs/platform/metrics.js';
import { ApiProblem } from '../../../libs/platform/problem.js';
import { contextOf, SpanKind, traceIdsOf, tracer } from '../../../libs/platform/tracing.js';
import { Audience } from './auth.guard.js';
import type { GovernorConfig } from '../config.js';
import { GOVERNOR_CONFIG, METRICS_REGISTRY } from './tokens.js';

/** Probes and scrapes: neither traced nor counted, they would drown what matters. */
const UNOBSERVED_PATHS = new Set(['/health', '/ready', '/metrics']);

/**
 * One server span per request (continuing the caller's `traceparent`), active for every
 * decision the request makes; a request counter and latency histogram by route; and one
 * log line per request with its trace id. Routes are Express's templates
 * (`/v1/sessions/:id/fetch`), never raw paths, so the labels stay bounded.
 */
export function httpTelemetry(registry: Registry, logger: Logger) {
  const requests = new Counter({ name: 'paybound_http_requests_total', help: 'HTTP requests by method, route and status', labelNames: ['method', 'route', 'status'], registers: [registry] });
  const durationSeconds = new Histogram({
    name: 'paybound_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return (request: Request, response: Response, next: NextFunction): void => {
    if (UNOBSERVED_PATHS.has(request.path)) {
      next();
      return;
    }
    const started = process.hrtime.bigint();
    const span = tracer.startSpan(request.method, { kind: SpanKind.SERVER, attributes: { 'http.request.method': request.method, 'url.path': request.path } }, contextOf(request.headers));
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      const route = routeOf(request);
      const status = response.statusCode;
      const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
      span.updateName(`${request.method} ${route}`);
      span.setAttributes({ 'http.route': route, 'http.response.status_code': status });
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      requests.inc({ method: request.method, route, status: String(status) });
      durationSeconds.observe({ method: request.method, route }, durationMs / 1_000);
      logger.info({ method: request.method, path: request.path, status, durationMs, ...traceIdsOf(span) }, 'request');
      span.end();
    };
    response.once('finish', end);
    // A client that goes away (an SSE stream closed) ends the request without a finish.
    response.once('close', end);
    context.with(trace.setSpan(context.active(), span), next);
  };
}

function routeOf(request: Request): string {
  const path = (request.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? path : 'unmatched';
}

/** Gauges read from the read models at scrape time, so every governor reports the same figures. */
export function registerGovernorGauges(registry: Registry, pool: pg.Pool): void {
  new Gauge({
    name: 'paybound_open_sessions',
    help: 'Sessions open and not yet expired, over all orgs',
    registers: [registry],
    async collect() {
      const result = await pool.query<{ count: string }>(`SELECT count(*) FROM sessions_view WHERE status = 'open' AND expires_at > now()`);
      this.set(Number(result.rows[0]?.count ?? 0));
    },
  });
}

@Controller()
@Audience('public')
export class MetricsController {
  constructor(
    @Inject(METRICS_REGISTRY) private readonly registry: Registry,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
  ) {}

  /**
   * Prometheus text format, behind `Authorization: Bearer <PAYBOUND_METRICS_TOKEN>`. The
   * figures include the paying wallets, so without a token the endpoint is closed unless
   * PAYBOUND_METRICS_OPEN=true says it may be read by anyone who reaches the port.
   */
  @Get('metrics')
  async metrics(@Req() request: Request, @Res() response: Response): Promise<void> {
    if (this.config.metricsToken === undefined && !this.config.metricsOpen) {
      throw new ApiProblem('forbidden', '/metrics is closed: set PAYBOUND_METRICS_TOKEN (and scrape with it), or PAYBOUND_METRICS_OPEN=true');
    }
    if (!scrapeAllowed(request.headers.authorization, this.config.metricsToken)) {
      throw new ApiProblem('unauthenticated', 'send "Authorization: Bearer <PAYBOUND_METRICS_TOKEN>"');
    }
    response.type(this.registry.contentType).send(await this.registry.metrics());
  }
}
