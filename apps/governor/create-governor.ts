import 'reflect-metadata';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication, LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import pg from 'pg';
import type { Logger } from 'pino';
import { defaultMigrationsDirectory, migrate } from '../../libs/eventstore/migrate.js';
import { createDatabasePool } from '../../libs/platform/database-pool.js';
import { createRegistry } from '../../libs/platform/metrics.js';
import type { Clock } from './http/clock.js';
import type { GovernorConfig } from './config.js';
import { GovernorModule } from './governor.module.js';
import { AgentGrpcServer, grpcPortFromEnv } from './grpc/agent-grpc-server.js';
import { strictJsonBody } from './http/json-body.js';
import { openApiDocument } from './http/openapi.js';
import { answerClientErrors } from './http/client-errors.js';
import { httpTelemetry, registerGovernorGauges } from './http/telemetry.js';

export interface RunningGovernor {
  app: INestApplication;
  url: string;
  pool: pg.Pool;
  close(): Promise<void>;
}

/** Nest's own log lines go through the same structured logger as everything else. */
function nestLogger(logger: Logger): LoggerService {
  return {
    log: (message: unknown, context?: string) => logger.debug({ context }, String(message)),
    error: (message: unknown, trace?: string, context?: string) => logger.error({ context, trace }, String(message)),
    warn: (message: unknown, context?: string) => logger.warn({ context }, String(message)),
    debug: (message: unknown, context?: string) => logger.debug({ context }, String(message)),
    verbose: (message: unknown, context?: string) => logger.trace({ context }, String(message)),
  };
}

/** Migrates the database, then starts the governor's HTTP API and background loops. */
export async function createGovernor(config: GovernorConfig, logger: Logger, options: { clock?: Clock } = {}): Promise<RunningGovernor> {
  // Migrations may run long (an index on a big table): their own connection, without the
  // timeouts that keep requests fast.
  const migrations = createDatabasePool({ connectionString: config.databaseUrl, max: 1, connectionTimeoutMillis: config.dbConnectTimeoutMs }, logger);
  try {
    const applied = await migrate(migrations, defaultMigrationsDirectory());
    if (applied.length > 0) logger.info({ applied }, 'database migrated');
  } finally {
    await migrations.end();
  }
  // Every wait on the database is bounded, so a stalled or unreachable database answers 503
  // within seconds (problem.filter.ts) instead of holding requests for as long as it stalls.
  const pool = createDatabasePool(
    {
      connectionString: config.databaseUrl,
      max: config.dbPoolSize,
      connectionTimeoutMillis: config.dbConnectTimeoutMs,
      statement_timeout: config.dbStatementTimeoutMs,
      query_timeout: config.dbQueryTimeoutMs,
      idle_in_transaction_session_timeout: config.dbIdleInTransactionTimeoutMs,
      keepAlive: true,
    },
    logger,
  );

  // One registry per governor, so several in one process (tests) keep their own counts.
  const registry = createRegistry('governor');
  registerGovernorGauges(registry, pool);
  const app = await NestFactory.create(GovernorModule.create(config, logger, pool, registry, options.clock), { logger: nestLogger(logger), bodyParser: false, abortOnError: false });
  // What the server runs on is nobody's business.
  (app.getHttpAdapter().getInstance() as { disable(setting: string): void }).disable('x-powered-by');
  // JSON in UTF-8 only, strictly parsed and bounded (json-body.ts).
  app.use(strictJsonBody());
  // After the body parser, so the request's span stays active through the handler.
  app.use(httpTelemetry(registry, logger));
  SwaggerModule.setup('docs', app, openApiDocument as unknown as OpenAPIObject, { jsonDocumentUrl: 'docs/openapi.json' });
  answerClientErrors(app.getHttpServer() as Server);
  await app.listen(config.port, config.host);
  const address = (app.getHttpServer() as Server).address() as AddressInfo;
  const url = `http://${config.host}:${address.port}`;

  // The gRPC agent API (proto/paybound/v1/agent.proto) listens beside HTTP only when
  // GRPC_PORT is set; app.close() stops it through the provider's onModuleDestroy.
  const grpcPort = grpcPortFromEnv(process.env);
  if (grpcPort !== undefined) await app.get(AgentGrpcServer).start(config.host, grpcPort);

  return {
    app,
    url,
    pool,
    close: async () => {
      await app.close();
      await pool.end();
    },
  };
}

