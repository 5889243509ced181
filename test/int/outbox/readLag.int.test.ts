import { beforeEach, describe, expect, it } from 'vitest';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { markDelivered } from '../../../src/outbox/markDelivered.ts';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { readLag } from '../../../src/outbox/readLag.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { clearTables, insertRows } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

describe('readLag (outbox_lag)', () => {
  it('on an empty outbox: zeros, no oldest age, no relays', async () => {
    expect(await readLag(t().db)).toEqual({
      pendingCount: 0,
      oldestPendingSeconds: null,
      inFlightCount: 0,
      deadCount: 0,
      deliveredLastMinute: 0,
      relaysAlive: 0,
      lastDeliveredAt: null,
      relays: [],
      paused: [],
    });
  });

  it('on a loaded outbox: pending, in flight, dead, delivered in the last minute, oldest pending age', async () => {
    // 5 old pending rows (2 minutes), 3 of them claimed below; 4 recent pending;
    // 2 dead (not pending, older still); 6 delivered now; 3 delivered long ago.
    // Distinct entities per group: a claim also takes an entity's other events.
    await insertRows(t().pool, 2, { status: 'dead', attempts: 10, createdInMs: -600_000, aggregatePrefix: 'dead-' });
    await insertRows(t().pool, 5, { createdInMs: -120_000, aggregatePrefix: 'old-' });
    await insertRows(t().pool, 4, { aggregatePrefix: 'recent-' });
    const { ids: toDeliver } = await insertRows(t().pool, 6, { aggregatePrefix: 'deliver-' });
    const claimed = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 3, leaseMs: 30_000 });
    expect(claimed).toHaveLength(3);
    // An expired lease does not count as in flight.
    await insertRows(t().pool, 1, { claimedBy: 'relay-gone', claimedForMs: -1_000, aggregatePrefix: 'gone-' });
    await t().pool.query(`UPDATE outbox SET claimed_by = 'relay-a', claimed_until = now() + interval '30 seconds' WHERE id = ANY($1::bigint[])`, [toDeliver]);
    expect((await markDelivered(t().db, { relayId: 'relay-a', ids: toDeliver })).delivered).toHaveLength(6);
    await t().pool.query(
      `INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, delivered_at, delivered_by)
       SELECT -n, gen_random_uuid(), 'transaction', 'old', 1, 'metadata.upserted', '{}', now() - interval '5 minutes', 'relay-a'
         FROM generate_series(1, 3) AS n`,
    );

    const lag = await readLag(t().db);
    expect(lag).toMatchObject({ pendingCount: 10, inFlightCount: 3, deadCount: 2, deliveredLastMinute: 6, relaysAlive: 0, relays: [] });
    expect(typeof lag.pendingCount).toBe('number');
    expect(lag.oldestPendingSeconds).toBeGreaterThanOrEqual(119);
    expect(lag.oldestPendingSeconds).toBeLessThan(180);
  });

  it('feeds the relay\'s lag gauges when /metrics is scraped: a row written after the relay started shows at the next scrape', async () => {
    const metrics = createRelayMetrics({ defaultMetrics: false, sampleLag: () => readLag(t().db) });
    expect(await metrics.registry.metrics()).toContain('outbox_relay_pending_events 0');
    await insertRows(t().pool, 3);
    // Scrapes within 100 ms of a read share it; a later one reads again.
    await waitFor(async () => (await metrics.registry.metrics()).includes('outbox_relay_pending_events 3'), { message: 'a scrape showing the new rows' });
  });
});
