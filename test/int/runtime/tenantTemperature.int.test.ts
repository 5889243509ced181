/**
 * Hot and cold tenants, measured in pg_stat_activity: an idle (cold) tenant
 * holds no LISTEN connection and at most one pool connection, open only
 * around its once-per-heartbeat check; its next event is still delivered
 * (within about a heartbeat) and turns it hot; without work it cools again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMultiTenantRelay, type MultiTenantRelay } from '../../../src/runtime/multiTenantRelay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { tenantConnections } from '../../helpers/tenantConnections.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const HEARTBEAT_MS = 1000;
const HOT_HEARTBEATS = 3;
const control = useTestDatabases();
let tenant: Tenant;
let relay: MultiTenantRelay;

beforeAll(async () => {
  tenant = await createTestDatabases();
  await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_url, mongo_db) VALUES ('quiet', $1, $2, $3)`, [tenant.databaseUrl, tenant.mongoUrl, tenant.mongoDbName]);
  relay = createMultiTenantRelay(testRelayConfig(control(), { heartbeatMs: HEARTBEAT_MS, pollIntervalMs: 100, tenantHotHeartbeats: HOT_HEARTBEATS }));
  await relay.start();
});
afterAll(async () => {
  await relay?.stop();
  await tenant?.drop();
});

const relayConnections = () => tenantConnections(control().pool, { id: 'quiet', databaseUrl: tenant.databaseUrl });

const temperature = () => relay.tenants().find((t) => t.id === 'quiet')?.temperature;

describe('hot and cold tenants', () => {
  it('an idle tenant is cold: no LISTEN connection, at most one pool connection, open only around its heartbeat check', async () => {
    await sleep(2 * HEARTBEAT_MS);
    expect(temperature()).toBe('cold');
    const text = await relay.metrics.registry.metrics();
    expect(text).toMatch(/^outbox_relay_tenants\{temperature="cold"\} 1$/m);
    expect(text).toMatch(/^outbox_relay_tenants\{temperature="hot"\} 0$/m);
    const samples: { pool: number; listen: number }[] = [];
    for (let i = 0; i < 60; i++) {
      samples.push(await relayConnections());
      await sleep(50);
    }
    const mean = samples.reduce((sum, s) => sum + s.pool, 0) / samples.length;
    console.log(`cold tenant: ${samples.length} samples over ~${samples.length * 55} ms, pool connections mean ${mean.toFixed(2)}, max ${Math.max(...samples.map((s) => s.pool))}; LISTEN max ${Math.max(...samples.map((s) => s.listen))}`);
    expect(Math.max(...samples.map((s) => s.listen))).toBe(0);
    expect(Math.max(...samples.map((s) => s.pool))).toBeLessThanOrEqual(1);
    // ~200 ms open per 1 s heartbeat; generous for a loaded machine.
    expect(mean).toBeLessThan(0.6);
  });

  it("a cold tenant's event is delivered within about a heartbeat and turns it hot (LISTEN on); without work it cools again", async () => {
    expect(temperature()).toBe('cold');
    await insertEvents(tenant.pool, [{ aggregateId: 'wakes-it', version: 1, metadata: {} }]);
    await waitFor(async () => (await outboxCounts(tenant.pool)).pending === 0, { timeoutMs: 10_000, message: 'the cold tenant delivered' });
    const { rows } = await tenant.pool.query<{ ms: number }>(`SELECT extract(epoch FROM delivered_at - created_at) * 1000 AS ms FROM outbox_delivered`);
    const coldLatencyMs = Number(rows[0]?.ms);
    console.log(`cold tenant: first event commit→applied ${Math.round(coldLatencyMs)} ms (heartbeat ${HEARTBEAT_MS} ms)`);
    expect(coldLatencyMs).toBeLessThan(HEARTBEAT_MS + 2000);
    expect(temperature()).toBe('hot');
    await waitFor(async () => (await relayConnections()).listen === 1, { timeoutMs: 10_000, message: 'the hot tenant listens' });

    await waitFor(async () => temperature() === 'cold', { timeoutMs: (HOT_HEARTBEATS + 3) * HEARTBEAT_MS, intervalMs: 100, message: 'the tenant cooled down' });
    await waitFor(async () => (await relayConnections()).listen === 0, { timeoutMs: 5000, message: 'the cold tenant stopped listening' });
  });
});
