/**
 * `run --multi-tenant` as a process, tenants registered through the CLI, each
 * tenant a PostgreSQL database and a MongoDB database of its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertEvents, outboxCounts } from '../helpers/outboxFixtures.ts';
import { spawnCli, startRelayProcess, type RelayProcess } from '../helpers/relayProcess.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../helpers/testDatabases.ts';
import { sleep, waitFor } from '../helpers/waitFor.ts';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const control = useTestDatabases();
const tenants: Tenant[] = [];
const ids = ['t1', 't2', 't3', 't4'];
let relay: RelayProcess | undefined;

const env = () => ({
  DATABASE_URL: control().databaseUrl,
  MONGO_URL: control().mongoUrl,
  OUTBOX_RELAY_POLL_INTERVAL_MS: '200',
  OUTBOX_RELAY_HEARTBEAT_MS: '500',
  OUTBOX_RELAY_LEASE_MS: '3000',
  OUTBOX_RELAY_BACKOFF_BASE_MS: '50',
  OUTBOX_RELAY_BACKOFF_MAX_MS: '500',
  OUTBOX_RELAY_LOG_LEVEL: 'info',
  // t2's URL lives only in the relay's environment.
  T2_DATABASE_URL: tenants[1]?.databaseUrl ?? '',
});

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawnCli(args, env());
  const { code } = await proc.exited;
  return { code, out: proc.output() };
}

async function register(index: number): Promise<void> {
  const t = tenants[index] as Tenant;
  const url = index === 1 ? ['--database-url-env', 'T2_DATABASE_URL'] : ['--database-url', t.databaseUrl];
  const added = await cli(['tenant', 'add', ids[index] as string, ...url, '--mongo-db', t.mongoDbName]);
  expect(added.code, added.out).toBe(0);
}

const docsIn = (t: Tenant) => t.mongoDb.collection<{ _id: string }>('transaction_metadata').find({}, { projection: { _id: 1 } }).toArray();
const post = (index: number, tag: string) => insertEvents((tenants[index] as Tenant).pool, [{ aggregateId: `${ids[index]}-${tag}`, version: 1, metadata: { tenant: ids[index] } }]);
const delivered = async (index: number, tag: string) => (await docsIn(tenants[index] as Tenant)).some((d) => d._id === `${ids[index]}-${tag}`);
/** Connections a relay holds to a tenant's database (the test's own pool is named outbox-relay-test). */
const relayConnections = async (index: number) =>
  Number(
    (
      await control().pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name <> 'outbox-relay-test' AND pid <> pg_backend_pid()`, [
        new URL((tenants[index] as Tenant).databaseUrl).pathname.slice(1),
      ])
    ).rows[0].n,
  );

beforeAll(async () => {
  tenants.push(...(await Promise.all(ids.map(() => createTestDatabases()))));
});
afterAll(async () => {
  relay?.child.kill('SIGKILL');
  await relay?.exited;
  await Promise.all(tenants.map((t) => t.drop()));
});

describe('run --multi-tenant', () => {
  it('delivers each of 3 CLI-registered tenants into its own MongoDB database and never into another', async () => {
    for (const i of [0, 1, 2]) await register(i);
    relay = await startRelayProcess({ ...env() }, 60_000, ['--multi-tenant']);
    expect(relay.output()).toContain('configuration resolved (multi-tenant)');
    for (const i of [0, 1, 2]) await post(i, 'a');
    for (const i of [0, 1, 2]) await waitFor(() => delivered(i, 'a'), { timeoutMs: 30_000, message: `tenant ${ids[i]} delivered` });
    for (const i of [0, 1, 2]) {
      expect((await docsIn(tenants[i] as Tenant)).map((d) => d._id)).toEqual([`${ids[i]}-a`]);
      expect((await outboxCounts((tenants[i] as Tenant).pool)).pending).toBe(0);
    }
    // The control database's own MongoDB database got nothing.
    expect(await control().mongoDb.collection('transaction_metadata').countDocuments()).toBe(0);
  });

  it('picks up a 4th tenant without a restart; pause keeps its events pending while others flow; resume delivers; remove closes its connections', async () => {
    await register(3);
    await post(3, 'new');
    await waitFor(() => delivered(3, 'new'), { timeoutMs: 30_000, message: 'the added tenant delivered' });

    expect((await cli(['tenant', 'pause', 't2'])).code).toBe(0);
    await sleep(1500); // three heartbeats: the relay has seen the pause
    await post(1, 'paused');
    await post(0, 'during-pause');
    await waitFor(() => delivered(0, 'during-pause'), { timeoutMs: 30_000, message: 'the other tenant kept flowing' });
    await sleep(1000);
    expect(await delivered(1, 'paused')).toBe(false);
    expect((await outboxCounts((tenants[1] as Tenant).pool)).pending).toBe(1);

    expect((await cli(['tenant', 'resume', 't2'])).code).toBe(0);
    await waitFor(() => delivered(1, 'paused'), { timeoutMs: 30_000, message: 'the resumed tenant delivered' });

    // t3 has been idle, so it is cold and may hold no connection: an event turns it hot (LISTEN connection open).
    await post(2, 'before-remove');
    await waitFor(() => delivered(2, 'before-remove'), { timeoutMs: 30_000 });
    await waitFor(async () => (await relayConnections(2)) > 0, { timeoutMs: 10_000, message: 'the hot tenant holds connections' });
    expect((await cli(['tenant', 'remove', 't3'])).code).toBe(0);
    await waitFor(async () => (await relayConnections(2)) === 0, { timeoutMs: 30_000, message: "the removed tenant's connections closed" });
    await post(2, 'after-remove');
    await post(0, 'after-remove');
    await waitFor(() => delivered(0, 'after-remove'), { timeoutMs: 30_000 });
    expect(await delivered(2, 'after-remove')).toBe(false);
  });

  it('a tenant whose PostgreSQL is unreachable is reported unhealthy with its reason while the others are delivered', async () => {
    // `tenant add` refuses an unreachable database, so the registry row is written as an operator's typo would be after a move.
    const bad = new URL((tenants[2] as Tenant).databaseUrl);
    bad.port = '1';
    await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_db) VALUES ('broken', $1, 'broken')`, [bad.toString()]);
    await post(0, 'with-broken');
    await post(3, 'with-broken');
    await waitFor(async () => (await delivered(0, 'with-broken')) && (await delivered(3, 'with-broken')), { timeoutMs: 30_000 });
    const status = await waitFor(
      async () => {
        const result = await cli(['status', '--tenant', 'broken', '--json']);
        const parsed = JSON.parse(result.out.trim().split('\n').at(-1) as string) as { tenant: { health: string | null; healthReason: string | null }; error: string | null };
        return parsed.tenant.health === 'unhealthy' ? { ...parsed, code: result.code } : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, message: 'status shows the broken tenant unhealthy' },
    );
    expect(status.code).toBe(1);
    expect(status.tenant.healthReason).toMatch(/PostgreSQL unreachable/);
    expect(status.error).toBeTruthy();
    const healthy = JSON.parse((await cli(['status', '--tenant', 't1', '--json'])).out.trim().split('\n').at(-1) as string) as { tenant: { health: string }; lag: { pendingCount: number } };
    expect(healthy.tenant.health).toBe('healthy');
    expect(healthy.lag.pendingCount).toBe(0);
    // Nothing of the broken tenant went anywhere: no MongoDB database named after it got documents.
    expect(await control().mongo.db('broken').collection('transaction_metadata').countDocuments()).toBe(0);
  });
});
