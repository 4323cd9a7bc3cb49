import { createLogger, redactUrl } from '../../libs/platform/logger.js';
import { startTracing } from '../../libs/platform/tracing.js';
import { ConfigError, loadGovernorConfig } from './config.js';
import { createGovernor } from './create-governor.js';

const logger = createLogger('governor');
// Before anything serves, so every request runs inside the context manager.
const tracing = startTracing('paybound-governor');
try {
  const config = loadGovernorConfig();
  const governor = await createGovernor(config, logger);
  logger.info({ url: governor.url, docs: `${governor.url}/docs`, metrics: `${governor.url}/metrics`, database: redactUrl(config.databaseUrl), kafka: config.kafkaBrokers ?? 'off', tracing: tracing.exporting ? 'otlp' : 'off' }, 'governor ready');
  const stop = (): void => {
    void governor
      .close()
      .then(() => tracing.shutdown())
      .catch((error: unknown) => logger.warn({ err: { message: (error as Error).message } }, 'shutdown incomplete'))
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(error.message);
    process.exit(2);
  }
  logger.fatal({ err: { message: (error as Error).message } }, 'governor failed to start');
  process.exit(1);
}
