/**
 * A hot tenant with nothing to do, measured in pg_stat_activity: its polls
 * are one claim on one connection (the drainer's other workers join only when
 * a claim comes back full), so it holds about one pool connection plus its
 * LISTEN, not its whole pool; a backlog a poll finds still brings every
 * worker in.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMultiTenantRelay, type MultiTenantRelay } from '../../../src/runtime/multiTenantRelay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { tenantConnections } from '../../helpers/tenantConnections.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

const control = useTestDatabases();
let tenant: TestDatabases & { drop: () => Promise<void> };
let relay: MultiTenantRelay;

beforeAll(async () => {
  tenant = await createTestDatabases();
  await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_url, mongo_db) VALUES ('idle-hot', $1, $2, $3)`, [tenant.databaseUrl, tenant.mongoUrl, tenant.mongoDbName]);
  // Always hot, the default pool (3) and concurrency (2); polled every second as by default.
  relay = createMultiTenantRelay(testRelayConfig(control(), { tenantHotHeartbeats: 0, pollIntervalMs: 1000, heartbeatMs: 1000, leaseMs: 5000, batchSize: 100 }));
  await relay.start();
});
afterAll(async () => {
  await relay?.stop();
  await tenant?.drop();
});

const relayConnections = () => tenantConnections(control().pool, { id: 'idle-hot', databaseUrl: tenant.databaseUrl });

/** Drain what is pending; the most batches under lease at once meanwhile. */
async function mostBatchesInFlightWhileDraining(): Promise<number> {
  let most = 0;
  await waitFor(
    async () => {
      const { rows } = await tenant.pool.query<{ n: number }>(`SELECT count(DISTINCT claimed_until)::int AS n FROM outbox WHERE status = 'pending' AND claimed_until > now()`);
      most = Math.max(most, rows[0]?.n ?? 0);
      return (await outboxCounts(tenant.pool)).pending === 0;
    },
    { timeoutMs: 30_000, intervalMs: 5, message: 'the backlog drained' },
  );
  return most;
}

describe('a hot idle tenant', () => {
  it('holds about one pool connection and its LISTEN, not its whole pool', async () => {
    expect(relay.tenants().map((t) => t.temperature)).toEqual(['hot']);
    await sleep(1500); // a poll or two
    const samples: { pool: number; listen: number }[] = [];
    for (let i = 0; i < 40; i++) {
      samples.push(await relayConnections());
      await sleep(100);
    }
    const mean = samples.reduce((sum, s) => sum + s.pool, 0) / samples.length;
    console.log(`hot idle tenant (pool 3, concurrency 2, poll 1 s): pool connections mean ${mean.toFixed(2)}, max ${Math.max(...samples.map((s) => s.pool))}; LISTEN ${Math.max(...samples.map((s) => s.listen))}`);
    expect(Math.max(...samples.map((s) => s.listen))).toBe(1);
    // Both workers polling kept two open (measured 2.0 before); one claim per poll keeps one.
    expect(mean).toBeLessThan(1.5);
  });

  it('a backlog found by a poll still brings every worker in: two batches in flight at once', async () => {
    // Writers told "nobody waits": no NOTIFY, so the poll is what finds the backlog.
    await tenant.pool.query('UPDATE outbox_wakeup SET relay_waiting = false');
    await insertEvents(tenant.pool, Array.from({ length: 1000 }, (_, i) => ({ aggregateId: `backlog-${i}`, version: 1, metadata: { i } })));
    const most = await mostBatchesInFlightWhileDraining();
    console.log(`backlog of 1000: at most ${most} batches under lease at once`);
    expect(most).toBe(2);
  });

  it('so does a backlog whose claims come back with more rows than batchSize (the entities\' other versions ride along)', async () => {
    await tenant.pool.query('UPDATE outbox_wakeup SET relay_waiting = false');
    // Every entity's version 2 far from its version 1 in id order: a claim of 100 entities returns 200 rows.
    // One statement, so no poll sees the first versions alone.
    const versions = (version: number) => Array.from({ length: 1000 }, (_, i) => ({ aggregateId: `versions-${i}`, version, metadata: { i } }));
    await insertEvents(tenant.pool, [...versions(1), ...versions(2)]);
    const most = await mostBatchesInFlightWhileDraining();
    console.log(`backlog of 1000 entities × 2 versions: at most ${most} batches under lease at once`);
    expect(most).toBe(2);
  });
});
