import pg from 'pg';
import type { Logger } from 'pino';

const RECONNECT_DELAY_MS_MIN_DEFAULT = 100;
const RECONNECT_DELAY_MS_MAX_DEFAULT = 5_000;
const CONNECT_TIMEOUT_MS = 5_000;
/**
 * A half-open TCP connection raises no error, so the listener would wait for notifications
 * that can never come; a cheap query this often (bounded by its own timeout) finds out.
 */
const PING_INTERVAL_MS_DEFAULT = 10_000;
const PING_TIMEOUT_MS = 5_000;
const CHANNELS_MAX = 16;

export interface PgListenerOptions {
  connectionString: string;
  /** Shown in pg_stat_activity, so an operator (or a test) can find this connection. */
  applicationName: string;
  channels: readonly string[];
  onNotification: (channel: string, payload: string) => void;
  /**
   * Runs each time LISTEN is in place, the first time and after every reconnection.
   * Notifications sent while there was no listening connection are lost, so callers
   * re-check whatever they were waiting for here.
   */
  onListening: () => void;
  logger: Logger;
  reconnectDelayMsMin?: number;
  reconnectDelayMsMax?: number;
  pingIntervalMs?: number;
}

/**
 * One dedicated connection that LISTENs on a few channels and reconnects, with a capped
 * backoff, whenever it is lost. It is not taken from a pool: a listening connection is held
 * for the life of the process, and a pooled one would be lost to queries for that long.
 * Notifications are a wake-up, never the only path: callers keep a slow poll beside it.
 */
export class PgListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private started = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private reconnectDelayMs: number;
  private readonly delayMsMin: number;
  private readonly delayMsMax: number;
  private readonly pingIntervalMs: number;
  /** How many times LISTEN was put in place; a test waits on it to know a reconnection happened. */
  listeningCount = 0;

  constructor(private readonly options: PgListenerOptions) {
    if (options.channels.length === 0 || options.channels.length > CHANNELS_MAX) throw new Error(`PgListener: 1 to ${CHANNELS_MAX} channels, got ${options.channels.length}`);
    this.delayMsMin = options.reconnectDelayMsMin ?? RECONNECT_DELAY_MS_MIN_DEFAULT;
    this.delayMsMax = Math.max(this.delayMsMin, options.reconnectDelayMsMax ?? RECONNECT_DELAY_MS_MAX_DEFAULT);
    this.pingIntervalMs = options.pingIntervalMs ?? PING_INTERVAL_MS_DEFAULT;
    this.reconnectDelayMs = this.delayMsMin;
  }

  /** Whether a connection is listening right now. */
  get listening(): boolean {
    return this.client !== undefined;
  }

  /** Connects in the background; a database that is not reachable yet is retried, not thrown. */
  start(): void {
    if (this.started) return;
    this.started = true;
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: this.options.applicationName,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: PING_TIMEOUT_MS,
      keepAlive: true,
    });
    let lost = false;
    const onLost = (error: Error | undefined): void => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      if (this.pingTimer !== undefined) clearInterval(this.pingTimer);
      void client.end().catch(() => undefined);
      if (this.stopped) return;
      this.options.logger.warn({ err: { message: error?.message ?? 'connection ended' }, retryInMs: this.reconnectDelayMs }, 'notification listener lost its connection; reconnecting');
      this.scheduleReconnect();
    };
    client.on('error', (error) => onLost(error));
    client.on('end', () => onLost(undefined));
    client.on('notification', (message) => {
      if (this.client !== client) return;
      this.options.onNotification(message.channel, message.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(this.options.channels.map((channel) => `LISTEN ${client.escapeIdentifier(channel)}`).join('; '));
    } catch (error) {
      onLost(error as Error);
      return;
    }
    if (lost || this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.reconnectDelayMs = this.delayMsMin;
    this.listeningCount += 1;
    this.pingTimer = setInterval(() => {
      client.query('SELECT 1').catch((error: unknown) => onLost(error as Error));
    }, this.pingIntervalMs);
    this.pingTimer.unref();
    this.options.onListening();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer !== undefined) return;
    const delayMs = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(this.delayMsMax, this.reconnectDelayMs * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delayMs);
    this.reconnectTimer.unref();
  }
}
