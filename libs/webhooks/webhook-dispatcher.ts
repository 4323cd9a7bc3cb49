import type { Logger } from 'pino';
import { endpointWants } from '../domain/webhooks/webhooks.js';
import { comparePositions, type EventStore, type LogPosition } from '../eventstore/event-store.js';
import { committedLog, LogSubscription, namedCheckpoint, type CommittedLogReader } from '../eventstore/log-subscription.js';
import { BackgroundLoop } from '../platform/background-loop.js';

const CHECKPOINT = 'webhook-dispatcher';
/**
 * One dispatcher at a time across governors, per page: the lock is the transaction's, so a
 * process that dies mid-page lets go of it with its connection. Creating an endpoint takes
 * it too, so an endpoint is either seen by a page or created after that page's events.
 */
export const WEBHOOK_DISPATCH_LOCK_KEY = 0x7768_6b73; // "whks"
const PAGE_SIZE = 500;
/** Pages per round, so a large backlog is worked off in bounded steps between sleeps. */
const PAGES_PER_ROUND_MAX = 20;
const IDLE_WAIT_MS = 250;
const BACKOFF_MS_MAX = 5_000;

export interface WebhookDispatcherOptions {
  now: () => Date;
  /** Called after deliveries were enqueued, so the sender does not wait for its next poll. */
  onEnqueued?: () => void;
  idleWaitMs?: number;
}

interface EndpointRow {
  endpoint_id: string;
  event_types: string[];
  org_id: string | null;
  created_at: Date;
}

/**
 * Turns committed events into webhook deliveries. It reads the log in commit order from its
 * own checkpoint and, in the transaction that moves the checkpoint, inserts one pending
 * delivery per matching endpoint: a delivery is enqueued exactly once, whatever crashes,
 * and nothing on the decision path waits for it.
 */
export class WebhookDispatcher extends BackgroundLoop {
  enqueuedTotal = 0;
  private readonly log: CommittedLogReader;
  private readonly subscription: LogSubscription<LogPosition>;

  constructor(
    store: EventStore,
    private readonly logger: Logger,
    private readonly options: WebhookDispatcherOptions,
  ) {
    super();
    this.log = committedLog(store);
    this.subscription = new LogSubscription(store, {
      reader: this.log,
      checkpoint: namedCheckpoint(store, CHECKPOINT),
      pageSize: PAGE_SIZE,
      tryLock: async (client) => (await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [WEBHOOK_DISPATCH_LOCK_KEY])).rows[0]?.locked === true,
    });
  }

  protected async run(): Promise<void> {
    let backoffMs = 100;
    while (this.running) {
      try {
        let pages = 0;
        while (this.running && pages < PAGES_PER_ROUND_MAX && (await this.dispatchPage()) === PAGE_SIZE) pages += 1;
        backoffMs = 100;
        await this.sleep(this.options.idleWaitMs ?? IDLE_WAIT_MS);
      } catch (error) {
        this.logger.warn({ err: { message: (error as Error).message }, backoffMs }, 'webhook dispatcher: page failed, retrying');
        await this.sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, BACKOFF_MS_MAX);
      }
    }
  }

  /** Enqueues the deliveries of the next page of the log; returns how many events it read (0 when another governor holds the page). */
  async dispatchPage(): Promise<number> {
    let enqueued = 0;
    let endpoints: EndpointRow[] = [];
    const { readCount } = await this.subscription.handlePageInTransaction(
      async (client, page) => {
        const endpointIds: string[] = [];
        const eventIds: string[] = [];
        const eventTypes: string[] = [];
        for (const event of page) {
          const candidate = { type: event.type, orgId: event.metadata.orgId, occurredAtMs: Date.parse(event.occurredAt) };
          for (const endpoint of endpoints) {
            const subscription = { eventTypes: endpoint.event_types, orgId: endpoint.org_id, enabled: true, createdAtMs: endpoint.created_at.getTime() };
            if (!endpointWants(subscription, candidate)) continue;
            endpointIds.push(endpoint.endpoint_id);
            eventIds.push(event.eventId);
            eventTypes.push(event.type);
          }
        }
        if (endpointIds.length === 0) return;
        const now = this.options.now();
        const result = await client.query(
          `INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, status, next_attempt_at, created_at)
           SELECT d.endpoint_id, d.event_id, d.event_type, 'pending', $4, $4
           FROM unnest($1::text[], $2::uuid[], $3::text[]) AS d(endpoint_id, event_id, event_type)
           ON CONFLICT (endpoint_id, event_id) DO NOTHING`,
          [endpointIds, eventIds, eventTypes, now],
        );
        enqueued = result.rowCount ?? 0;
      },
      async (client, from) => {
        endpoints = (await client.query<EndpointRow>('SELECT endpoint_id, event_types, org_id, created_at FROM webhook_endpoints WHERE enabled AND deleted_at IS NULL')).rows;
        if (endpoints.length > 0) return undefined;
        // Nobody to deliver to, and an endpoint gets only what happens after it is created:
        // the events so far need not be read at all.
        const head = await this.log.head(client);
        return head !== undefined && comparePositions(head, from) > 0 ? head : undefined;
      },
    );
    if (enqueued > 0) {
      this.enqueuedTotal += enqueued;
      this.options.onEnqueued?.();
    }
    return readCount;
  }
}
