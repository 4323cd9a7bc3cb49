import { describe, expect, it } from 'vitest';

import { FAULT_KINDS } from '../../chaos/faults.js';
import { defaultDataDir, runChaos, type ChaosOptions } from '../../chaos/harness.js';
import { consoleSummary } from '../../chaos/report.js';

// The short chaos run of `npm test`: the whole deployment (two governors behind the proxy, two
// workers, a one-node Kafka cluster, PostgreSQL, anvil, the official facilitator and the misbehaving
// sellers) under every kind of fault at least once, judged by the full checker. `npm run
// chaos` is the same run at full size (docs/reliability.md).
//
// Bounded: the workload stops issuing at WORKLOAD_DEADLINE_MS whatever happens (faults not
// reached by then fail the test below), the faults are short, and the whole test has a hard
// timeout. Most of its time is the start-up of the processes.

const SEED = Number(process.env.CHAOS_SEED ?? 20_261_207);
const WORKLOAD_DEADLINE_MS = 2 * 60_000;
const SHORT_RUN_TIMEOUT_MS = 10 * 60_000;
const KILLS = 3;

describe('the short chaos run', () => {
  it('meets every fault kind and leaves no violation of any invariant', { timeout: SHORT_RUN_TIMEOUT_MS }, async () => {
    const options: ChaosOptions = {
      seed: SEED,
      intents: 200,
      orgs: 3,
      concurrency: 12,
      durationMaxMs: WORKLOAD_DEADLINE_MS,
      // One of each kind of kill (governor, worker, the relay's leader), and one of each other fault.
      faults: { kills: KILLS, postgresFreezes: 1, kafkaStops: 1, kafkaKills: 1, sellerKills: 1, partitions: 1 },
      timings: { freezeMinMs: 3_000, freezeMaxMs: 4_000, kafkaStopMs: 6_000, kafkaKillDownMs: 4_000, restartDelayMaxMs: 1_000, partitionMinMs: 2_000, partitionMaxMs: 4_000 },
      governors: 2,
      workers: 2,
      // One Kafka node, not three: two JVMs fewer to start on a shared two-core box. Its stop
      // and kill are then outages of the whole cluster; the full run kills one of three.
      kafkaNodes: 1,
      fetchTimeoutMs: 3_000,
      dataDir: defaultDataDir(SEED),
      keepData: false,
    };
    const report = await runChaos(options, (line) => console.log(`[chaos] ${line}`));
    console.log(consoleSummary(report));
    const { figures, violations } = report.check;

    // Every kind of fault struck, and every kill.
    const firedKinds = new Set(report.fired.map((fault) => fault.kind));
    expect([...FAULT_KINDS].filter((kind) => !firedKinds.has(kind))).toEqual([]);
    expect(report.fired.filter((fault) => fault.kind === 'kill_governor' || fault.kind === 'kill_worker' || fault.kind === 'kill_relay_leader')).toHaveLength(KILLS);
    // The run did what it is for: payments reserved, refused, paid on chain, released. How
    // many requests go out before the deadline depends on the machine's load (146 of 200 on a
    // box at load 40); a request whose seller was down before anything was reserved makes no
    // intent.
    expect(report.workload.issued).toBeGreaterThanOrEqual(50);
    expect(figures.ledger.intents).toBeGreaterThanOrEqual(Math.floor(report.workload.issued * 0.9));
    expect(figures.ledger.reserved).toBeGreaterThan(20);
    expect(figures.ledger.refused).toBeGreaterThan(0);
    expect(figures.chain.paidIntents).toBeGreaterThan(5);
    expect(figures.ledger.refunded).toBeGreaterThan(0);
    expect(figures.topic.messages).toBeGreaterThan(0);
    expect(figures.projection.tables.every((table) => table.liveRows > 0)).toBe(true);
    // And no invariant was broken (the details name the intents and events, and the seed replays the run),
    // except one known and open finding (docs/reliability.md, "the topic is the log"): when a broker
    // dies in the middle of a send, the relay may publish an event twice. Duplicates are printed
    // here and consumers drop them by event id; a lost or foreign message still fails the run.
    const details = violations.details.map((v) => `${v.invariant}: ${v.detail}`);
    const duplicates = details.filter((d) => /^topic_exactly_once: event .* is on the topic more than once/.test(d));
    if (duplicates.length > 0) console.log(`[chaos] known open finding, events published twice: ${duplicates.length}\n  ${duplicates.join('\n  ')}`);
    expect(details.filter((d) => !duplicates.includes(d))).toEqual([]);
    expect(violations.total).toBe(duplicates.length);
  });
});
