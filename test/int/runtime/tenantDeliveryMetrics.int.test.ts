/**
 * Delivery metrics of a multi-tenant relay carry a `tenant` label, read from
 * /metrics of a relay serving two real tenant databases; beyond
 * OUTBOX_RELAY_TENANT_METRICS_CAP a tenant is counted under tenant="_other".
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMultiTenantRelay, type MultiTenantRelay } from '../../../src/runtime/multiTenantRelay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { createTestDatabases, useTestDatabases, type TestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

type Tenant = TestDatabases & { drop: () => Promise<void> };
const control = useTestDatabases();
let a: Tenant;
let b: Tenant;
let relay: MultiTenantRelay | undefined;
let posted = 0;

beforeAll(async () => {
  [a, b] = await Promise.all([createTestDatabases(), createTestDatabases()]);
  for (const [id, t] of [['a', a], ['b', b]] as const) {
    await control().pool.query(`INSERT INTO outbox_tenant (id, database_url, mongo_url, mongo_db) VALUES ($1, $2, $3, $4)`, [id, t.databaseUrl, t.mongoUrl, t.mongoDbName]);
  }
});
afterEach(async () => {
  await relay?.stop();
  relay = undefined;
});
afterAll(async () => {
  await Promise.all([a?.drop(), b?.drop()]);
});

async function post(t: Tenant, n: number): Promise<void> {
  await insertEvents(t.pool, Array.from({ length: n }, () => ({ aggregateId: `m-${posted++}`, version: 1, metadata: {} })));
}

/** Start a relay with an ops port, deliver 3 events of a and 5 of b, and return its /metrics. */
async function deliverAndScrape(tenantMetricsCap: number): Promise<string> {
  relay = createMultiTenantRelay(testRelayConfig(control(), { opsPort: 0, tenantMetricsCap }));
  await relay.start();
  await post(a, 3);
  await post(b, 5);
  await waitFor(async () => (await outboxCounts(a.pool)).pending === 0 && (await outboxCounts(b.pool)).pending === 0, { timeoutMs: 30_000, message: 'both tenants delivered' });
  const response = await fetch(`${relay.opsUrl}/metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('multi-tenant delivery metrics', () => {
  it('count deliveries and time in outbox per tenant, matching what each tenant delivered', async () => {
    const text = await deliverAndScrape(50);
    expect(value(text, 'outbox_relay_events_delivered_total{tenant="a"}')).toBe(3);
    expect(value(text, 'outbox_relay_events_delivered_total{tenant="b"}')).toBe(5);
    expect(value(text, 'outbox_relay_commit_to_applied_seconds_count{aggregate_type="transaction",tenant="a"}')).toBe(3);
    expect(value(text, 'outbox_relay_commit_to_applied_seconds_count{aggregate_type="transaction",tenant="b"}')).toBe(5);
    expect(value(text, 'outbox_relay_events_failed_total{kind="permanent",tenant="a"}')).toBe(0);
    expect(value(text, 'outbox_relay_events_dead_total{tenant="b"}')).toBe(0);
    // Every delivery series names a tenant.
    expect(text).not.toMatch(/^outbox_relay_events_delivered_total \d/m);
    expect(text).not.toMatch(/^outbox_relay_\w+\{[^}]*tenant="_other"/m);
  });

  it('count a tenant beyond the cap under tenant="_other" (cap 1: a by its id, b as _other)', async () => {
    const text = await deliverAndScrape(1);
    expect(value(text, 'outbox_relay_events_delivered_total{tenant="a"}')).toBe(3);
    expect(value(text, 'outbox_relay_events_delivered_total{tenant="_other"}')).toBe(5);
    expect(value(text, 'outbox_relay_commit_to_applied_seconds_count{aggregate_type="transaction",tenant="_other"}')).toBe(5);
    expect(text).not.toMatch(/^outbox_relay_\w+\{[^}]*tenant="b"/m);
    // The gauges use the same labels.
    expect(text).toMatch(/^outbox_relay_tenant_unhealthy\{tenant="_other"\} 0$/m);
  });
});
