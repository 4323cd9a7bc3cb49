import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import { Kafka, logLevel } from 'kafkajs';

import { freePort } from '../libs/platform/processes.js';
import { ManagedProcess } from './processes.js';
import { repoRoot } from './repo.js';

// A three-node KRaft cluster on loopback, each node broker and controller at once, as a small
// deployment runs it on three machines: topics replicated three times, acknowledged writes on
// at least two replicas (min.insync.replicas=2), so one node may be down without losing or
// refusing anything. Modelled on test/support/kafka-broker.ts, which starts a single node.

/** The deployment's cluster; the short run in `npm test` may start one node to save two JVMs. */
export const KAFKA_NODE_COUNT = 3;
const kafkaHome = join(repoRoot, '.cache', 'kafka');
const READY_TIMEOUT_MS = 120_000;
const FORMAT_TIMEOUT_MS = 60_000;

export interface KafkaNode {
  readonly nodeId: number;
  readonly port: number;
  readonly process: ManagedProcess;
}

export interface KafkaCluster {
  /** Bootstrap list for clients: every node, comma-separated. */
  readonly brokers: string;
  readonly nodes: readonly KafkaNode[];
  /** Waits until every node is registered as a broker again (after a restart). */
  waitForAllBrokers(timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export function kafkaInstalled(): boolean {
  return existsSync(join(kafkaHome, 'lib'));
}

function nodeProperties(dir: string, nodeId: number, port: number, controllerPort: number, voters: string, nodeCount: number): string {
  const replication = Math.min(3, nodeCount);
  const minInSync = Math.min(2, nodeCount);
  return [
    'process.roles=broker,controller',
    `node.id=${nodeId}`,
    `controller.quorum.voters=${voters}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${join(dir, 'logs')}`,
    'num.partitions=3',
    `default.replication.factor=${replication}`,
    `min.insync.replicas=${minInSync}`,
    'unclean.leader.election.enable=false',
    `offsets.topic.replication.factor=${replication}`,
    // Fewer internal partitions make the first consumer group much faster to set up on a
    // two-core machine; a production cluster keeps the defaults.
    'offsets.topic.num.partitions=5',
    `transaction.state.log.replication.factor=${replication}`,
    `transaction.state.log.min.isr=${minInSync}`,
    'transaction.state.log.num.partitions=5',
    `share.coordinator.state.topic.replication.factor=${replication}`,
    `share.coordinator.state.topic.min.isr=${minInSync}`,
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    '',
  ].join('\n');
}

function javaArgs(extra: readonly string[], jvmFlags: readonly string[] = []): string[] {
  return [
    ...jvmFlags,
    '-Xms96m',
    '-Xmx384m',
    '-XX:+UseSerialGC',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${join(kafkaHome, 'log4j2.properties')}`,
    '-cp',
    join(kafkaHome, 'lib', '*'),
    ...extra,
  ];
}

async function format(propsFile: string, clusterId: string): Promise<void> {
  const child = spawn('java', javaArgs(['kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', propsFile], ['-XX:TieredStopAtLevel=1']), {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`kafka storage format timed out:\n${output}`));
    }, FORMAT_TIMEOUT_MS);
    child.once('error', reject);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  if (code !== 0) throw new Error(`kafka storage format failed (${code}):\n${output}`);
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (open: boolean): void => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function registeredBrokerCount(brokers: string): Promise<number> {
  const admin = new Kafka({ clientId: 'chaos-cluster-probe', brokers: brokers.split(','), logLevel: logLevel.NOTHING, connectionTimeout: 1_000, requestTimeout: 3_000, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length;
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Formats and starts the nodes in `dataDir`, and waits until all are brokers of one cluster. */
export async function startKafkaCluster(dataDir: string, nodeCount = KAFKA_NODE_COUNT): Promise<KafkaCluster> {
  if (!kafkaInstalled()) throw new Error(`Kafka is not installed in ${kafkaHome}; run: bash scripts/install-kafka.sh`);
  const ports: number[] = [];
  while (ports.length < nodeCount * 2) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const voters = Array.from({ length: nodeCount }, (_, i) => `${i + 1}@127.0.0.1:${ports[nodeCount + i]}`).join(',');
  const clusterId = randomBytes(16).toString('base64url');
  const nodes: KafkaNode[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const nodeId = i + 1;
    const dir = join(dataDir, `node-${nodeId}`);
    mkdirSync(dir, { recursive: true });
    const port = ports[i]!;
    const propsFile = join(dir, 'server.properties');
    writeFileSync(propsFile, nodeProperties(dir, nodeId, port, ports[nodeCount + i]!, voters, nodeCount));
    nodes.push({
      nodeId,
      port,
      process: new ManagedProcess({
        name: `kafka-${nodeId}`,
        command: 'java',
        args: javaArgs(['kafka.Kafka', propsFile]),
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
        cwd: repoRoot,
        logFile: join(dir, 'node.log'),
        ready: () => portOpen(port),
        readyTimeoutMs: READY_TIMEOUT_MS,
      }),
    });
  }
  // Formatting three nodes at once costs three JVM start-ups in parallel instead of in a row.
  await Promise.all(nodes.map((node) => format(join(dataDir, `node-${node.nodeId}`, 'server.properties'), clusterId)));
  const brokers = nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  const cluster: KafkaCluster = {
    brokers,
    nodes,
    async waitForAllBrokers(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const count = await registeredBrokerCount(brokers);
        if (count === nodeCount) return;
        if (Date.now() > deadline) throw new Error(`only ${count} of ${nodeCount} Kafka brokers registered after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 500));
      }
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.process.close()));
    },
  };
  try {
    await Promise.all(nodes.map((node) => node.process.start()));
    await cluster.waitForAllBrokers(READY_TIMEOUT_MS);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
