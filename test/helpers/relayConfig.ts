import { resolveConfig, type ConfigOverrides, type RelayConfig } from '../../src/config.ts';
import type { TestDatabases } from './testDatabases.ts';

/** A relay config for this test file's databases, quick timings, no ops port. */
export function testRelayConfig(t: TestDatabases, overrides: ConfigOverrides = {}): RelayConfig {
  return resolveConfig(
    {},
    {
      databaseUrl: t.databaseUrl,
      mongoUrl: t.mongoUrl,
      mongoDb: t.mongoDbName,
      opsPort: 'off',
      pollIntervalMs: 200,
      heartbeatMs: 500,
      leaseMs: 5000,
      backoffBaseMs: 50,
      backoffMaxMs: 500,
      logLevel: 'silent',
      ...overrides,
    },
  );
}

/** The same settings as environment variables, for a relay child process. */
export function testRelayEnv(t: TestDatabases, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: t.databaseUrl,
    MONGO_URL: t.mongoUrl,
    MONGO_DB: t.mongoDbName,
    OUTBOX_RELAY_POLL_INTERVAL_MS: '200',
    OUTBOX_RELAY_HEARTBEAT_MS: '500',
    OUTBOX_RELAY_LEASE_MS: '3000',
    OUTBOX_RELAY_BACKOFF_BASE_MS: '50',
    OUTBOX_RELAY_BACKOFF_MAX_MS: '500',
    OUTBOX_RELAY_LOG_LEVEL: 'info',
    ...extra,
  };
}
