import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.ts';
import { ConfigError } from '../../src/errors.ts';

const env = { DATABASE_URL: 'postgres://u:pw@localhost/db', MONGO_URL: 'mongodb://localhost/' };

describe('resolveConfig', () => {
  it('applies documented defaults and freezes the result', () => {
    const config = resolveConfig(env);
    expect(config).toMatchObject({ batchSize: 500, concurrency: 2, pollIntervalMs: 1000, leaseMs: 30_000, maxAttempts: 10, listen: true, opsHost: '127.0.0.1', opsPort: 9464, mongoDb: 'ledger', retentionHours: 168 });
    expect(config.listenDatabaseUrl).toBe(env.DATABASE_URL);
    expect(config.relayId).toMatch(/-\d+-/);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes the environment over defaults and flags over the environment', () => {
    expect(resolveConfig({ ...env, OUTBOX_RELAY_BATCH_SIZE: '42' }).batchSize).toBe(42);
    expect(resolveConfig({ ...env, OUTBOX_RELAY_BATCH_SIZE: '42' }, { batchSize: '7' }).batchSize).toBe(7);
    expect(resolveConfig({ ...env, OUTBOX_RELAY_LISTEN: 'false' }).listen).toBe(false);
    expect(resolveConfig({ ...env, OUTBOX_RELAY_OPS_PORT: 'off' }).opsPort).toBe('off');
  });

  it('names the variable of a bad value, and the flag when the flag was bad', () => {
    expect(() => resolveConfig({ ...env, OUTBOX_RELAY_LEASE_MS: 'soon' })).toThrowError(/OUTBOX_RELAY_LEASE_MS/);
    try {
      resolveConfig(env, { concurrency: 0 });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('--concurrency (OUTBOX_RELAY_CONCURRENCY)');
    }
  });

  it('pool mode: transaction (pooler-safe) unless told session; anything else names OUTBOX_RELAY_POOL_MODE', () => {
    expect(resolveConfig(env).poolMode).toBe('transaction');
    expect(resolveConfig({ ...env, OUTBOX_RELAY_POOL_MODE: 'session' }).poolMode).toBe('session');
    expect(() => resolveConfig({ ...env, OUTBOX_RELAY_POOL_MODE: 'statement' })).toThrowError(/OUTBOX_RELAY_POOL_MODE/);
  });

  it('does not echo URL values, which may hold passwords', () => {
    expect(() => resolveConfig({ ...env, DATABASE_URL: 'ftp://u:topsecret@x' })).toThrowError(/DATABASE_URL/);
    try {
      resolveConfig({ ...env, DATABASE_URL: 'ftp://u:topsecret@x' });
    } catch (error) {
      expect((error as Error).message).not.toContain('topsecret');
    }
  });

  it('requires only what a command needs', () => {
    expect(() => resolveConfig({ DATABASE_URL: env.DATABASE_URL })).toThrowError(/MONGO_URL/);
    expect(resolveConfig({ DATABASE_URL: env.DATABASE_URL }, {}, ['databaseUrl']).mongoUrl).toBeUndefined();
  });
});
