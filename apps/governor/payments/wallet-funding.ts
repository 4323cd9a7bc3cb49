import { Controller, Get, Inject, Injectable, Query } from '@nestjs/common';
import pg from 'pg';
import { z } from 'zod';
import { Coalescer } from '../../../libs/platform/concurrency.js';
import { coverablePayments, typicalPriceAtomic, walletAvailableAtomic } from '../../../libs/domain/wallet/wallet.js';
import { formatUsdMicros, stablecoinAtomicToUsdMicros } from '../../../libs/domain/money.js';
import { Audience } from '../http/auth.guard.js';
import type { GovernorConfig } from '../config.js';
import { parseBody } from '../http/input.js';
import { GOVERNOR_CONFIG } from '../http/tokens.js';

/**
 * What open payments hold in wallet `w`'s asset (one row per org, kept by the projection),
 * plus what settled after its reading: a bounded window of recent payments.
 */
const COMMITTED_SQL = `((SELECT COALESCE(SUM(h.held_atomic), 0) FROM wallet_holds h WHERE h.network = w.network AND h.asset = w.asset)
    + (SELECT COALESCE(SUM(p.amount_atomic), 0) FROM payments_view p
       WHERE p.network = w.network AND lower(p.asset) = w.asset AND p.status = 'settled' AND p.updated_at > w.observed_at))`;
/** Recent payments the typical price is taken from. */
const TYPICAL_PRICE_SAMPLE = 100;
/** Funding checks answered together at most. */
const FUNDING_CHECK_BATCH_MAX = 1_000;

interface WalletRow {
  network: string;
  asset: string;
  address: string;
  balance_atomic: string;
  native_balance_wei: string;
  floor_atomic: string | null;
  native_floor_wei: string | null;
  below_floor: boolean;
  native_below_floor: boolean;
  block_number: string;
  observed_at: Date;
}

/**
 * What the paying wallet can still cover, from the worker's last on-chain reading and the
 * ledger's open payments. Decisions use it to refuse with `wallet_insufficient_funds`
 * before anything is signed; admins see it at GET /admin/v1/wallets.
 */
@Injectable()
export class WalletFunding {
  /** The payment decisions of one event-loop turn share one reading per asset. */
  private readonly fundingChecks: Coalescer<{ network: string; asset: string }, bigint | null>;

  constructor(@Inject(pg.Pool) private readonly pool: pg.Pool) {
    this.fundingChecks = new Coalescer((checks) => this.availableForEach(checks), FUNDING_CHECK_BATCH_MAX);
  }

  /**
   * null when no reading exists for this asset: funding unknown, nothing to refuse on. Read
   * afresh for every payment decision (those of one turn together), so a wallet just funded
   * is usable at once.
   */
  availableAtomic(network: string, asset: string): Promise<bigint | null> {
    return this.fundingChecks.submit({ network, asset: asset.toLowerCase() });
  }

  /** One query per distinct asset among the checks; a turn's payments are mostly in one. */
  private async availableForEach(checks: { network: string; asset: string }[]): Promise<(bigint | null)[]> {
    const keyOf = (check: { network: string; asset: string }) => `${check.network} ${check.asset}`;
    const distinct = new Map(checks.map((check) => [keyOf(check), check]));
    const available = new Map<string, bigint | null>();
    await Promise.all(
      [...distinct].map(async ([key, { network, asset }]) => {
        const result = await this.pool.query<{ balance_atomic: string; committed: string }>(
          `SELECT w.balance_atomic, ${COMMITTED_SQL} AS committed
           FROM wallet_balances w WHERE w.network = $1 AND w.asset = $2 ORDER BY w.observed_at DESC LIMIT 1`,
          [network, asset],
        );
        const wallet = result.rows[0];
        available.set(key, wallet === undefined ? null : walletAvailableAtomic(BigInt(wallet.balance_atomic), BigInt(wallet.committed)));
      }),
    );
    return checks.map((check) => available.get(keyOf(check)) ?? null);
  }

  async wallets(): Promise<WalletRow[]> {
    return (await this.pool.query<WalletRow>('SELECT * FROM wallet_balances ORDER BY network, asset, address')).rows;
  }

  /**
   * Held by open payments, plus what settled after the reading (the reading does not show it
   * spent yet). Partly paid settlements count in full: a little too careful, never too lax.
   */
  async committedAtomic(wallet: WalletRow): Promise<bigint> {
    const result = await this.pool.query<{ committed: string }>(
      `SELECT ${COMMITTED_SQL} AS committed FROM wallet_balances w WHERE w.network = $1 AND w.asset = $2 AND w.address = $3`,
      [wallet.network, wallet.asset, wallet.address],
    );
    return BigInt(result.rows[0]?.committed ?? '0');
  }

  /** The median of recent payment amounts in this asset, of one session when given. */
  async typicalPriceAtomic(network: string, asset: string, sessionId: string | undefined): Promise<bigint | null> {
    const result = await this.pool.query<{ amount_atomic: string }>(
      `SELECT amount_atomic FROM payments_view
       WHERE network = $1 AND lower(asset) = $2 AND amount_atomic > 0 AND ($3::text IS NULL OR session_id = $3)
       ORDER BY created_at DESC LIMIT ${TYPICAL_PRICE_SAMPLE}`,
      [network, asset, sessionId ?? null],
    );
    return typicalPriceAtomic(result.rows.map((r) => BigInt(r.amount_atomic)));
  }

}

const walletsQuery = z.object({ sessionId: z.string().min(1).max(64).optional() }).strict();

/** The funding of every wallet Paybound pays from. */
@Controller('admin/v1/wallets')
@Audience('admin')
export class WalletsController {
  constructor(
    @Inject(WalletFunding) private readonly funding: WalletFunding,
    @Inject(GOVERNOR_CONFIG) private readonly config: GovernorConfig,
  ) {}

  @Get()
  async list(@Query() raw: unknown) {
    const { sessionId } = parseBody(walletsQuery, raw);
    const data = [];
    for (const wallet of await this.funding.wallets()) {
      const asset = this.config.assets.find((a) => a.network === wallet.network && a.address.toLowerCase() === wallet.asset);
      const usd = (atomic: bigint | null): string | null => (atomic === null || asset === undefined ? null : formatUsdMicros(stablecoinAtomicToUsdMicros(atomic, asset.decimals)));
      const balance = BigInt(wallet.balance_atomic);
      const held = await this.funding.committedAtomic(wallet);
      const available = walletAvailableAtomic(balance, held);
      const typical = await this.funding.typicalPriceAtomic(wallet.network, wallet.asset, sessionId);
      const floor = wallet.floor_atomic === null ? null : BigInt(wallet.floor_atomic);
      data.push({
        address: wallet.address,
        network: wallet.network,
        asset: wallet.asset,
        symbol: asset?.symbol ?? null,
        balance: usd(balance),
        balanceAtomic: balance.toString(),
        held: usd(held),
        heldAtomic: held.toString(),
        available: usd(available),
        availableAtomic: available.toString(),
        floor: usd(floor),
        floorAtomic: floor?.toString() ?? null,
        belowFloor: wallet.below_floor,
        nativeBalanceWei: wallet.native_balance_wei,
        nativeFloorWei: wallet.native_floor_wei,
        nativeBelowFloor: wallet.native_below_floor,
        typicalPrice: usd(typical),
        typicalPriceAtomic: typical?.toString() ?? null,
        coverablePayments: coverablePayments(available, typical)?.toString() ?? null,
        blockNumber: wallet.block_number,
        observedAt: wallet.observed_at.toISOString(),
      });
    }
    return { data };
  }
}
