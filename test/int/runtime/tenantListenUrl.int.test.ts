/**
 * A tenant behind a transaction-pooling PgBouncer (this run's real one) with
 * a direct listen URL in the registry is woken by NOTIFY; the same tenant
 * registered without one is not (its LISTEN went through the pooler). Poll
 * interval 30 s and heartbeat 10 s (the listener's probe, whose failure
 * rebuilds the listener and drains), so within the few seconds measured here
 * only a notification can explain a delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMultiTenantRelay, type MultiTenantRelay } from '../../../src/runtime/multiTenantRelay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { viaPgBouncer } from '../../helpers/pgbouncer.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const POLL_INTERVAL_MS = 30_000;
const HEARTBEAT_MS = 10_000;
const control = useTestDatabases();
let direct: Tenant;
let pooledOnly: Tenant;
let relay: MultiTenantRelay;

beforeAll(async () => {
  [direct, pooledOnly] = await Promise.all([createTestDatabases(), createTestDatabases()]);
  await control().pool.query(
    `INSERT INTO outbox_tenant (id, database_url, listen_database_url, mongo_url, mongo_db) VALUES ('direct-listen', $1, $2, $3, $4), ('pooled-only', $5, NULL, $3, $6)`,
    [viaPgBouncer(direct.databaseUrl), direct.databaseUrl, direct.mongoUrl, direct.mongoDbName, viaPgBouncer(pooledOnly.databaseUrl), pooledOnly.mongoDbName],
  );
  // Always hot (LISTEN on from the start): no cold check polls them either.
  relay = createMultiTenantRelay(testRelayConfig(control(), { pollIntervalMs: POLL_INTERVAL_MS, heartbeatMs: HEARTBEAT_MS, leaseMs: 3 * HEARTBEAT_MS, tenantHotHeartbeats: 0 }));
  await relay.start();
});
afterAll(async () => {
  await relay?.stop();
  await Promise.all([direct?.drop(), pooledOnly?.drop()]);
});

/** The relay ran out of work and asked writers to notify (outbox_wakeup): an event now NOTIFYs. */
const waiting = async (t: Tenant) => (await t.pool.query<{ w: boolean }>('SELECT relay_waiting AS w FROM outbox_wakeup')).rows[0]?.w === true;

async function commitToAppliedMs(t: Tenant): Promise<number> {
  const { rows } = await t.pool.query<{ ms: number }>(`SELECT extract(epoch FROM delivered_at - created_at) * 1000 AS ms FROM outbox_delivered`);
  return Number(rows[0]?.ms);
}

describe('a per-tenant listen URL', () => {
  it('wakes a tenant whose database URL goes through PgBouncer by NOTIFY over its direct listen URL', async () => {
    expect(relay.tenants().map((v) => [v.id, v.status, v.temperature])).toEqual([
      ['direct-listen', 'serving', 'hot'],
      ['pooled-only', 'serving', 'hot'],
    ]);
    await waitFor(() => Promise.all([waiting(direct), waiting(pooledOnly)]).then((w) => w.every(Boolean)), { timeoutMs: 10_000, message: 'both relays idle, waiting for notifications' });
    // The direct-listen tenant's LISTEN is a backend of its own, not a PgBouncer server connection.
    const { rows } = await control().pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'outbox-relay-listen:%'`,
      [new URL(direct.databaseUrl).pathname.slice(1)],
    );
    expect(rows[0]?.n).toBe(1);

    await Promise.all([
      insertEvents(direct.pool, [{ aggregateId: 'woken', version: 1, metadata: {} }]),
      insertEvents(pooledOnly.pool, [{ aggregateId: 'not-woken', version: 1, metadata: {} }]),
    ]);
    await waitFor(async () => (await outboxCounts(direct.pool)).delivered === 1, { timeoutMs: 5000, message: 'the direct-listen tenant delivered' });
    const ms = await commitToAppliedMs(direct);
    console.log(`tenant behind PgBouncer, listen URL direct: commit→applied ${Math.round(ms)} ms (poll interval ${POLL_INTERVAL_MS} ms, heartbeat ${HEARTBEAT_MS} ms)`);
    expect(ms).toBeLessThan(2000);

    // The same tenant without a listen URL: its LISTEN went through the pooler and hears nothing; only the poll (or the probe's rebuild) will find the event.
    await sleep(3000);
    expect((await outboxCounts(pooledOnly.pool)).pending).toBe(1);
  });
});
