import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { freePort } from '../../libs/platform/processes.js';

export type KafkaBroker = {
  /** Bootstrap address for clients, "127.0.0.1:PORT". */
  brokers: string;
  /** PID of the running JVM; it changes after stop() and start(). */
  pid: number;
  /** Folder holding server.properties, the broker log file and the KRaft log dirs. */
  dataDir: string;
  /** Milliseconds from spawn to the first successful listTopics() of the last start. */
  readyMs: number;
  stop(): Promise<void>;
  /** Starts the same broker again, on the same ports and with the same data. */
  start(): Promise<void>;
  /** Stops the broker for good and deletes its data folder if this module created it. */
  destroy(): Promise<void>;
};

/** The repository root, whether this file runs from test/support (vitest) or dist/test/support (the bench). */
const repoRoot = ((): string => {
  const up = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  return up.endsWith(`${sep}dist`) ? dirname(up) : up;
})();
const kafkaHome = join(repoRoot, '.cache', 'kafka');
const INSTALL_SCRIPT = join(repoRoot, 'scripts', 'install-kafka.sh');
/** Kafka 4 brokers need Java 17. */
export const JAVA_MAJOR_MIN = 17;
/** Maven with a cold cache downloads about 60 MB; a warm one copies in seconds. */
const INSTALL_TIMEOUT_MS = 15 * 60_000;
const classpath = join(kafkaHome, 'lib', '*');
const log4jConfig = join(kafkaHome, 'log4j2.properties');

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;

// JVMs started here must never outlive the test process, even when vitest is interrupted
// before teardown runs; otherwise a stray broker keeps ports and disk busy on CI agents.
// Temporary data folders this module created go too; a folder the caller chose is theirs.
const liveChildren = new Set<ChildProcess>();
const ownedDirs = new Set<string>();
process.once('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
  for (const dir of ownedDirs) rmSync(dir, { recursive: true, force: true });
});


function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no broker log)';
  }
}

function serverProperties(dir: string, port: number, controllerPort: number): string {
  return [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.bootstrap.servers=127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    `log.dirs=${join(dir, 'logs')}`,
    'num.partitions=3',
    'default.replication.factor=1',
    'min.insync.replicas=1',
    'offsets.topic.replication.factor=1',
    // Fewer internal partitions make the first consumer group and first transaction much
    // faster to set up on a two-core machine; production uses the defaults.
    'offsets.topic.num.partitions=5',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'transaction.state.log.num.partitions=5',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    'auto.create.topics.enable=false',
    '',
  ].join('\n');
}

function java(args: string[], logFile: string, jvmFlags: string[] = []): ChildProcess {
  const fd = openSync(logFile, 'a');
  try {
    return spawn(
      'java',
      [
        ...jvmFlags,
        '-Xms128m',
        '-Xmx512m',
        '-XX:+UseSerialGC',
        '-Djava.awt.headless=true',
        `-Dlog4j2.configurationFile=${log4jConfig}`,
        '-cp',
        classpath,
        ...args,
      ],
      { stdio: ['ignore', fd, fd], cwd: repoRoot },
    );
  } finally {
    // The child holds its own duplicate of the descriptor.
    closeSync(fd);
  }
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((done) => {
    const timer = setTimeout(() => done(false), timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      done(true);
    });
  });
}

async function formatStorage(dir: string, logFile: string): Promise<void> {
  // Kafka cluster ids are 16 random bytes in URL-safe base64 without padding.
  const clusterId = randomBytes(16).toString('base64url');
  const child = java(
    ['kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', join(dir, 'server.properties'), '--standalone'],
    logFile,
    // The format tool runs for a couple of seconds at most, so the optimising compiler never
    // pays off; stopping at C1 saves about a second per fresh broker.
    ['-XX:TieredStopAtLevel=1'],
  );
  const code = await new Promise<number | null>((done, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => done(c));
  });
  if (code !== 0) {
    throw new Error(`kafka storage format failed with exit code ${code}:\n${tail(logFile)}`);
  }
}

async function waitUntilReady(brokers: string, child: ChildProcess, logFile: string): Promise<void> {
  const admin = new Kafka({
    clientId: 'kafka-broker-readiness',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
  }).admin();
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  try {
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(
          `kafka broker exited during startup (code ${child.exitCode}, signal ${child.signalCode}):\n${tail(logFile)}`,
        );
      }
      try {
        await admin.connect();
        await admin.listTopics();
        return;
      } catch (error) {
        lastError = error;
        await admin.disconnect().catch(() => undefined);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    throw new Error(
      `kafka broker at ${brokers} not ready after ${READY_TIMEOUT_MS} ms (last error: ${String(lastError)}):\n${tail(logFile)}`,
    );
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Why Java cannot run a Kafka broker here, with how to get it; undefined when it can. */
export function javaProblem(): string | undefined {
  const how = `install a Java ${JAVA_MAJOR_MIN}+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless; macOS: brew install openjdk@17) and put java on PATH`;
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8', timeout: 30_000 });
  if (probe.error !== undefined || probe.status !== 0) return `Kafka needs Java, and \`java -version\` did not run (${probe.error?.message ?? `exit ${probe.status}`}): ${how}`;
  // `version "17.0.15"`, or `version "1.8.0_402"` for Java 8.
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${probe.stderr}${probe.stdout}`);
  const major = match === null ? undefined : Number(match[1]) === 1 ? Number(match[2]) : Number(match[1]);
  if (major === undefined || major < JAVA_MAJOR_MIN) return `Kafka 4 needs Java ${JAVA_MAJOR_MIN} or newer, and java here is ${major ?? 'of an unknown version'}: ${how}`;
  return undefined;
}

/**
 * Makes sure the Kafka jars are in .cache/kafka, installing them through Maven the first
 * time (scripts/install-kafka.sh; a stamp makes later runs cost milliseconds). Throws with
 * what to do when Java or Maven cannot be had.
 */
export function ensureKafkaInstalled(log: (line: string) => void = console.log): void {
  const java = javaProblem();
  if (java !== undefined) throw new Error(java);
  const started = Date.now();
  if (!existsSync(join(kafkaHome, '.installed'))) log('[kafka] the Kafka jars are not installed yet: fetching them through Maven into .cache/kafka (once; under a minute with a cold Maven cache)…');
  const result = spawnSync('bash', [INSTALL_SCRIPT], { cwd: repoRoot, encoding: 'utf8', timeout: INSTALL_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
  // Maven writes colour resets even when told not to colour.
  // eslint-disable-next-line no-control-regex
  const output = `${result.stdout}${result.stderr}`.replace(/\x1b\[[0-9;]*m/g, '').trim();
  if (result.status !== 0) {
    throw new Error(`installing Kafka failed (bash scripts/install-kafka.sh, ${result.error?.message ?? `exit ${result.status}`}):\n${output.split('\n').slice(-15).join('\n')}`);
  }
  const elapsed = Date.now() - started;
  // The script says "already in" when it had nothing to do; only an install is worth a line.
  const said = output.split('\n').filter((line) => line.startsWith('install-kafka:')).at(-1) ?? 'install-kafka: done';
  if (!said.includes('already in')) log(`[kafka] ${said} (${(elapsed / 1000).toFixed(1)} s)`);
}

/**
 * Starts a single-node KRaft broker (combined broker and controller) from the jars that
 * scripts/install-kafka.sh put into .cache/kafka/lib. Ports are picked at run time so
 * several brokers can coexist; they stay fixed across stop() and start() so clients that
 * keep the bootstrap address reconnect to the restarted broker.
 */
export async function startKafkaBroker(opts: { dataDir?: string } = {}): Promise<KafkaBroker> {
  if (!existsSync(join(kafkaHome, 'lib'))) {
    throw new Error(`Kafka is not installed in ${kafkaHome}; run: bash scripts/install-kafka.sh (npm test does it by itself)`);
  }
  const dir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'paybound-kafka-'));
  if (opts.dataDir === undefined) ownedDirs.add(dir);
  mkdirSync(dir, { recursive: true });
  const logFile = join(dir, 'broker.log');
  const propsFile = join(dir, 'server.properties');

  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  writeFileSync(propsFile, serverProperties(dir, port, controllerPort));
  const brokers = `127.0.0.1:${port}`;

  let child: ChildProcess | undefined;

  const broker: KafkaBroker = {
    brokers,
    pid: 0,
    dataDir: dir,
    readyMs: 0,
    async start() {
      if (child !== undefined) return;
      const startedAt = Date.now();
      // Formatting is only needed once; a restart must reuse the existing metadata log,
      // which is the whole point of start() after stop().
      if (!existsSync(join(dir, 'logs', 'meta.properties'))) {
        await formatStorage(dir, logFile);
      }
      const spawned = java(['kafka.Kafka', propsFile], logFile);
      child = spawned;
      liveChildren.add(spawned);
      spawned.once('exit', () => liveChildren.delete(spawned));
      await new Promise<void>((ok, fail) => {
        spawned.once('spawn', ok);
        spawned.once('error', fail);
      });
      broker.pid = spawned.pid ?? 0;
      try {
        await waitUntilReady(brokers, spawned, logFile);
      } catch (error) {
        await broker.stop();
        throw error;
      }
      broker.readyMs = Date.now() - startedAt;
      console.log(`[kafka] broker ${brokers} (pid ${broker.pid}) ready in ${broker.readyMs} ms, data in ${dir}`);
    },
    async stop() {
      const running = child;
      if (running === undefined) return;
      child = undefined;
      running.kill('SIGTERM');
      if (!(await waitForExit(running, STOP_TIMEOUT_MS))) {
        running.kill('SIGKILL');
        await waitForExit(running, 5_000);
      }
      liveChildren.delete(running);
    },
    async destroy() {
      await broker.stop();
      if (ownedDirs.delete(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };

  await broker.start();
  return broker;
}

/**
 * Creates a topic with replication factor 1 if it does not exist yet, and waits until
 * every partition has a leader so that a producer right after this call does not race
 * the metadata propagation.
 */
export async function ensureTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  const admin = new Kafka({ clientId: 'ensure-topic', brokers: [brokers], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (!existing.includes(topic)) {
      await admin.createTopics({
        topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
        waitForLeaders: true,
      });
    }
  } finally {
    await admin.disconnect();
  }
}

export { freePort };
