import { defineConfig } from 'vitest/config';

// Tiers by file suffix: *.unit.spec.ts is pure and fast; *.int.spec.ts talks to real
// Postgres, Kafka and anvil, started by test/support/global-setup.ts.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/plain-summary-reporter.ts'],
    projects: [
      { extends: true, test: { name: 'unit', include: ['libs/**/*.unit.spec.ts', 'apps/**/*.unit.spec.ts', 'test/**/*.unit.spec.ts'] } },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['test/**/*.int.spec.ts', 'libs/**/*.int.spec.ts', 'apps/**/*.int.spec.ts'],
          globalSetup: ['./test/support/global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
