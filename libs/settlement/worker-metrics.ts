import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

// The settlement worker's own metrics; its budget decisions are counted by DecisionMetrics.

export type SigningOutcome = 'signed' | 'refused' | 'retry_later';

export class WorkerMetrics {
  readonly signingSeconds: Histogram<'outcome'>;
  readonly reconciliations: Counter<'result'>;
  readonly walletBalanceAtomic: Gauge<'network' | 'asset' | 'address'>;
  readonly walletNativeBalanceWei: Gauge<'network' | 'address'>;
  readonly walletBelowFloor: Gauge<'network' | 'asset' | 'address'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.signingSeconds = new Histogram({
      name: 'paybound_worker_signing_duration_seconds',
      help: 'Handling of one reservation by the worker: offer read, signature, its recording in the ledger and the stored header',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.reconciliations = new Counter({
      name: 'paybound_reconciliations_total',
      help: 'On-chain checks of signed payments by result: settled, released, or waiting (with why)',
      labelNames: ['result'],
      registers,
    });
    this.walletBalanceAtomic = new Gauge({ name: 'paybound_wallet_balance_atomic', help: "The paying wallet's last on-chain balance of an asset, in atomic units", labelNames: ['network', 'asset', 'address'], registers });
    this.walletNativeBalanceWei = new Gauge({ name: 'paybound_wallet_native_balance_wei', help: "The paying wallet's last on-chain native (gas) balance, in wei", labelNames: ['network', 'address'], registers });
    this.walletBelowFloor = new Gauge({ name: 'paybound_wallet_below_floor', help: '1 while the asset balance is under its configured floor, else 0', labelNames: ['network', 'asset', 'address'], registers });
  }
}
