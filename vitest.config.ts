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
          // A hang guard only, never tighter than the waits inside a test: those
          // carry the message (waitFor's), and several add up past 60 s on a
          // loaded 2-core machine (mongoOutage: 20 + 60 + 60 s; rebuild: 2 × 120 s).
          // Measured: a whole run under load took 1170 s instead of ~480 s, and
          // the vitest timeout cut those tests short at 60 s before their own
          // bounds were reached (and the next test in the file inherited a relay
          // still running).
          testTimeout: 240_000,
          hookTimeout: 240_000,
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
