import type pg from 'pg';
import type { Logger } from 'pino';
import type { Address } from 'viem';
import { assessWallet, walletStreamId, type WalletFloors } from '../domain/wallet/wallet.js';
import type { EventStore } from '../eventstore/event-store.js';
import type { EvmChainReader } from './chain.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** An operator's floors for one asset on one network (PAYBOUND_WALLET_FLOORS). */
export interface WalletFloorSetting extends WalletFloors {
  network: string;
  asset: string;
}

export interface WalletMonitorOptions {
  pool: pg.Pool;
  store: EventStore;
  chains: ReadonlyMap<string, EvmChainReader>;
  /** The wallet the worker pays from. */
  address: Address;
  floors: readonly WalletFloorSetting[];
  logger: Logger;
  intervalMs: number;
  metrics?: WorkerMetrics;
  now?: () => number;
}

const NO_FLOORS: WalletFloors = { floorAtomic: null, nativeFloorWei: null };
const MONITOR_ACTOR = 'worker:wallet-monitor';

/**
 * Reads the worker's wallet balances on chain for every asset it has floors for or has paid
 * in, keeps the latest reading in `wallet_balances` (the governor refuses payments the
 * wallet cannot cover from it), and records WalletLowBalance / WalletBalanceRestored when a
 * balance crosses its floor. The row lock makes two workers agree on each crossing.
 */
export class WalletMonitor {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly now: () => number;

  constructor(private readonly options: WalletMonitorOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    const tick = (): void => {
      this.running = this.checkOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.options.logger.warn({ err: { message: (error as Error).message } }, 'wallet check failed'))
        .finally(() => {
          this.running = undefined;
          if (this.timer !== undefined) this.timer = setTimeout(tick, this.options.intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Reads and records every watched balance once; returns how many were read. */
  async checkOnce(): Promise<number> {
    let read = 0;
    for (const watch of await this.watched()) {
      const chain = this.options.chains.get(watch.network);
      if (chain === undefined) continue;
      try {
        await this.record(watch, await chain.balances(watch.asset as Address, this.options.address));
        read += 1;
      } catch (error) {
        this.options.logger.warn({ err: { message: (error as Error).message }, network: watch.network, asset: watch.asset }, 'could not read a wallet balance');
      }
    }
    return read;
  }

  /** The floors' assets, and every asset this wallet's networks have had payments in. */
  private async watched(): Promise<WalletFloorSetting[]> {
    const byKey = new Map<string, WalletFloorSetting>();
    for (const floor of this.options.floors) byKey.set(`${floor.network} ${floor.asset.toLowerCase()}`, { ...floor, asset: floor.asset.toLowerCase() });
    const paid = await this.options.pool.query<{ network: string; asset: string }>(
      'SELECT DISTINCT network, lower(asset) AS asset FROM payments_view WHERE network = ANY($1) AND asset IS NOT NULL',
      [[...this.options.chains.keys()]],
    );
    for (const row of paid.rows) {
      const key = `${row.network} ${row.asset}`;
      if (!byKey.has(key)) byKey.set(key, { network: row.network, asset: row.asset, ...NO_FLOORS });
    }
    return [...byKey.values()];
  }

  private async record(watch: WalletFloorSetting, balances: { balanceAtomic: bigint; nativeBalanceWei: bigint; blockNumber: bigint }): Promise<void> {
    const { store, logger } = this.options;
    const address = this.options.address.toLowerCase();
    const observedAt = new Date(this.now()).toISOString();
    const reading = { network: watch.network, address, asset: watch.asset, ...balances, observedAt };
    await store.transaction(async (client) => {
      const key = [watch.network, watch.asset, address];
      await client.query(
        `INSERT INTO wallet_balances (network, asset, address, balance_atomic, native_balance_wei, block_number, observed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
        [...key, balances.balanceAtomic.toString(), balances.nativeBalanceWei.toString(), balances.blockNumber.toString(), observedAt],
      );
      const current = await client.query<{ below_floor: boolean; native_below_floor: boolean; block_number: string }>(
        'SELECT below_floor, native_below_floor, block_number FROM wallet_balances WHERE network = $1 AND asset = $2 AND address = $3 FOR UPDATE',
        key,
      );
      const row = current.rows[0]!;
      // A slower reader must not replace a newer reading with an older one.
      if (BigInt(row.block_number) > balances.blockNumber) return;
      const { events, next } = assessWallet({ belowFloor: row.below_floor, nativeBelowFloor: row.native_below_floor }, reading, watch);
      await client.query(
        `UPDATE wallet_balances SET balance_atomic = $4, native_balance_wei = $5, floor_atomic = $6, native_floor_wei = $7,
           below_floor = $8, native_below_floor = $9, block_number = $10, observed_at = $11
         WHERE network = $1 AND asset = $2 AND address = $3`,
        [
          ...key,
          balances.balanceAtomic.toString(),
          balances.nativeBalanceWei.toString(),
          watch.floorAtomic?.toString() ?? null,
          watch.nativeFloorWei?.toString() ?? null,
          next.belowFloor,
          next.nativeBelowFloor,
          balances.blockNumber.toString(),
          observedAt,
        ],
      );
      const metrics = this.options.metrics;
      if (metrics !== undefined) {
        metrics.walletBalanceAtomic.set({ network: watch.network, asset: watch.asset, address }, Number(balances.balanceAtomic));
        metrics.walletNativeBalanceWei.set({ network: watch.network, address }, Number(balances.nativeBalanceWei));
        metrics.walletBelowFloor.set({ network: watch.network, asset: watch.asset, address }, next.belowFloor ? 1 : 0);
      }
      if (events.length === 0) return;
      const streamId = walletStreamId(watch.network, address);
      const version = await store.streamVersion(client, streamId);
      await store.append(
        client,
        streamId,
        version,
        // Wallets belong to no org: the empty org id keys them by stream on Kafka.
        events.map((event) => ({ type: event.type, data: event.data, metadata: { actor: MONITOR_ACTOR, correlationId: streamId, orgId: '' }, occurredAt: observedAt })),
      );
      for (const event of events) logger.warn({ network: watch.network, address, asset: watch.asset, kind: event.data.kind, balanceAtomic: event.data.balanceAtomic.toString(), floorAtomic: event.data.floorAtomic.toString() }, event.type === 'WalletLowBalance' ? 'wallet balance under its floor' : 'wallet balance restored');
    });
  }
}
