import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Agent } from 'undici';
import { BalanceProjection } from '../../libs/ledger/balance-projection.js';
import { KafkaOutboxRelay, RelayMetrics } from '../../libs/outbox/kafka-relay.js';
import { EventStore } from '../../libs/eventstore/event-store.js';
import { WebhookDispatcher } from '../../libs/webhooks/webhook-dispatcher.js';
import { WebhookMetrics, WebhookSender } from '../../libs/webhooks/webhook-sender.js';
import { ApprovalTimeouts } from './admin/approvals.js';
import { Clock } from './http/clock.js';
import type { GovernorConfig } from './config.js';
import { assertPublicLiteral, outboundDispatcher } from '../../libs/platform/outbound-guard.js';
import { GOVERNOR_CONFIG, LOGGER, METRICS_REGISTRY } from './http/tokens.js';

const PROJECTION_INTERVAL_MS = 250;

/**
 * The governor's background loops: the balance projection, approval timeouts, webhook
 * dispatch and delivery, and, with Kafka, the outbox relay. Each reads the committed log or
 * its own tables, so none of them is on the decision path.
 */
@Injectable()
export class Background implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private projecting: Promise<unknown> | undefined;
  readonly relay: KafkaOutboxRelay | undefined;
  readonly webhookDispatcher: WebhookDispatcher;
  readonly webhookSender: WebhookSender;
  private readonly webhookClient: Agent;

  constructor(
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
    @Inject(EventStore) store: EventStore,
    @Inject(GOVERNOR_CONFIG) config: GovernorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ApprovalTimeouts) private readonly approvals: ApprovalTimeouts,
    @Inject(Clock) clock: Clock,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.relay =
      config.kafkaBrokers === undefined
        ? undefined
        : new KafkaOutboxRelay(store, { brokers: config.kafkaBrokers, topic: config.kafkaTopic }, logger, new RelayMetrics(registry, store));
    // Webhook URLs are admin input called from inside the operator's network: the same guard as pay-and-fetch.
    this.webhookClient = outboundDispatcher(config.fetchPrivateAddresses);
    this.webhookSender = new WebhookSender({
      pool: store.pool,
      store,
      logger,
      schedule: { baseDelayMs: config.webhookRetryBaseMs, maxDelayMs: config.webhookRetryMaxMs, maxAttempts: config.webhookMaxAttempts },
      timeoutMs: config.webhookTimeoutMs,
      dispatcher: this.webhookClient,
      ...(config.fetchPrivateAddresses === 'deny' ? { assertDestination: assertPublicLiteral } : {}),
      now: () => clock.now(),
      metrics: new WebhookMetrics(registry, store.pool),
    });
    this.webhookDispatcher = new WebhookDispatcher(store, logger, { now: () => clock.now(), onEnqueued: () => this.webhookSender.wake() });
  }

  onApplicationBootstrap(): void {
    this.relay?.start();
    this.webhookDispatcher.start();
    this.webhookSender.start();
    this.timer = setInterval(() => {
      if (this.projecting !== undefined) return;
      this.projecting = this.projection
        .catchUpAll()
        .then(() => this.approvals.sweep())
        .catch((error: unknown) => this.logger.warn({ err: { message: (error as Error).message } }, 'projection catch-up failed'))
        .finally(() => {
          this.projecting = undefined;
        });
    }, PROJECTION_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.projecting;
    await this.relay?.stop();
    await this.webhookDispatcher.stop();
    await this.webhookSender.stop();
    await this.webhookClient.close().catch(() => undefined);
  }
}
