/**
 * Secrets never reach the output: the relay process and the CLI commands run
 * with passwords in DATABASE_URL and MONGO_URL at log level trace, healthy and
 * failing, and no line they print contains either password (nor the ops
 * token). The ops endpoint binds to loopback by default and wants the bearer
 * token when OUTBOX_RELAY_OPS_TOKEN is set.
 *
 * Credentials: a PostgreSQL role with a password is created for this file
 * (and dropped after). Local PostgreSQL trusts loopback, so the password is
 * not checked there — it still travels in the URL, which is what matters here.
 * FerretDB v1 does not do SCRAM; it takes PLAIN credentials and hands them to
 * its PostgreSQL backend (again trust), so the Mongo URL carries a password
 * with authMechanism=PLAIN. On a real MongoDB a user is created instead.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayEnv } from '../../helpers/relayConfig.ts';
import { spawnCli, startRelayProcess, type RelayProcess } from '../../helpers/relayProcess.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { adminUrl } from '../../helpers/urls.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
const suffix = randomBytes(4).toString('hex');
const role = `outbox_relay_sec_${suffix}`;
const pgPassword = `PgPw_${randomBytes(12).toString('hex')}`;
const mongoPassword = `MoPw_${randomBytes(12).toString('hex')}`;
const opsToken = `OpsTok_${randomBytes(12).toString('hex')}`;
const SECRETS = [pgPassword, mongoPassword, opsToken];
let databaseUrl: string;
let mongoUrl: string;
let mongoUser: string | undefined;

async function asAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl(t().databaseUrl) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  const dbName = new URL(t().databaseUrl).pathname.slice(1);
  await asAdmin((c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${pgPassword}'`));
  // What the relay and the CLI need: the tables, sequences and view of this database, nothing else.
  await t().pool.query(`GRANT CONNECT ON DATABASE "${dbName}" TO ${role};
    GRANT USAGE ON SCHEMA public TO ${role};
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role};
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role};`);
  const pgUrl = new URL(t().databaseUrl);
  pgUrl.username = role;
  pgUrl.password = pgPassword;
  databaseUrl = pgUrl.toString();

  const build = (await t().mongoDb.admin().command({ buildInfo: 1 })) as { ferretdbVersion?: string };
  const mUrl = new URL(t().mongoUrl);
  mUrl.password = mongoPassword;
  if (build.ferretdbVersion !== undefined) {
    mUrl.username = new URL(t().databaseUrl).username || 'postgres';
    mUrl.searchParams.set('authMechanism', 'PLAIN');
  } else {
    mongoUser = role;
    await t().mongo.db('admin').command({ createUser: mongoUser, pwd: mongoPassword, roles: ['root'] });
    mUrl.username = mongoUser;
    mUrl.searchParams.set('authSource', 'admin');
  }
  mongoUrl = mUrl.toString();
  // The credentials really work (so the healthy runs below are healthy).
  const probe = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 5000 });
  await probe.connect();
  await probe.db(t().mongoDbName).command({ ping: 1 });
  await probe.close();
});

afterAll(async () => {
  if (mongoUser) await t().mongo.db('admin').command({ dropUser: mongoUser }).catch(() => {});
  await t().pool.query(`REASSIGN OWNED BY ${role} TO CURRENT_USER; DROP OWNED BY ${role}`).catch(() => {});
  await asAdmin(async (c) => {
    await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
    await c.query(`DROP ROLE IF EXISTS ${role}`);
  });
});

function expectNoSecrets(output: string, what: string): void {
  expect(output.length, `${what} printed something`).toBeGreaterThan(0);
  for (const secret of SECRETS) {
    const line = output.split('\n').find((l) => l.includes(secret));
    expect(line, `${what} printed a secret`).toBeUndefined();
  }
}

const env = (extra: Record<string, string> = {}) => ({
  ...testRelayEnv(t()),
  DATABASE_URL: databaseUrl,
  MONGO_URL: mongoUrl,
  OUTBOX_RELAY_LOG_LEVEL: 'trace',
  ...extra,
});

async function runCli(args: string[], extra: Record<string, string> = {}): Promise<{ code: number | null; output: string }> {
  const proc = spawnCli(args, env(extra));
  const exit = await proc.exited;
  return { code: exit.code, output: proc.output() };
}

describe('secrets never appear in output (log level trace)', () => {
  let relay: RelayProcess | undefined;
  afterAll(async () => {
    if (relay && relay.child.exitCode === null) {
      relay.child.kill('SIGTERM');
      await relay.exited;
    }
  });

  it('a relay process that delivers, serves the ops endpoint and stops', async () => {
    await insertEvents(t().pool, Array.from({ length: 20 }, (_, i) => ({ aggregateId: `sec-${i}`, version: 1, metadata: { i } })));
    relay = await startRelayProcess(env({ OUTBOX_RELAY_OPS_PORT: '0', OUTBOX_RELAY_OPS_TOKEN: opsToken }));
    await waitFor(async () => (await outboxCounts(t().pool)).delivered === 20, { timeoutMs: 20_000 });
    const url = /"url":"(http:\/\/[^"]+)"/.exec(relay.output())?.[1];
    expect(url, 'the relay logs its ops URL').toBeDefined();
    // A real scrape (so whatever the ops endpoint logs for it is in the output checked below).
    const scrape = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${opsToken}` } });
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toContain('# TYPE outbox_relay_events_delivered_total counter');
    relay.child.kill('SIGTERM');
    expect((await relay.exited).code).toBe(0);
    expectNoSecrets(relay.output(), 'outbox-relay run');
  });

  it('status, status --json, dead list, dead list --json', async () => {
    const commands = [['status'], ['status', '--json'], ['dead', 'list'], ['dead', 'list', '--json']];
    const results = await Promise.all(commands.map((args) => runCli(args)));
    for (const [i, { code, output }] of results.entries()) {
      const name = (commands[i] as string[]).join(' ');
      expect(code, `${name}: ${output}`).toBe(0);
      expectNoSecrets(output, name);
    }
  });

  it('bad configuration: an invalid setting, a URL of the wrong kind, an unparsable URL', async () => {
    const cases: Record<string, string>[] = [
      { OUTBOX_RELAY_BATCH_SIZE: 'lots' },
      { DATABASE_URL: `mysql://${role}:${pgPassword}@127.0.0.1/x` },
      { MONGO_URL: `http://user:${mongoPassword}@127.0.0.1/` },
      { DATABASE_URL: `postgres://${role}:${pgPassword}@[bad` },
    ];
    const results = await Promise.all(cases.map((extra) => runCli(['run'], extra)));
    for (const [i, { code, output }] of results.entries()) {
      expect(code, output).toBe(2);
      expectNoSecrets(output, `run with ${Object.keys(cases[i] as object).join(',')}`);
    }
  });

  it('unreachable databases: the connection errors do not carry the passwords', async () => {
    const deadPg = new URL(databaseUrl);
    deadPg.port = '1';
    const status = await runCli(['status'], { DATABASE_URL: deadPg.toString() });
    expect(status.code).toBe(1);
    expectNoSecrets(status.output, 'status against a closed port');

    const deadMongo = new URL(mongoUrl);
    deadMongo.port = '1';
    // A pending event, so the relay fails at MongoDB on the write path too, not only at start.
    await insertEvents(t().pool, [{ aggregateId: 'sec-unreachable', version: 1, metadata: { at: 'dead mongo' } }]);
    const proc = await startRelayProcess(env({ MONGO_URL: deadMongo.toString() }));
    await waitFor(() => proc.output().includes('MongoDB not reachable at start') && proc.output().includes('"sink write failed"'), { timeoutMs: 40_000, message: 'the relay failing at MongoDB' });
    proc.child.kill('SIGTERM');
    await proc.exited;
    expectNoSecrets(proc.output(), 'run against an unreachable MongoDB');
  });
});

describe('the ops endpoint', () => {
  async function opsRelay(extra: Record<string, string>): Promise<{ proc: RelayProcess; url: URL }> {
    const proc = await startRelayProcess(env({ OUTBOX_RELAY_OPS_PORT: '0', OUTBOX_RELAY_LOG_LEVEL: 'info', ...extra }));
    const line = proc.output().split('\n').find((l) => l.includes('"ops endpoint listening"'));
    const url = line ? (JSON.parse(line) as { url: string }).url : undefined;
    if (!url) throw new Error(`no ops URL in:\n${proc.output()}`);
    return { proc, url: new URL(url) };
  }
  const stop = async (proc: RelayProcess) => {
    proc.child.kill('SIGTERM');
    await proc.exited;
  };

  it('binds to 127.0.0.1 by default', async () => {
    const { proc, url } = await opsRelay({});
    try {
      expect(url.hostname).toBe('127.0.0.1');
      expect((await fetch(new URL('/healthz', url))).status).toBe(200);
      expect((await fetch(new URL('/metrics', url))).status).toBe(200); // no token configured: open (on loopback)
    } finally {
      await stop(proc);
    }
  });

  it('requires the bearer token for /metrics and /readyz when OUTBOX_RELAY_OPS_TOKEN is set', async () => {
    const { proc, url } = await opsRelay({ OUTBOX_RELAY_OPS_TOKEN: opsToken });
    try {
      for (const path of ['/metrics', '/readyz']) {
        const target = new URL(path, url);
        expect((await fetch(target)).status, `${path} without a token`).toBe(401);
        expect((await fetch(target, { headers: { authorization: 'Bearer wrong' } })).status, `${path} with a wrong token`).toBe(401);
        expect((await fetch(target, { headers: { authorization: `Bearer ${opsToken}x` } })).status, `${path} with a longer token`).toBe(401);
        expect((await fetch(target, { headers: { authorization: opsToken } })).status, `${path} without the Bearer scheme`).toBe(401);
        expect([200, 503], `${path} with the token`).toContain((await fetch(target, { headers: { authorization: `Bearer ${opsToken}` } })).status);
      }
      const metrics = await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${opsToken}` } });
      expect(await metrics.text()).toContain('# TYPE');
      expect((await fetch(new URL('/healthz', url))).status).toBe(200); // liveness stays open
    } finally {
      await stop(proc);
    }
    expectNoSecrets(proc.output(), 'relay with an ops token');
  });
});
