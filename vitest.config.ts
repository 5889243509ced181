import { defineConfig } from 'vitest/config';

// Test kind is in the file name; one project (and one npm script) per kind.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.unit.test.ts'] } },
      {
        test: {
          name: 'int',
          include: ['test/int/**/*.int.test.ts'],
          globalSetup: ['test/helpers/globalSetup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          globalSetup: ['test/helpers/globalSetup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          // e2e files spawn relay processes; two at a time keeps a 2-core machine honest.
          maxWorkers: 2,
        },
      },
    ],
  },
});
