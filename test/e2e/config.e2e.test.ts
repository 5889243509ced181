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
    await proc.exited;
    expect(proc.output()).not.toContain('s3cret-pw');
  });
});
