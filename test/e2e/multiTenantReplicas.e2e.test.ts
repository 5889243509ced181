/**
 * Two `run --multi-tenant` replicas share six tenants through leases in the
 * control database; kill -9 of one hands its tenants to the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertEvents, outboxCounts } from '../helpers/outboxFixtures.ts';
import { startRelayProcess, type RelayProcess } from '../helpers/relayProcess.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../helpers/testDatabases.ts';
import { waitFor } from '../helpers/waitFor.ts';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const control = useTestDatabases();
const tenants: Tenant[] = [];
const ids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'];
const LEASE_MS = 3000;
const replicas: RelayProcess[] = [];

const env = (relayId: string) => ({
  DATABASE_URL: control().databaseUrl,
  MONGO_URL: control().mongoUrl,
  OUTBOX_RELAY_ID: relayId,
  OUTBOX_RELAY_POLL_INTERVAL_MS: '200',
  OUTBOX_RELAY_HEARTBEAT_MS: '500',
  OUTBOX_RELAY_LEASE_MS: String(LEASE_MS),
  OUTBOX_RELAY_BACKOFF_BASE_MS: '50',
  OUTBOX_RELAY_BACKOFF_MAX_MS: '500',
  OUTBOX_RELAY_LOG_LEVEL: 'info',
});

const owners = async () =>
  (await control().pool.query<{ id: string; owner: string | null }>(`SELECT id, CASE WHEN lease_expires_at > now() THEN owner END AS owner FROM outbox_tenant ORDER BY id`)).rows;

beforeAll(async () => {
  tenants.push(...(await Promise.all(ids.map(() => createTestDatabases()))));
  for (const [i, t] of tenants.entries()) {
    await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_db) VALUES ($1, $2, $3)`, [ids[i], t.databaseUrl, t.mongoDbName]);
  }
});
afterAll(async () => {
  for (const r of replicas) r.child.kill('SIGKILL');
  await Promise.all(replicas.map((r) => r.exited));
  await Promise.all(tenants.map((t) => t.drop()));
});

let posted = 0;
async function postRound(tag: string, perTenant: number): Promise<void> {
  await Promise.all(
    tenants.map((t, i) => insertEvents(t.pool, Array.from({ length: perTenant }, (_, n) => ({ aggregateId: `${ids[i]}-${tag}-${n}`, version: 1, metadata: { tag } })))),
  );
  posted += perTenant;
}

describe('multi-tenant replicas', () => {
  it('2 replicas × 6 tenants: each tenant served by one replica at a time; kill -9 of one → the other takes its tenants within one lease; 0 lost, 0 duplicated', async () => {
    replicas.push(await startRelayProcess(env('replica-a'), 60_000, ['--multi-tenant']));
    replicas.push(await startRelayProcess(env('replica-b'), 60_000, ['--multi-tenant']));
    // Balanced: every tenant leased, three each.
    await waitFor(
      async () => {
        const rows = await owners();
        const a = rows.filter((r) => r.owner === 'replica-a').length;
        const b = rows.filter((r) => r.owner === 'replica-b').length;
        return a === 3 && b === 3;
      },
      { timeoutMs: 30_000, intervalMs: 200, message: 'tenants spread 3/3' },
    );
    const before = await owners();
    await postRound('before', 50);
    await waitFor(async () => (await Promise.all(tenants.map((t) => outboxCounts(t.pool)))).every((c) => c.pending === 0), { timeoutMs: 60_000 });
    // One replica at a time: every tenant's deliveries came from the replica holding its lease.
    for (const [i, t] of tenants.entries()) {
      const { rows } = await t.pool.query<{ by: string }>(`SELECT DISTINCT delivered_by AS by FROM outbox_delivered`);
      expect(rows.map((r) => r.by)).toEqual([before[i]?.owner]);
    }

    // Kill -9 replica a while events keep arriving.
    const victim = replicas[0] as RelayProcess;
    await postRound('during', 100);
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    await postRound('after', 50);
    await waitFor(async () => (await owners()).every((r) => r.owner === 'replica-b'), { timeoutMs: 30_000, intervalMs: 100, message: 'replica-b holds every tenant' });
    const takeoverMs = Date.now() - killedAt;
    console.log(`takeover after kill -9: every tenant held by the survivor ${takeoverMs} ms after the kill (lease ${LEASE_MS} ms, heartbeat 500 ms)`);
    // Within one lease, plus the survivor's next heartbeat and the loaded machine's slack.
    expect(takeoverMs).toBeLessThan(LEASE_MS + 3000);

    await waitFor(async () => (await Promise.all(tenants.map((t) => outboxCounts(t.pool)))).every((c) => c.pending === 0), { timeoutMs: 90_000, message: 'everything delivered' });
    for (const t of tenants) {
      const counts = await outboxCounts(t.pool);
      expect(counts).toMatchObject({ pending: 0, dead: 0, delivered: posted });
      // Each event once in MongoDB (one document per entity, version 1, written by its own event).
      const docs = await t.mongoDb.collection('transaction_metadata').countDocuments();
      expect(docs).toBe(posted);
      const { rows } = await t.pool.query<{ n: number }>(`SELECT count(DISTINCT event_id)::int AS n FROM outbox_delivered`);
      expect(rows[0]?.n).toBe(posted);
    }
  }, 240_000);
});
