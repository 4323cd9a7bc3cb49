import { Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { BalanceProjection } from '../../libs/ledger/balance-projection.js';
import { KafkaOutboxRelay, RelayMetrics } from '../../libs/outbox/kafka-relay.js';
import { EventStore } from '../../libs/eventstore/event-store.js';
import { ApprovalTimeouts } from './approvals.js';
import type { GovernorConfig } from './config.js';
import { GOVERNOR_CONFIG, LOGGER, METRICS_REGISTRY } from './tokens.js';

const PROJECTION_INTERVAL_MS = 250;

/** The governor's background loops: the balance projection, approval timeouts and, with Kafka, the outbox relay. */
@Injectable()
export class Background implements OnApplicationBootstrap, OnApplicationShutdown {
  private timer: NodeJS.Timeout | undefined;
  private projecting: Promise<unknown> | undefined;
  readonly relay: KafkaOutboxRelay | undefined;

  constructor(
    @Inject(BalanceProjection) private readonly projection: BalanceProjection,
    @Inject(EventStore) store: EventStore,
    @Inject(GOVERNOR_CONFIG) config: GovernorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(ApprovalTimeouts) private readonly approvals: ApprovalTimeouts,
    @Inject(METRICS_REGISTRY) registry: Registry,
  ) {
    this.relay =
      config.kafkaBrokers === undefined
        ? undefined
        : new KafkaOutboxRelay(store, { brokers: config.kafkaBrokers, topic: config.kafkaTopic }, logger, new RelayMetrics(registry, store));
  }

  onApplicationBootstrap(): void {
    this.relay?.start();
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
  }
}
