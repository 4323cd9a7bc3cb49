import { type DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { CqrsModule } from '@nestjs/cqrs';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { EventStore } from '../../libs/eventstore/event-store.js';
import { BalanceProjection } from '../../libs/ledger/balance-projection.js';
import { DecisionMetrics, ObservedDecisions } from '../../libs/ledger/decision-telemetry.js';
import { OrgCommandProcessor } from '../../libs/ledger/org-command-processor.js';
import { AccessKeys } from './http/access-keys.js';
import { AdminController } from './admin/admin.controller.js';
import { AdminKeysController } from './admin/admin-keys.js';
import { KeyRevocations } from './http/key-revocations.js';
import { AdminPoliciesController } from './admin/admin-policies.controller.js';
import { ApprovalsController, ApprovalTimeouts } from './admin/approvals.js';
import { AuditController } from './admin/audit.controller.js';
import { AdminPaymentsController } from './admin/admin-payments.controller.js';
import { KillSwitchController } from './admin/kill-switch.controller.js';
import { SpendController } from './admin/spend.controller.js';
import { Clock, SystemClock } from './http/clock.js';
import { AuthGuard } from './http/auth.guard.js';
import { InputGuard } from './http/input-guard.js';
import { Background } from './background.js';
import type { GovernorConfig } from './config.js';
import { DecideBudgetHandler } from './decide-budget.handler.js';
import { HealthController } from './http/health.controller.js';
import { PaymentRequests } from './payments/payment-requests.js';
import { PaymentRails } from './payments/payment-rails.js';
import { RailChoices } from './payments/rail-choice.js';
import { PaymentsController } from './payments/payments.controller.js';
import { FetchController } from './payments/fetch.controller.js';
import { PaymentOffers } from './payments/payment-offers.js';
import { PaymentSignatures } from './payments/payment-signatures.js';
import { FetchAnswers } from './payments/fetch-answers.js';
import { PayAndFetch } from './payments/pay-and-fetch.js';
import { SellerCalls } from './payments/seller-calls.js';
import { Sessions } from './payments/sessions.js';
import { SignOnly } from './payments/sign-only.js';
import { ProblemFilter } from './http/problem.filter.js';
import { ReadModels } from './agent/read-models.js';
import { SessionsController } from './agent/sessions.controller.js';
import { StreamController } from './dashboard/stream.controller.js';
import { DashboardController } from './dashboard/dashboard.controller.js';
import { MetricsController } from './http/telemetry.js';
import { GOVERNOR_CONFIG, LOGGER, METRICS_REGISTRY } from './http/tokens.js';
import { AgentGrpcServer } from './grpc/agent-grpc-server.js';
import { Catalog } from './catalog/catalog.js';
import { CatalogController } from './catalog/catalog.controller.js';
import { CATALOG_CONFIG, CatalogSync, loadCatalogConfig } from './catalog/catalog-sync.js';
import { WalletFunding, WalletsController } from './payments/wallet-funding.js';
import { WebhooksController } from './webhooks/webhooks.controller.js';
import { WorkerCommandsController } from './payments/worker-commands.controller.js';
import { McpGateway } from './mcp/mcp-gateway.js';
import { McpGatewayController } from './mcp/mcp-gateway.controller.js';
import { McpServers } from './mcp/mcp-servers.js';
import { McpServersController } from './mcp/mcp-servers.controller.js';
import { McpUpstreams } from './mcp/mcp-upstreams.js';

@Module({})
export class GovernorModule {
  static create(config: GovernorConfig, logger: Logger, pool: pg.Pool, registry: Registry, clock: Clock = new SystemClock()): DynamicModule {
    return {
      module: GovernorModule,
      imports: [CqrsModule.forRoot()],
      controllers: [SessionsController, PaymentsController, AdminController, AdminKeysController, AdminPoliciesController, AuditController, ApprovalsController, KillSwitchController, SpendController, AdminPaymentsController, HealthController, StreamController, DashboardController, FetchController, CatalogController, WalletsController, MetricsController, WebhooksController, WorkerCommandsController, McpServersController, McpGatewayController],
      providers: [
        { provide: GOVERNOR_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: METRICS_REGISTRY, useValue: registry },
        { provide: Clock, useValue: clock },
        { provide: pg.Pool, useValue: pool },
        { provide: EventStore, useFactory: (p: pg.Pool) => new EventStore(p), inject: [pg.Pool] },
        {
          provide: OrgCommandProcessor,
          useFactory: (store: EventStore) => new OrgCommandProcessor(store, { maxBatchSize: config.batchMax, maxConcurrentCommits: config.concurrentCommits }),
          inject: [EventStore],
        },
        {
          provide: ObservedDecisions,
          useFactory: (processor: OrgCommandProcessor) => new ObservedDecisions(processor, new DecisionMetrics(registry)),
          inject: [OrgCommandProcessor],
        },
        { provide: BalanceProjection, useFactory: (store: EventStore) => new BalanceProjection(store, { logger, registry }), inject: [EventStore] },
        KeyRevocations,
        AccessKeys,
        ReadModels,
        PaymentRequests,
        PaymentRails,
        RailChoices,
        Sessions,
        SignOnly,
        PayAndFetch,
        SellerCalls,
        FetchAnswers,
        DecideBudgetHandler,
        Background,
        ApprovalTimeouts,
        // In this order: who is calling, then what they sent in the path and query.
        { provide: APP_GUARD, useClass: AuthGuard },
        { provide: APP_GUARD, useClass: InputGuard },
        { provide: APP_FILTER, useClass: ProblemFilter },
        AgentGrpcServer,
        PaymentOffers,
        PaymentSignatures,
        Catalog,
        { provide: CATALOG_CONFIG, useFactory: () => loadCatalogConfig() },
        CatalogSync,
        WalletFunding,
        McpServers,
        McpUpstreams,
        McpGateway,
      ],
    };
  }
}
