import type { KafkaCluster } from './kafka-cluster.js';
import type { ChaosPostgres } from './postgres.js';
import type { ManagedProcess } from './processes.js';
import type { TcpProxy } from './proxy.js';
import { Random } from './random.js';
import type { SellerHandle, SellerKind } from './topology.js';

// The faults of a run, drawn from the seed before it starts. Each fires when the workload has
// issued a given share of its payment requests, so a run on a slow machine meets the same
// faults at the same points of its workload as on a fast one. Kills go one at a time (each
// process is restarted before the next kill); a database freeze, a Kafka node down and a
// seller killed may overlap with them, as they would in production.

export type FaultKind =
  | 'kill_governor'
  | 'kill_worker'
  | 'kill_relay_leader'
  | 'freeze_postgres'
  | 'stop_kafka_broker'
  | 'kill_kafka_broker'
  | 'kill_seller'
  | 'partition_database';

export const FAULT_KINDS: readonly FaultKind[] = ['kill_governor', 'kill_worker', 'kill_relay_leader', 'freeze_postgres', 'stop_kafka_broker', 'kill_kafka_broker', 'kill_seller', 'partition_database'];

export interface FaultCounts {
  /** SIGKILLs of governors, workers and the relay's leader together. */
  kills: number;
  postgresFreezes: number;
  kafkaStops: number;
  kafkaKills: number;
  sellerKills: number;
  /** Network partitions between one governor or worker and PostgreSQL. */
  partitions: number;
}

export interface FaultTimings {
  freezeMinMs: number;
  freezeMaxMs: number;
  kafkaStopMs: number;
  kafkaKillDownMs: number;
  partitionMinMs: number;
  partitionMaxMs: number;
  /** How long a killed governor, worker or seller stays down before its restart. */
  restartDelayMaxMs: number;
}

export interface PlannedFault {
  kind: FaultKind;
  /** Fires once the workload has issued this many payment requests. */
  atIssued: number;
  /**
   * Which process of its kind (governor, worker or Kafka node index), when the kind has several;
   * for a partition, governors first, then workers.
   */
  target: number;
  durationMs: number;
  seller?: SellerKind;
}

export interface FiredFault extends PlannedFault {
  firedAtMs: number;
  /** The PIDs the signal went to. */
  pids: number[];
  /** How long until the process was back (ready), or the freeze was lifted. */
  recoveredAfterMs: number;
  detail: string;
}

type Lane = 'kill' | 'postgres' | 'kafka' | 'seller' | 'partition';

const laneOf = (kind: FaultKind): Lane =>
  kind === 'freeze_postgres'
    ? 'postgres'
    : kind === 'stop_kafka_broker' || kind === 'kill_kafka_broker'
      ? 'kafka'
      : kind === 'kill_seller'
        ? 'seller'
        : kind === 'partition_database'
          ? 'partition'
          : 'kill';

/** The schedule drawn from the seed: spread over 5 %..90 % of the workload. */
export function planFaults(seed: number, intents: number, counts: FaultCounts, timings: FaultTimings, shape: { governors: number; workers: number; kafkaNodes: number }): PlannedFault[] {
  const random = new Random(seed).fork('faults');
  const at = (): number => Math.max(1, Math.floor(intents * (0.05 + random.next() * 0.85)));
  const faults: PlannedFault[] = [];
  // Every kind of kill at least once, then the rest at random: governors and workers alike,
  // the relay's leader less often (it is one of the governors).
  const killKinds: FaultKind[] = ['kill_governor', 'kill_worker', 'kill_relay_leader'];
  for (let i = 0; i < counts.kills; i++) {
    const kind = i < killKinds.length ? killKinds[i]! : random.weighted<FaultKind>({ kill_governor: 40, kill_worker: 40, kill_relay_leader: 20 });
    const target = kind === 'kill_worker' ? random.int(0, shape.workers - 1) : random.int(0, shape.governors - 1);
    faults.push({ kind, atIssued: at(), target, durationMs: random.int(300, timings.restartDelayMaxMs) });
  }
  for (let i = 0; i < counts.postgresFreezes; i++) faults.push({ kind: 'freeze_postgres', atIssued: at(), target: 0, durationMs: random.int(timings.freezeMinMs, timings.freezeMaxMs) });
  for (let i = 0; i < counts.kafkaStops; i++) faults.push({ kind: 'stop_kafka_broker', atIssued: at(), target: random.int(0, shape.kafkaNodes - 1), durationMs: timings.kafkaStopMs });
  for (let i = 0; i < counts.kafkaKills; i++) faults.push({ kind: 'kill_kafka_broker', atIssued: at(), target: random.int(0, shape.kafkaNodes - 1), durationMs: timings.kafkaKillDownMs });
  const sellerTargets: SellerKind[] = ['late', 'normal', 'hang_after', 'premium'];
  for (let i = 0; i < counts.sellerKills; i++) {
    faults.push({ kind: 'kill_seller', atIssued: at(), target: 0, durationMs: random.int(300, timings.restartDelayMaxMs), seller: random.pick(sellerTargets) });
  }
  // Drawn last, so that adding partitions leaves the rest of a seed's schedule as it was.
  for (let i = 0; i < counts.partitions; i++) {
    faults.push({ kind: 'partition_database', atIssued: at(), target: random.int(0, shape.governors + shape.workers - 1), durationMs: random.int(timings.partitionMinMs, timings.partitionMaxMs) });
  }
  return faults.sort((a, b) => a.atIssued - b.atIssued);
}

export interface FaultTargets {
  governors: readonly ManagedProcess[];
  workers: readonly ManagedProcess[];
  kafka: KafkaCluster;
  postgres: ChaosPostgres;
  sellers: ReadonlyMap<SellerKind, SellerHandle>;
  databaseLinks: { readonly governors: readonly TcpProxy[]; readonly workers: readonly TcpProxy[] };
  relayLeader(): Promise<number | undefined>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const RESTART_ATTEMPTS_MAX = 10;

/**
 * Runs the schedule against the processes while the workload runs: each fault fires when
 * `issued()` reaches its mark, in its lane. `finish` waits for every fault in flight to end
 * (processes restarted, the database thawed) and reports those that never fired.
 */
export class FaultInjector {
  readonly fired: FiredFault[] = [];
  readonly errors: string[] = [];
  private readonly lanes = new Map<Lane, Promise<void>>();
  private next = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly plan: readonly PlannedFault[],
    private readonly targets: FaultTargets,
    private readonly issued: () => number,
    private readonly log: (line: string) => void,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped && this.next < this.plan.length) {
        const fault = this.plan[this.next]!;
        if (this.issued() < fault.atIssued) {
          await sleep(100);
          continue;
        }
        this.next += 1;
        const lane = laneOf(fault.kind);
        const previous = this.lanes.get(lane) ?? Promise.resolve();
        this.lanes.set(
          lane,
          previous.then(() =>
            this.inject(fault).catch((error: unknown) => {
              this.errors.push(`${fault.kind}: ${(error as Error).message}`);
              this.log(`fault ${fault.kind} failed: ${(error as Error).message}`);
            }),
          ),
        );
      }
    })();
  }

  /** Stops firing, waits for faults in flight to recover; returns the faults that never fired. */
  async finish(): Promise<PlannedFault[]> {
    this.stopped = true;
    await this.loop;
    await Promise.all(this.lanes.values());
    return this.plan.slice(this.next);
  }

  private async inject(fault: PlannedFault): Promise<void> {
    const startedAt = Date.now();
    const record = (pids: number[], detail: string): void => {
      this.fired.push({ ...fault, firedAtMs: startedAt, pids, recoveredAfterMs: Date.now() - startedAt, detail });
      this.log(`fault ${fault.kind} at ${fault.atIssued}: ${detail} (pids ${pids.join(',')}), recovered after ${Date.now() - startedAt} ms`);
    };
    switch (fault.kind) {
      case 'kill_governor':
      case 'kill_worker':
      case 'kill_relay_leader': {
        let index = fault.target;
        let detail = '';
        if (fault.kind === 'kill_relay_leader') {
          const leader = await this.targets.relayLeader();
          index = leader ?? fault.target;
          detail = leader === undefined ? 'no relay leader found (lock not held); killed a governor' : `relay leader governor-${index + 1}`;
        }
        const target = fault.kind === 'kill_worker' ? this.targets.workers[index]! : this.targets.governors[index]!;
        const pid = target.pid;
        await target.crash();
        await sleep(fault.durationMs);
        await this.restart(target);
        record(pid === undefined ? [] : [pid], `${detail || target.spec.name} SIGKILL, restarted after ${fault.durationMs} ms`);
        return;
      }
      case 'freeze_postgres': {
        const pids = this.targets.postgres.freeze();
        await sleep(fault.durationMs);
        this.targets.postgres.thaw(pids);
        record(pids, `SIGSTOP of the postmaster and ${pids.length - 1} backends for ${fault.durationMs} ms`);
        return;
      }
      case 'stop_kafka_broker':
      case 'kill_kafka_broker': {
        const node = this.targets.kafka.nodes[fault.target]!;
        const pid = node.process.pid;
        if (fault.kind === 'stop_kafka_broker') await node.process.stop();
        else await node.process.crash();
        await sleep(fault.durationMs);
        await this.restart(node.process);
        await this.targets.kafka.waitForAllBrokers(120_000).catch((error: unknown) => this.errors.push(`kafka rejoin: ${(error as Error).message}`));
        record(pid === undefined ? [] : [pid], `node ${node.nodeId} ${fault.kind === 'stop_kafka_broker' ? 'stopped (SIGTERM)' : 'SIGKILL'} for ${fault.durationMs} ms`);
        return;
      }
      case 'kill_seller': {
        const seller = this.targets.sellers.get(fault.seller ?? 'normal')!;
        // Mid-request: wait (bounded) until a governor or agent is connected to it.
        for (let i = 0; i < 100 && seller.activeConnections() === 0; i++) await sleep(100);
        const open = seller.activeConnections();
        const pid = seller.process.pid;
        await seller.process.crash();
        await sleep(fault.durationMs);
        for (let attempt = 1; ; attempt++) {
          try {
            await seller.restart();
            break;
          } catch (error) {
            if (attempt >= RESTART_ATTEMPTS_MAX) throw error;
            await sleep(1_000);
          }
        }
        record(pid === undefined ? [] : [pid], `seller ${seller.kind} SIGKILL with ${open} connections open, restarted after ${fault.durationMs} ms`);
        return;
      }
      case 'partition_database': {
        const { governors, workers } = this.targets.databaseLinks;
        const isGovernor = fault.target < governors.length;
        const link = isGovernor ? governors[fault.target]! : workers[fault.target - governors.length]!;
        const name = isGovernor ? `governor-${fault.target + 1}` : `worker-${fault.target - governors.length + 1}`;
        const open = link.activeConnections();
        link.partition();
        await sleep(fault.durationMs);
        link.heal();
        record([], `${name} cut off PostgreSQL for ${fault.durationMs} ms with ${open} connections open, which were then reset`);
        return;
      }
      default: {
        const _never: never = fault.kind;
        return;
      }
    }
  }

  private async restart(target: ManagedProcess): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await target.start();
        return;
      } catch (error) {
        // A governor cannot be ready while the database is frozen; it is tried again.
        if (attempt >= RESTART_ATTEMPTS_MAX) throw error;
        this.log(`restart of ${target.spec.name} failed (attempt ${attempt}): ${(error as Error).message.split('\n')[0]}`);
        await sleep(2_000);
      }
    }
  }
}
