import { describe, expect, it } from 'vitest';

import { FAULT_KINDS } from '../../chaos/faults.js';
import { defaultDataDir, runChaos, type ChaosOptions } from '../../chaos/harness.js';
import { consoleSummary } from '../../chaos/report.js';

// The short chaos run of `npm test`: the whole deployment (two governors behind the proxy, two
// workers, three Kafka nodes, PostgreSQL, anvil, the official facilitator and the misbehaving
// sellers) under every kind of fault at least once, judged by the full checker. `npm run
// chaos` is the same run at full size (docs/reliability.md).

const SEED = Number(process.env.CHAOS_SEED ?? 20_261_207);
const SHORT_RUN_TIMEOUT_MS = 15 * 60_000;

describe('the short chaos run', () => {
  it('meets every fault kind and leaves no violation of any invariant', { timeout: SHORT_RUN_TIMEOUT_MS }, async () => {
    const options: ChaosOptions = {
      seed: SEED,
      intents: 500,
      orgs: 4,
      concurrency: 16,
      durationMaxMs: 8 * 60_000,
      faults: { kills: 6, postgresFreezes: 1, kafkaStops: 1, kafkaKills: 1, sellerKills: 1, partitions: 1 },
      timings: { freezeMinMs: 5_000, freezeMaxMs: 8_000, kafkaStopMs: 15_000, kafkaKillDownMs: 8_000, restartDelayMaxMs: 2_000, partitionMinMs: 3_000, partitionMaxMs: 6_000 },
      governors: 2,
      workers: 2,
      fetchTimeoutMs: 5_000,
      dataDir: defaultDataDir(SEED),
      keepData: false,
    };
    const report = await runChaos(options, (line) => console.log(`[chaos] ${line}`));
    console.log(consoleSummary(report));
    const { figures, violations } = report.check;

    // Every kind of fault struck, and all six kills.
    const firedKinds = new Set(report.fired.map((fault) => fault.kind));
    expect([...FAULT_KINDS].filter((kind) => !firedKinds.has(kind))).toEqual([]);
    expect(report.fired.filter((fault) => fault.kind === 'kill_governor' || fault.kind === 'kill_worker' || fault.kind === 'kill_relay_leader')).toHaveLength(6);
    // The run did what it is for: payments reserved, refused, paid on chain, released.
    // A request whose seller was down before anything was reserved makes no intent.
    expect(figures.ledger.intents).toBeGreaterThanOrEqual(450);
    expect(figures.ledger.reserved).toBeGreaterThan(100);
    expect(figures.ledger.refused).toBeGreaterThan(0);
    expect(figures.chain.paidIntents).toBeGreaterThan(50);
    expect(figures.ledger.refunded).toBeGreaterThan(0);
    expect(figures.topic.messages).toBeGreaterThan(0);
    expect(figures.projection.tables.every((table) => table.liveRows > 0)).toBe(true);
    // And no invariant was broken (the details name the intents and events, and the seed replays the run).
    expect(violations.details.map((v) => `${v.invariant}: ${v.detail}`)).toEqual([]);
    expect(violations.total).toBe(0);
  });
});
