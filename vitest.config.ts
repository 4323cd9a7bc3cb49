import { defineConfig } from 'vitest/config';

// Tiers by file suffix: *.unit.spec.ts is pure and fast; *.int.spec.ts talks to real
// Postgres, Kafka and anvil, started by test/support/global-setup.ts.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/plain-summary-reporter.ts'],
    projects: [
      // Pure tests are fast, but the CPU may be shared: vitest's default 5 s timed out a 3,000-payment
      // domain test that took 6.9 s on a loaded 2-core box. A hang still fails.
      { extends: true, test: { name: 'unit', include: ['libs/**/*.unit.spec.ts', 'apps/**/*.unit.spec.ts', 'test/**/*.unit.spec.ts'], testTimeout: 30_000 } },
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
