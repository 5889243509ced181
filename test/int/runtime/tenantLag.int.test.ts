/**
 * Per-tenant pending events in /metrics without waking cold tenants: the
 * tenant's database is reached only through a TCP proxy that counts the
 * connections the relay opens to it. A scrape opens none to a cold tenant
 * (its figure is the sample its once-per-heartbeat check took), and that
 * figure follows new events within about a heartbeat; a hot tenant is read live.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMultiTenantRelay, type MultiTenantRelay } from '../../../src/runtime/multiTenantRelay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { startTcpProxy, type TcpProxy } from '../../helpers/tcpProxy.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

const control = useTestDatabases();
let tenant: TestDatabases & { drop: () => Promise<void> };
let proxy: TcpProxy;
let relay: MultiTenantRelay | undefined;

beforeAll(async () => {
  tenant = await createTestDatabases();
  const direct = new URL(tenant.databaseUrl);
  proxy = await startTcpProxy(direct.hostname, Number(direct.port || 5432));
  const viaProxy = new URL(tenant.databaseUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_url, mongo_db) VALUES ('quiet', $1, $2, $3)`, [viaProxy.toString(), tenant.mongoUrl, tenant.mongoDbName]);
});
afterEach(async () => {
  await relay?.stop();
  relay = undefined;
});
afterAll(async () => {
  await proxy?.close();
  await tenant?.drop();
});

function start(heartbeatMs: number): Promise<void> {
  relay = createMultiTenantRelay(testRelayConfig(control(), { heartbeatMs, leaseMs: 3 * heartbeatMs, pollIntervalMs: 100, pruneIntervalMs: 600_000, tenantHotHeartbeats: 3 }));
  return relay.start();
}

/** Pending events that stay pending (not claimable for an hour): the tenant has nothing to deliver and stays cold. */
async function insertNotYetDue(n: number): Promise<void> {
  // One transaction: committed as due, a relay could claim them before the UPDATE.
  const client = await tenant.pool.connect();
  try {
    await client.query('BEGIN');
    const ids = await insertEvents(client, Array.from({ length: n }, (_, i) => ({ aggregateId: `later-${Date.now()}-${i}`, version: 1, metadata: {} })));
    await client.query(`UPDATE outbox SET available_at = now() + interval '1 hour' WHERE event_id = ANY($1::uuid[])`, [ids]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

async function scrape(): Promise<{ pending?: number; age?: number }> {
  const text = await (relay as MultiTenantRelay).metrics.registry.metrics();
  const value = (name: string) => {
    const match = new RegExp(`^${name}\\{tenant="quiet"\\} (\\S+)$`, 'm').exec(text);
    return match ? Number(match[1]) : undefined;
  };
  const pending = value('outbox_relay_tenant_pending_events');
  const age = value('outbox_relay_tenant_pending_events_age_seconds');
  return { ...(pending === undefined ? {} : { pending }), ...(age === undefined ? {} : { age }) };
}

const temperature = () => relay?.tenants().find((t) => t.id === 'quiet')?.temperature;

describe('per-tenant pending events in /metrics', () => {
  it('a scrape opens no connection to a cold tenant, and reports the pending count sampled at its start', async () => {
    await insertNotYetDue(2);
    // A heartbeat of 20 s: no check of the tenant falls inside this test (the first comes 20–40 s after start).
    await start(20_000);
    expect(temperature()).toBe('cold');
    // The start's connection closes COLD_IDLE_MS after its last use.
    await waitFor(() => proxy.open === 0, { timeoutMs: 5000, message: "the cold tenant's start connection closed" });
    const before = proxy.accepted;
    const scrapes: { pending?: number; age?: number }[] = [];
    for (let i = 0; i < 5; i++) {
      scrapes.push(await scrape());
      await sleep(300); // longer than a cold pool keeps its connection: each scrape would need its own
    }
    console.log(`cold tenant: 5 scrapes opened ${proxy.accepted - before} connections to it; reported ${JSON.stringify(scrapes.at(-1))}`);
    expect(proxy.accepted - before).toBe(0);
    expect(temperature()).toBe('cold');
    for (const s of scrapes) expect(s.pending).toBe(2);
    expect(scrapes.at(-1)?.age).toBeGreaterThan(1);
  });

  it("a cold tenant's figure follows new events within about a heartbeat; a hot tenant is read live", async () => {
    const HEARTBEAT_MS = 1000;
    await start(HEARTBEAT_MS);
    expect(temperature()).toBe('cold');
    expect((await scrape()).pending).toBe(2);
    const insertedAt = Date.now();
    await insertNotYetDue(3);
    const seen = await waitFor(async () => {
      const s = await scrape();
      return s.pending === 5 ? s : undefined;
    }, { timeoutMs: 10_000, intervalMs: 100, message: 'the scrape reported the new events' });
    const afterMs = Date.now() - insertedAt;
    console.log(`cold tenant: 3 new pending events in /metrics after ${afterMs} ms (heartbeat ${HEARTBEAT_MS} ms, first check 1–2 heartbeats after start), figure age ${seen.age} s`);
    // The timers start at a random phase, so the first check is 1–2 heartbeats after start; then one per heartbeat.
    expect(afterMs).toBeLessThan(2 * HEARTBEAT_MS + 1500);
    expect(seen.age).toBeLessThan((HEARTBEAT_MS + 1000) / 1000);
    expect(temperature()).toBe('cold'); // nothing claimable: still cold

    // Work turns it hot; a hot tenant's figure is read at the scrape.
    await insertEvents(tenant.pool, [{ aggregateId: 'due-now', version: 1, metadata: {} }]);
    await waitFor(async () => (await outboxCounts(tenant.pool)).delivered === 1, { timeoutMs: 10_000, message: 'the due event delivered' });
    expect(temperature()).toBe('hot');
    expect(await scrape()).toEqual({ pending: 5, age: 0 });
  });
});
