import { EventStore } from '../../libs/eventstore/event-store.js';
import { defaultMigrationsDirectory, migrate } from '../../libs/eventstore/migrate.js';
import { DecisionMetrics, ObservedDecisions } from '../../libs/ledger/decision-telemetry.js';
import { OrgCommandProcessor } from '../../libs/ledger/org-command-processor.js';
import { createDatabasePool } from '../../libs/platform/database-pool.js';
import { createLogger, redactUrl } from '../../libs/platform/logger.js';
import { DataKeyError, processDataKeys } from '../../libs/platform/data-keys.js';
import { createRegistry, serveMetrics, type MetricsServer } from '../../libs/platform/metrics.js';
import { startTracing } from '../../libs/platform/tracing.js';
import { EvmChain, type EvmChainReader } from '../../libs/settlement/chain.js';
import { postgresPaymentHeaders, sealStoredHeaders } from '../../libs/settlement/payment-headers.js';
import { SettlementWorker } from '../../libs/settlement/settlement-worker.js';
import { localSigner } from '../../libs/settlement/signer.js';
import { GovernorDecisions, localDecisions, type WorkerDecisions } from '../../libs/settlement/worker-decisions.js';
import { WalletMonitor } from '../../libs/settlement/wallet-monitor.js';
import { WorkerMetrics } from '../../libs/settlement/worker-metrics.js';
import { evmChainId } from '../../libs/x402/networks.js';
import { loadWorkerConfig, loadWorkerKey, WorkerConfigError } from './config.js';
import { signingFaults } from './faults.js';

// The settlement worker process: the only one that can read a private key. It needs
// DATABASE_URL, a key (PAYBOUND_KEYSTORE_FILE + PAYBOUND_KEYSTORE_PASSWORD_FILE, or the
// descriptor PAYBOUND_KEY_FD; PAYBOUND_DEV_PRIVATE_KEY_FILE for development; see config.ts)
// and RPC_URL_<network> per chain it pays on; PAYBOUND_DATA_KEY_FILE seals the payment
// headers it stores.
// PAYBOUND_WORKER_FAULT is a test-only fault injection (see faults.ts).

const logger = createLogger('settlement-worker');
const tracing = startTracing('paybound-settlement-worker');
try {
  const config = loadWorkerConfig();
  const key = await loadWorkerKey();
  if (key.fromEnvironment) {
    logger.warn(
      'the wallet key or its password came from the environment, which stays readable in /proc/<pid>/environ for the life of the process: development only. Use PAYBOUND_KEYSTORE_FILE with PAYBOUND_KEYSTORE_PASSWORD_FILE or PAYBOUND_KEY_FD anywhere else.',
    );
  } else if (key.source === 'key_file' || key.source === 'key_fd') {
    logger.warn('the wallet key is a raw key (PAYBOUND_DEV_PRIVATE_KEY_FILE or PAYBOUND_KEY_FD), UNENCRYPTED at rest. Use an encrypted keystore (PAYBOUND_KEYSTORE_FILE) anywhere but a development machine.');
  }
  let dataKeys;
  try {
    dataKeys = processDataKeys();
  } catch (error) {
    if (error instanceof DataKeyError) throw new WorkerConfigError(`invalid configuration:\n  ${error.message}`);
    throw error;
  }
  if (dataKeys === undefined) logger.warn('PAYBOUND_DATA_KEY_FILE is not set: payment headers are stored in the clear');
  if (config.fault !== 'none') logger.warn({ fault: config.fault }, 'PAYBOUND_WORKER_FAULT is set: test-only fault injection is active');
  const signer = localSigner(key.privateKey);
  // The key stays in the signer's closure only.
  key.privateKey = '0x';

  // A stalled database fails the worker's work fast (nothing is signed without it), rather
  // than holding every handler: bounded connects, statements and open transactions.
  const pool = createDatabasePool(
    {
      connectionString: config.databaseUrl,
      max: config.dbPoolSize,
      connectionTimeoutMillis: config.database.connectTimeoutMs,
      statement_timeout: config.database.statementTimeoutMs,
      // The client gives up a little after the server would, so that a connection lost without a word does not hang either.
      query_timeout: config.database.statementTimeoutMs + 1_000,
      idle_in_transaction_session_timeout: config.database.idleInTransactionTimeoutMs,
      application_name: 'paybound-settlement-worker',
    },
    logger,
  );
  await migrate(pool, defaultMigrationsDirectory());
  const store = new EventStore(pool);

  // Each RPC_URL_<network> is checked against the chain it claims to be, so a wrong URL
  // cannot make the worker sign for one chain and reconcile on another.
  const chains = new Map<string, EvmChainReader>();
  for (const [envName, rpcUrl] of config.rpcEnvNames) {
    const match = /^RPC_URL_EIP155_([0-9]+)$/.exec(envName);
    if (match === null) {
      logger.warn({ variable: envName }, 'ignoring an RPC URL for a network this worker cannot pay on');
      continue;
    }
    const network = `eip155:${match[1]}`;
    const chain = new EvmChain(rpcUrl, config.lookbackBlocks);
    const chainId = await chain.chainId();
    if (chainId !== evmChainId(network)) throw new WorkerConfigError(`invalid configuration:\n  ${envName}: the node reports chain ${chainId}`);
    chains.set(network, chain);
  }

  const registry = createRegistry('settlement-worker');
  const workerMetrics = new WorkerMetrics(registry);
  let decisions: WorkerDecisions;
  if (config.governor !== undefined) {
    decisions = new GovernorDecisions({ governorUrl: config.governor.url, token: config.governor.token, timeoutMs: config.governor.timeoutMs });
  } else {
    logger.warn('PAYBOUND_GOVERNOR_URL is not set: the worker decides its budget commands itself, so governors writing to the same orgs leave their fast path for those orgs');
    decisions = localDecisions(new ObservedDecisions(new OrgCommandProcessor(store, { maxBatchSize: 200 }), new DecisionMetrics(registry)));
  }
  const worker = new SettlementWorker({
    pool,
    store,
    decisions,
    signer,
    headers: postgresPaymentHeaders(pool, dataKeys),
    chains,
    logger,
    idleWaitMs: config.idleWaitMs,
    signConcurrencyMax: config.signConcurrencyMax,
    wakeups: { connectionString: config.databaseUrl, pollFallbackMs: config.pollFallbackMs },
    reconcileIntervalMs: config.reconcileIntervalMs,
    faults: signingFaults(config.fault, config.faultAfterCount),
    kafka: config.kafka,
    metrics: workerMetrics,
  });
  worker.start();
  if (dataKeys !== undefined) {
    // Headers stored in the clear (before sealing began) or under an older key are sealed anew.
    void sealStoredHeaders(pool, dataKeys)
      .then((count) => {
        if (count > 0) logger.info({ count, keyId: dataKeys.currentKeyId }, 'stored payment headers sealed with the current data key');
      })
      .catch((error: unknown) => logger.warn({ err: { message: (error as Error).message } }, 'sealing stored payment headers failed; they are tried again at the next start'));
  }
  const walletMonitor = new WalletMonitor({ pool, store, chains, address: signer.address, floors: config.walletFloors, logger, intervalMs: config.walletCheckIntervalMs, metrics: workerMetrics });
  walletMonitor.start();
  // Metrics are worth a warning, not a stop: payments go on without a scrape.
  // They show the wallet's address and balances: behind a token, unless explicitly opened.
  let metricsServer: MetricsServer | undefined;
  if (config.metrics.token === undefined && !config.metrics.open) {
    logger.warn('serving no /metrics: set PAYBOUND_METRICS_TOKEN (scrapes send it as a bearer token), or PAYBOUND_METRICS_OPEN=true where nothing untrusted can reach the port');
  } else {
    try {
      metricsServer = await serveMetrics(registry, { host: config.metrics.host, port: config.metrics.port, token: config.metrics.token });
    } catch (error) {
      logger.error({ err: { message: (error as Error).message }, host: config.metrics.host, port: config.metrics.port }, 'metrics server could not listen; serving no /metrics');
    }
  }
  logger.info(
    { address: signer.address, networks: [...chains.keys()], keySource: key.source, decisions: config.governor === undefined ? 'local' : redactUrl(config.governor.url), database: redactUrl(config.databaseUrl), source: config.kafka === undefined ? 'postgres' : 'kafka', signConcurrencyMax: config.signConcurrencyMax, metrics: metricsServer?.url ?? 'off', tracing: tracing.exporting ? 'otlp' : 'off' },
    'settlement worker ready',
  );
  const stop = (): void => {
    void Promise.all([worker.stop(), walletMonitor.stop(), metricsServer?.close()])
      .then(() => pool.end())
      .then(() => tracing.shutdown())
      .catch((error: unknown) => logger.warn({ err: { message: (error as Error).message } }, 'shutdown incomplete'))
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  if (error instanceof WorkerConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  logger.fatal({ err: { message: (error as Error).message } }, 'settlement worker failed to start');
  process.exit(1);
}
