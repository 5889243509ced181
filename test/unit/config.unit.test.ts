import { describe, expect, it } from 'vitest';
import { isSecretSetting, resolveConfig, secretValues, SETTINGS } from '../../src/config.ts';
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

function configError(env: Record<string, string>, overrides: Record<string, unknown> = {}): ConfigError {
  try {
    resolveConfig(env, overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error(`accepted ${JSON.stringify({ ...env, ...overrides })}`);
}

type Key = keyof typeof SETTINGS;
const SECRET_KEYS = (Object.keys(SETTINGS) as Key[]).filter((key) => isSecretSetting(SETTINGS[key]));

describe('secret settings', () => {
  it('are the URLs and the ops tokens, each flagged in the table (not only caught by its name)', () => {
    expect(SECRET_KEYS).toEqual(['databaseUrl', 'controlDatabaseUrl', 'listenDatabaseUrl', 'mongoUrl', 'opsToken', 'opsTokens']);
    for (const key of SECRET_KEYS) expect((SETTINGS[key] as { secret?: boolean }).secret, key).toBe(true);
  });

  it('a setting added without the flag is still secret when its name says so', () => {
    for (const env of ['OUTBOX_RELAY_SIGNING_KEY', 'OUTBOX_RELAY_API_TOKEN', 'X_PASSWORD', 'OUTBOX_RELAY_CLIENT_SECRET', 'OTEL_EXPORTER_URL', 'AWS_CREDENTIALS', 'KEY']) {
      expect(isSecretSetting({ env }), env).toBe(true);
    }
    for (const env of ['OUTBOX_RELAY_BATCH_SIZE', 'OUTBOX_RELAY_MONKEY_MS', 'MONGO_DB']) expect(isSecretSetting({ env }), env).toBe(false);
  });

  // Each secret setting with values that fail validation in different ways:
  // the message names the variable and carries neither the value nor its password.
  const PW = 'Hunter2Sekr3t';
  const bad: Partial<Record<Key, string[]>> = {
    databaseUrl: [`mysql://user:${PW}@db.example/x`, `postgres://user:${PW}@[bad`, `${PW}-${PW}`, `ftp://h/db?password=${PW}`],
    listenDatabaseUrl: [`mysql://user:${PW}@db.example/x`, `postgres://user:${PW}@[bad`, `${PW}-${PW}`, `ftp://h/db?password=${PW}`],
    mongoUrl: [`http://user:${PW}@mongo.example/`, `mongodb://user:${PW}@[bad`, `${PW}-${PW}`, `https://h/?authMechanismProperties=AWS_SESSION_TOKEN:${PW}`],
    opsToken: [PW, `${PW.slice(0, 10)}`],
  };
  for (const key of SECRET_KEYS) {
    it.each(bad[key] ?? [])(`${SETTINGS[key].env} = %s is refused without echoing it`, (value) => {
      const viaEnv = configError({ ...env, [SETTINGS[key].env]: value });
      const viaFlag = configError(env, { [key]: value });
      for (const error of [viaEnv, viaFlag]) {
        expect(error.message).toContain(SETTINGS[key].env);
        expect(error.message).toMatch(/value not shown: it is secret/);
        expect(error.message).not.toContain(value);
        expect(error.message).not.toContain(PW.slice(0, 10));
        expect(JSON.stringify(error.details)).not.toContain(PW.slice(0, 10));
      }
    });
  }

  it('an ordinary setting still shows the value it refused', () => {
    expect(configError({ ...env, OUTBOX_RELAY_BATCH_SIZE: 'lots' }).message).toContain('"lots"');
  });

  it('secretValues finds the values, URL passwords and credential query values a printer must cut out', () => {
    const values = secretValues({ ...env, DATABASE_URL: 'postgres://u:p%40ss-word@h/db?password=QueryPass1', OUTBOX_RELAY_OPS_TOKEN: 'abcdefghijklmnopq', OUTBOX_RELAY_BATCH_SIZE: '100' }, { mongoUrl: 'mongodb://m:MongoPw99@h/' });
    expect(values).toEqual(expect.arrayContaining(['p%40ss-word', 'p@ss-word', 'QueryPass1', 'abcdefghijklmnopq', 'MongoPw99', 'mongodb://m:MongoPw99@h/']));
    expect(values).not.toContain('100');
  });
});

describe('counts and durations', () => {
  const NUMERIC: Key[] = ['batchSize', 'concurrency', 'pollIntervalMs', 'leaseMs', 'maxAttempts', 'backoffBaseMs', 'backoffMaxMs', 'sinkRetries', 'heartbeatMs', 'shutdownTimeoutMs', 'retentionHours', 'pruneIntervalMs', 'reconcileEveryMs', 'opsPort', 'poolSize'];
  const cases = NUMERIC.flatMap((key) => ['0x10', '1e3', '', ' ', '\t\n', '1_000', 'Infinity'].map((value) => ({ key, value })));

  it.each(cases)('$key = $value is refused, from the environment and from a flag', ({ key, value }) => {
    const s = SETTINGS[key];
    expect(configError({ ...env, [s.env]: value }).variable).toBe(s.env);
    expect(configError(env, { [key]: value }).variable).toBe(`${s.flag} (${s.env})`);
  });

  it('a blank value is named as blank, with the default it would otherwise have taken', () => {
    expect(configError({ ...env, OUTBOX_RELAY_BACKOFF_BASE_MS: '   ' }).message).toBe('OUTBOX_RELAY_BACKOFF_BASE_MS: is set but blank; give a value or unset it to take the default (1000)');
  });

  it('plain decimal digits are taken, surrounding whitespace trimmed; hours may be fractional; library callers may pass numbers', () => {
    expect(resolveConfig({ ...env, OUTBOX_RELAY_BATCH_SIZE: ' 16 ', OUTBOX_RELAY_RETENTION_HOURS: '1.5' })).toMatchObject({ batchSize: 16, retentionHours: 1.5 });
    expect(resolveConfig(env, { batchSize: 7, leaseMs: 12_000 })).toMatchObject({ batchSize: 7, leaseMs: 12_000 });
  });
});

describe('lease and heartbeat', () => {
  it('a lease shorter than two heartbeats is refused with a message that says why and what to change', () => {
    const error = configError({ ...env, OUTBOX_RELAY_LEASE_MS: '9999', OUTBOX_RELAY_HEARTBEAT_MS: '5000' });
    expect(error.variable).toBe('OUTBOX_RELAY_LEASE_MS');
    expect(error.message).toBe(
      'OUTBOX_RELAY_LEASE_MS: must be at least twice OUTBOX_RELAY_HEARTBEAT_MS (lease 9999 ms < 2 × heartbeat 5000 ms): a relay still alive by its heartbeat would lose its claims; raise the lease or shorten the heartbeat',
    );
    expect(configError(env, { leaseMs: 1000 }).variable).toBe('OUTBOX_RELAY_LEASE_MS'); // against the default heartbeat (5 s)
  });

  it('exactly two heartbeats is enough', () => {
    expect(resolveConfig({ ...env, OUTBOX_RELAY_LEASE_MS: '10000', OUTBOX_RELAY_HEARTBEAT_MS: '5000' }).leaseMs).toBe(10_000);
  });
});
