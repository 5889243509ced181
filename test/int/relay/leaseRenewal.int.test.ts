import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { Drainer } from '../../../src/relay/drainer.ts';
import type { MetadataSink } from '../../../src/sink/metadataSink.ts';
import { createMongoSink } from '../../../src/sink/mongoSink.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
// Renewed every third of a lease: a renewal has a whole second of slack on a loaded machine.
const LEASE_MS = 1500;

/** The real sink, but a batch is written only once `held` resolves: a sink as slow as the test wants. */
function heldSink(inner: MetadataSink, held: Promise<void>): MetadataSink {
  return { ...inner, apply: async (events, options) => (await held, inner.apply(events, options)) };
}

describe('lease renewal', () => {
  it('a batch held for four leases stays with its relay: nobody reclaims it and every row is delivered by it once', async () => {
    await insertEvents(t().pool, Array.from({ length: 40 }, (_, i) => ({ aggregateId: `slow-${i}`, version: 1, metadata: { i } })));
    let release!: () => void;
    const sink = heldSink(createMongoSink(t().mongoDb), new Promise<void>((resolve) => (release = resolve)));
    const abort = new AbortController();
    const drainer = new Drainer(
      { db: t().db, sink, metrics: createRelayMetrics(), logger: silentLogger },
      { relayId: 'slow-relay', batchSize: 100, concurrency: 1, leaseMs: LEASE_MS, pollIntervalMs: 1000, maxAttempts: 10, backoffBaseMs: 100, backoffMaxMs: 1000, expectNotifications: false },
      abort.signal,
    );
    drainer.wake('manual');
    await waitFor(async () => (await outboxCounts(t().pool)).claimed === 40);
    const { rows: [claimed] } = await t().pool.query<{ at: Date }>('SELECT clock_timestamp() AS at');

    // Another relay keeps trying until four leases have passed on Postgres's clock.
    let stolen = 0;
    let attempts = 0;
    await waitFor(
      async () => {
        attempts++;
        stolen += (await claimBatch(t().db, { relayId: 'other-relay', batchSize: 100, leaseMs: 60_000 })).length;
        return (await t().pool.query(`SELECT clock_timestamp() > $1::timestamptz + $2 * interval '1 millisecond' AS past`, [claimed!.at, LEASE_MS * 4])).rows[0].past;
      },
      { intervalMs: LEASE_MS / 4, message: 'four leases passing' },
    );
    expect(attempts).toBeGreaterThan(4);
    expect(stolen).toBe(0);
    release();

    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0);
    abort.abort();
    await drainer.current();
    const { rows } = await t().pool.query<{ delivered_by: string; n: number }>('SELECT delivered_by, count(*)::int AS n FROM outbox_delivered GROUP BY delivered_by');
    expect(rows).toEqual([{ delivered_by: 'slow-relay', n: 40 }]);
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments()).toBe(40);
  });
});
