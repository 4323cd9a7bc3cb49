import { describe, expect, it } from 'vitest';
import { assessWallet, coverablePayments, typicalPriceAtomic, walletAvailableAtomic, walletStreamId, type WalletReading } from './wallet.js';

const reading = (balanceAtomic: bigint, nativeBalanceWei = 10n ** 18n): WalletReading => ({
  network: 'eip155:31337',
  address: '0xAbC0000000000000000000000000000000000001',
  asset: '0x5fbdb2315678afecb367f032d93f642f64180aa3',
  balanceAtomic,
  nativeBalanceWei,
  blockNumber: 7n,
  observedAt: '2026-11-25T10:00:00.000Z',
});
const floors = { floorAtomic: 50_000n, nativeFloorWei: 10n ** 15n };
const ok = { belowFloor: false, nativeBelowFloor: false };

describe('wallet floors', () => {
  it('alerts once when a balance falls under its floor, and once when it is restored', () => {
    const low = assessWallet(ok, reading(49_999n), floors);
    expect(low.events).toEqual([{ type: 'WalletLowBalance', data: expect.objectContaining({ kind: 'asset', balanceAtomic: 49_999n, floorAtomic: 50_000n, blockNumber: 7n }) as unknown }]);
    expect(low.next).toEqual({ belowFloor: true, nativeBelowFloor: false });
    // Still low: nothing new.
    expect(assessWallet(low.next, reading(10n), floors).events).toEqual([]);
    const restored = assessWallet(low.next, reading(50_000n), floors);
    expect(restored.events.map((e) => e.type)).toEqual(['WalletBalanceRestored']);
    expect(restored.next).toEqual(ok);
  });

  it('watches the native coin separately, and never alerts without a floor', () => {
    const gas = assessWallet(ok, reading(1_000_000n, 10n), floors);
    expect(gas.events).toEqual([{ type: 'WalletLowBalance', data: expect.objectContaining({ kind: 'native', balanceAtomic: 10n, floorAtomic: 10n ** 15n }) as unknown }]);
    expect(assessWallet(ok, reading(0n, 0n), { floorAtomic: null, nativeFloorWei: null })).toEqual({ events: [], next: ok });
  });

  it('names one stream per wallet and network, whatever the address case', () => {
    expect(walletStreamId('eip155:8453', '0xAbC0000000000000000000000000000000000001')).toBe('wallet-eip155:8453-0xabc0000000000000000000000000000000000001');
  });
});

describe('what a wallet can still pay', () => {
  it('subtracts what is committed and never goes below zero', () => {
    expect(walletAvailableAtomic(100_000n, 30_000n)).toBe(70_000n);
    expect(walletAvailableAtomic(10_000n, 30_000n)).toBe(0n);
  });

  it('counts payments of the typical (median) price it covers', () => {
    expect(typicalPriceAtomic([30n, 10n, 10_000n, 20n])).toBe(20n);
    expect(typicalPriceAtomic([])).toBeNull();
    expect(coverablePayments(95_000n, 10_000n)).toBe(9n);
    expect(coverablePayments(95_000n, null)).toBeNull();
  });
});
