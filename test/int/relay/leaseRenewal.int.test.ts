import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { Drainer } from '../../../src/relay/drainer.ts';
import type { MetadataSink } from '../../../src/sink/metadataSink.ts';
import { createMongoSink } from '../../../src/sink/mongoSink.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { sleep, waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
const LEASE_MS = 600;

/** The real sink, but every batch takes `delayMs` before it is written: a sink slower than the lease. */
function slowSink(inner: MetadataSink, delayMs: number): MetadataSink {
  return { ...inner, apply: async (events, options) => (await sleep(delayMs), inner.apply(events, options)) };
}

describe('lease renewal', () => {
  it('a batch that takes four leases to write stays with its relay: nobody reclaims it and every row is delivered by it once', async () => {
    await insertEvents(t().pool, Array.from({ length: 40 }, (_, i) => ({ aggregateId: `slow-${i}`, version: 1, metadata: { i } })));
    const sink = slowSink(createMongoSink(t().mongoDb), LEASE_MS * 4);
    const abort = new AbortController();
    const drainer = new Drainer(
      { db: t().db, sink, metrics: createRelayMetrics(), logger: silentLogger },
      { relayId: 'slow-relay', batchSize: 100, concurrency: 1, leaseMs: LEASE_MS, pollIntervalMs: 1000, maxAttempts: 10, backoffBaseMs: 100, backoffMaxMs: 1000, expectNotifications: false },
      abort.signal,
    );
    drainer.wake('manual');
    await waitFor(async () => (await outboxCounts(t().pool)).claimed === 40, { timeoutMs: 5000 });

    // Another relay keeps trying while the first one's original lease has long run out.
    let stolen = 0;
    for (let i = 0; i < 8; i++) {
      await sleep(LEASE_MS / 2);
      stolen += (await claimBatch(t().db, { relayId: 'other-relay', batchSize: 100, leaseMs: 60_000 })).length;
    }
    expect(stolen).toBe(0);

    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 10_000 });
    abort.abort();
    await drainer.current();
    const { rows } = await t().pool.query<{ delivered_by: string; n: number }>('SELECT delivered_by, count(*)::int AS n FROM outbox_delivered GROUP BY delivered_by');
    expect(rows).toEqual([{ delivered_by: 'slow-relay', n: 40 }]);
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments()).toBe(40);
  });
});
