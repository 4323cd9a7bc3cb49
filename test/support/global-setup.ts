import type { TestProject } from 'vitest/node';
import { ensureKafkaInstalled, startKafkaBroker } from './kafka-broker.js';
import { ensurePostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    kafkaBrokers: string;
    kafkaDataDir: string;
  }
}

/**
 * Starts the infrastructure shared by the whole integration run: one Postgres (system or
 * embedded) and one Kafka broker. Tests that need to stop and restart Kafka start their own
 * broker with startKafkaBroker so they never pull the shared one out from under others.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // A fresh clone has no Kafka jars yet: they are installed here, once, through Maven.
  ensureKafkaInstalled((line) => console.log(line));
  const [postgres, kafka] = await Promise.all([ensurePostgres(), startKafkaBroker()]);
  project.provide('pgAdminUrl', postgres.adminUrl);
  project.provide('kafkaBrokers', kafka.brokers);
  project.provide('kafkaDataDir', kafka.dataDir);
  return async () => {
    await Promise.allSettled([kafka.destroy(), postgres.stop()]);
  };
}
