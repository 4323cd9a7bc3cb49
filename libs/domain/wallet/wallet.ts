// The funding of a wallet the settlement worker pays from: when its balances cross the
// floors an operator set, and how much of it is still free for new payments. Pure: the
// worker supplies what the chain said, the governor what the ledger holds.

/** Which balance crossed its floor: the payment asset, or the native coin (gas). */
export type WalletBalanceKind = 'asset' | 'native';

interface WalletAlertData {
  network: string;
  address: string;
  /** The token contract for `asset`; the token the wallet pays in, also for `native`. */
  asset: string;
  kind: WalletBalanceKind;
  /** In the asset's atomic units, or wei for `native`. */
  balanceAtomic: bigint;
  floorAtomic: bigint;
  blockNumber: bigint;
  observedAt: string;
}

/** A balance fell under its floor: fund the wallet before payments start to be refused. */
export interface WalletLowBalance {
  type: 'WalletLowBalance';
  data: WalletAlertData;
}

/** A balance that was under its floor is at or above it again. */
export interface WalletBalanceRestored {
  type: 'WalletBalanceRestored';
  data: WalletAlertData;
}

export type WalletEvent = WalletLowBalance | WalletBalanceRestored;

export interface WalletReading {
  network: string;
  address: string;
  asset: string;
  balanceAtomic: bigint;
  nativeBalanceWei: bigint;
  blockNumber: bigint;
  observedAt: string;
}

/** null: no floor, never alerted. */
export interface WalletFloors {
  floorAtomic: bigint | null;
  nativeFloorWei: bigint | null;
}

export interface WalletAlertState {
  belowFloor: boolean;
  nativeBelowFloor: boolean;
}

/** The stream of one wallet's alerts on one network. */
export function walletStreamId(network: string, address: string): string {
  return `wallet-${network}-${address.toLowerCase()}`;
}

/**
 * Compares a reading with the floors and with whether each balance was already under its
 * floor, so an alert is raised once per crossing (edge-triggered), not on every reading.
 */
export function assessWallet(previous: WalletAlertState, reading: WalletReading, floors: WalletFloors): { events: WalletEvent[]; next: WalletAlertState } {
  const events: WalletEvent[] = [];
  const check = (kind: WalletBalanceKind, balanceAtomic: bigint, floorAtomic: bigint | null, wasBelow: boolean): boolean => {
    const below = floorAtomic !== null && balanceAtomic < floorAtomic;
    if (below !== wasBelow && floorAtomic !== null) {
      const data: WalletAlertData = {
        network: reading.network,
        address: reading.address,
        asset: reading.asset,
        kind,
        balanceAtomic,
        floorAtomic,
        blockNumber: reading.blockNumber,
        observedAt: reading.observedAt,
      };
      events.push(below ? { type: 'WalletLowBalance', data } : { type: 'WalletBalanceRestored', data });
    }
    return below;
  };
  const belowFloor = check('asset', reading.balanceAtomic, floors.floorAtomic, previous.belowFloor);
  const nativeBelowFloor = check('native', reading.nativeBalanceWei, floors.nativeFloorWei, previous.nativeBelowFloor);
  return { events, next: { belowFloor, nativeBelowFloor } };
}

/**
 * What the wallet can still pay: its last on-chain balance less what open payments hold
 * (reserved, signed or unknown) and what settled after that reading (not in it yet).
 */
export function walletAvailableAtomic(balanceAtomic: bigint, committedAtomic: bigint): bigint {
  const available = balanceAtomic - committedAtomic;
  return available > 0n ? available : 0n;
}

/** How many more payments of a typical price the available amount covers; null without a price. */
export function coverablePayments(availableAtomic: bigint, typicalPriceAtomic: bigint | null): bigint | null {
  if (typicalPriceAtomic === null || typicalPriceAtomic <= 0n) return null;
  return availableAtomic / typicalPriceAtomic;
}

/** The median of recent payment amounts (the lower middle for an even count); null for none. */
export function typicalPriceAtomic(amounts: readonly bigint[]): bigint | null {
  if (amounts.length === 0) return null;
  const sorted = [...amounts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}
