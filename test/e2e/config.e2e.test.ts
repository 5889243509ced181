import { describe, expect, it } from 'vitest';
import { spawnCli } from '../helpers/relayProcess.ts';

const base = { DATABASE_URL: 'postgres://127.0.0.1:1/none', MONGO_URL: 'mongodb://127.0.0.1:1/' };

const cases: { name: string; env: Record<string, string | undefined>; args?: string[]; names: RegExp }[] = [
  { name: 'DATABASE_URL missing', env: { ...base, DATABASE_URL: undefined }, names: /DATABASE_URL/ },
  { name: 'DATABASE_URL not a postgres URL', env: { ...base, DATABASE_URL: 'mysql://x' }, names: /DATABASE_URL/ },
  { name: 'MONGO_URL missing', env: { ...base, MONGO_URL: undefined }, names: /MONGO_URL/ },
  { name: 'MONGO_URL not a mongodb URL', env: { ...base, MONGO_URL: 'http://x' }, names: /MONGO_URL/ },
  { name: 'MONGO_DB with a slash', env: { ...base, MONGO_DB: 'a/b' }, names: /MONGO_DB/ },
  { name: 'batch size zero', env: { ...base, OUTBOX_RELAY_BATCH_SIZE: '0' }, names: /OUTBOX_RELAY_BATCH_SIZE/ },
  { name: 'batch size not a number', env: { ...base, OUTBOX_RELAY_BATCH_SIZE: 'lots' }, names: /OUTBOX_RELAY_BATCH_SIZE/ },
  { name: 'concurrency too high', env: { ...base, OUTBOX_RELAY_CONCURRENCY: '1000' }, names: /OUTBOX_RELAY_CONCURRENCY/ },
  { name: 'negative poll interval', env: { ...base, OUTBOX_RELAY_POLL_INTERVAL_MS: '-5' }, names: /OUTBOX_RELAY_POLL_INTERVAL_MS/ },
  { name: 'fractional lease', env: { ...base, OUTBOX_RELAY_LEASE_MS: '1500.5' }, names: /OUTBOX_RELAY_LEASE_MS/ },
  { name: 'listen not a boolean', env: { ...base, OUTBOX_RELAY_LISTEN: 'maybe' }, names: /OUTBOX_RELAY_LISTEN/ },
  { name: 'max attempts zero', env: { ...base, OUTBOX_RELAY_MAX_ATTEMPTS: '0' }, names: /OUTBOX_RELAY_MAX_ATTEMPTS/ },
  { name: 'backoff max below base', env: { ...base, OUTBOX_RELAY_BACKOFF_BASE_MS: '5000', OUTBOX_RELAY_BACKOFF_MAX_MS: '10' }, names: /OUTBOX_RELAY_BACKOFF_MAX_MS/ },
  { name: 'ops port out of range', env: { ...base, OUTBOX_RELAY_OPS_PORT: '70000' }, names: /OUTBOX_RELAY_OPS_PORT/ },
  { name: 'ops token too short', env: { ...base, OUTBOX_RELAY_OPS_TOKEN: 'short' }, names: /OUTBOX_RELAY_OPS_TOKEN/ },
  { name: 'log level unknown', env: { ...base, OUTBOX_RELAY_LOG_LEVEL: 'loud' }, names: /OUTBOX_RELAY_LOG_LEVEL/ },
  { name: 'flag overrides env and is named', env: { ...base }, args: ['--batch-size', '-1'], names: /--batch-size \(OUTBOX_RELAY_BATCH_SIZE\)/ },
  { name: 'a hex count', env: { ...base, OUTBOX_RELAY_BATCH_SIZE: '0x10' }, names: /OUTBOX_RELAY_BATCH_SIZE: must be a whole number in decimal digits/ },
  { name: 'an exponent duration', env: { ...base, OUTBOX_RELAY_POLL_INTERVAL_MS: '1e3' }, names: /OUTBOX_RELAY_POLL_INTERVAL_MS: must be a whole number of milliseconds in decimal digits/ },
  { name: 'a blank duration', env: { ...base, OUTBOX_RELAY_BACKOFF_BASE_MS: '' }, names: /OUTBOX_RELAY_BACKOFF_BASE_MS: is set but blank/ },
  { name: 'a whitespace count', env: { ...base, OUTBOX_RELAY_SINK_RETRIES: '  ' }, names: /OUTBOX_RELAY_SINK_RETRIES: is set but blank/ },
  { name: 'a blank flag', env: { ...base }, args: ['--shutdown-timeout-ms', ' '], names: /--shutdown-timeout-ms \(OUTBOX_RELAY_SHUTDOWN_TIMEOUT_MS\): is set but blank/ },
  { name: 'a lease shorter than two heartbeats', env: { ...base, OUTBOX_RELAY_LEASE_MS: '3000', OUTBOX_RELAY_HEARTBEAT_MS: '2000' }, names: /OUTBOX_RELAY_LEASE_MS: must be at least twice OUTBOX_RELAY_HEARTBEAT_MS \(lease 3000 ms < 2 × heartbeat 2000 ms\)/ },
];

describe('bad configuration', () => {
  it.each(cases)('$name → non-zero exit and a message naming the variable', async ({ env, args, names }) => {
    const proc = spawnCli(['run', ...(args ?? [])], env);
    const { code } = await proc.exited;
    expect(code).toBe(2);
    expect(proc.output()).toMatch(names);
    expect(proc.output()).toMatch(/invalid configuration/);
  });

  it('never prints the password of a database URL', async () => {
    const proc = spawnCli(['run'], { ...base, DATABASE_URL: 'postgres://user:s3cret-pw@127.0.0.1:1/db', OUTBOX_RELAY_BATCH_SIZE: 'x' });
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toMatch(/OUTBOX_RELAY_BATCH_SIZE/); // it did print the refusal
    expect(proc.output()).not.toContain('s3cret-pw');
  });
});

/**
 * Every secret setting, refused through the environment and through its flag:
 * the process exits 2 naming the setting, and nothing it prints holds the value
 * or its password.
 */
describe('secret settings are never echoed by the process', () => {
  const PW = 'hunter2-Sekr3t';
  const secretCases: { name: string; env: Record<string, string | undefined>; args?: string[]; names: RegExp }[] = [
    { name: 'OUTBOX_RELAY_OPS_TOKEN too short (the reported leak)', env: { ...base, OUTBOX_RELAY_OPS_TOKEN: PW }, names: /OUTBOX_RELAY_OPS_TOKEN: must be at least 16 characters/ },
    { name: '--ops-token too short', env: base, args: ['--ops-token', PW], names: /--ops-token \(OUTBOX_RELAY_OPS_TOKEN\)/ },
    { name: '--ops-token=… too short', env: base, args: [`--ops-token=${PW}`], names: /--ops-token \(OUTBOX_RELAY_OPS_TOKEN\)/ },
    { name: 'DATABASE_URL of another scheme', env: { ...base, DATABASE_URL: `mysql://user:${PW}@127.0.0.1/x` }, names: /DATABASE_URL: must be a URL/ },
    { name: 'DATABASE_URL unparsable', env: { ...base, DATABASE_URL: `postgres://user:${PW}@[bad` }, names: /DATABASE_URL: must be a URL/ },
    { name: '--database-url with the password in the query', env: base, args: ['--database-url', `ftp://127.0.0.1/db?password=${PW}`], names: /--database-url \(DATABASE_URL\)/ },
    { name: 'OUTBOX_RELAY_LISTEN_DATABASE_URL of another scheme', env: { ...base, OUTBOX_RELAY_LISTEN_DATABASE_URL: `http://user:${PW}@127.0.0.1/` }, names: /OUTBOX_RELAY_LISTEN_DATABASE_URL: must be a URL/ },
    { name: 'MONGO_URL of another scheme', env: { ...base, MONGO_URL: `http://user:${PW}@127.0.0.1/` }, names: /MONGO_URL: must be a URL/ },
    { name: '--mongo-url=… not a URL at all', env: base, args: [`--mongo-url=${PW}`], names: /--mongo-url \(MONGO_URL\): must be a URL/ },
  ];

  it.each(secretCases)('$name → exit 2, the setting named, the value nowhere in the output', async ({ env, args, names }) => {
    const proc = spawnCli(['run', ...(args ?? [])], env);
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toMatch(names);
    expect(proc.output()).toMatch(/value not shown: it is secret/);
    expect(proc.output()).not.toContain('Sekr3t');
  });

  it('a mistyped flag carrying a URL is refused without quoting its password', async () => {
    const proc = spawnCli(['run', `--databse-url=postgres://user:${PW}@127.0.0.1/db`], base);
    expect((await proc.exited).code).toBe(2);
    expect(proc.output()).toMatch(/unknown option '--databse-url=postgres:\/\/user:\*\*\*@127\.0\.0\.1\/db'/);
    expect(proc.output()).not.toContain('Sekr3t');
  });

  it('--help shows defaults but no secret, even with every secret set in the environment', async () => {
    const proc = spawnCli(['run', '--help'], {
      DATABASE_URL: `postgres://user:${PW}@127.0.0.1:1/db`,
      OUTBOX_RELAY_LISTEN_DATABASE_URL: `postgres://user:${PW}@127.0.0.1:1/db`,
      MONGO_URL: `mongodb://user:${PW}@127.0.0.1:1/`,
      OUTBOX_RELAY_OPS_TOKEN: `${PW}-${PW}`,
    });
    expect((await proc.exited).code).toBe(0);
    const help = proc.output().replace(/\s+/g, ' ');
    expect(help).toContain('[env OUTBOX_RELAY_BATCH_SIZE, default 500]');
    for (const env of ['DATABASE_URL', 'OUTBOX_RELAY_LISTEN_DATABASE_URL', 'MONGO_URL', 'OUTBOX_RELAY_OPS_TOKEN']) expect(help).toContain(`[env ${env}, secret: never printed]`);
    expect(help).not.toContain('Sekr3t');
  });
});
