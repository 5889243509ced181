/**
 * The drainer's pipeline (src/relay/drainer.ts, work): while a batch is at the
 * sink, the worker claims the next one and records the one before, and a
 * batch claimed ahead that will not be delivered goes back at once.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import type { SqlDb } from '../../../src/db/sqlDb.ts';
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
beforeEach(async () => {
  await t().pool.query('TRUNCATE outbox, outbox_delivered');
  await t().mongoDb.collection('transaction_metadata').deleteMany({});
});

const SETTINGS = { relayId: 'pipelined', batchSize: 10, concurrency: 1, leaseMs: 60_000, pollIntervalMs: 1000, maxAttempts: 10, backoffBaseMs: 100, backoffMaxMs: 1000, expectNotifications: false };

/** A gate that stays shut until opened. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

/** The real sink, counting writes; each write waits until `held` resolves. */
function heldSink(inner: MetadataSink, held: Promise<void>): MetadataSink & { writes: number } {
  const sink = {
    ...inner,
    writes: 0,
    apply: async (events: Parameters<MetadataSink['apply']>[0], options?: Parameters<MetadataSink['apply']>[1]) => {
      sink.writes++;
      await held;
      return inner.apply(events, options);
    },
  };
  return sink;
}

function drainerOf(db: SqlDb, sink: MetadataSink) {
  const abort = new AbortController();
  const drainer = new Drainer({ db, sink, metrics: createRelayMetrics(), logger: silentLogger }, SETTINGS, abort.signal);
  return { drainer, abort };
}

/**
 * `n` events, a drainer on `sink` woken, and the first batch at the sink with
 * the next claimed ahead (20 rows under lease): where three tests start.
 */
async function twoBatchesHeld(n: number, sink: MetadataSink) {
  await insertEvents(t().pool, events(n));
  const started = drainerOf(t().db, sink);
  started.drainer.wake('manual');
  await waitFor(async () => (await outboxCounts(t().pool)).claimed === 20, { message: 'the batch at the sink and the one claimed ahead' });
  return started;
}

const events = (n: number) => Array.from({ length: n }, (_, i) => ({ aggregateId: `pipe-${i}`, version: 1, metadata: { i } }));

describe('the drainer pipeline', () => {
  it('claims the next batch while one is at the sink, and only one ahead', async () => {
    const held = gate();
    const sink = heldSink(createMongoSink(t().mongoDb), held.wait);
    const { drainer, abort } = await twoBatchesHeld(35, sink);
    // Still two batches after a while: the worker does not claim a third while the sink holds the first.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await outboxCounts(t().pool)).toMatchObject({ claimed: 20, delivered: 0 });
    expect(sink.writes).toBe(1);
    held.open();
    await waitFor(async () => (await outboxCounts(t().pool)).delivered === 35);
    await drainer.current();
    abort.abort();
    expect(await outboxCounts(t().pool)).toMatchObject({ pending: 0, claimed: 0 });
    expect(sink.writes).toBe(4);
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments()).toBe(35);
  });

  it("writes the next batch to the sink while the one before is still being recorded", async () => {
    await insertEvents(t().pool, events(30));
    const marks = gate();
    let markWaiting = 0;
    // The real database, except that marking delivered waits until the test says so.
    const db: SqlDb = {
      ...t().db,
      query: (async (statement: Parameters<SqlDb['query']>[0], values?: readonly unknown[]) => {
        if (typeof statement !== 'string' && statement.name === 'outbox_mark_delivered') {
          markWaiting++;
          await marks.wait;
        }
        return t().db.query(statement, values);
      }) as SqlDb['query'],
    };
    const sink = heldSink(createMongoSink(t().mongoDb), Promise.resolve());
    const { drainer, abort } = drainerOf(db, sink);
    drainer.wake('manual');
    // The first batch's mark is held; the second batch still reached the sink.
    await waitFor(async () => markWaiting === 1 && sink.writes === 2, { message: 'the second write while the first mark waits' });
    expect((await outboxCounts(t().pool)).delivered).toBe(0);
    marks.open();
    await waitFor(async () => (await outboxCounts(t().pool)).delivered === 30);
    await drainer.current();
    abort.abort();
    expect(await outboxCounts(t().pool)).toMatchObject({ pending: 0, claimed: 0 });
  });

  it('gives a batch claimed ahead back at once when the relay stops: the batch in hand finishes, the next is claimable by another relay', async () => {
    const held = gate();
    const { drainer, abort } = await twoBatchesHeld(30, heldSink(createMongoSink(t().mongoDb), held.wait));
    drainer.dispose();
    held.open();
    await drainer.current();
    abort.abort();
    expect(await outboxCounts(t().pool)).toMatchObject({ delivered: 10, pending: 20, claimed: 0 });
    // No lease to wait out (this one was a minute long).
    expect(await claimBatch(t().db, { relayId: 'other', batchSize: 100, leaseMs: 1000 })).toHaveLength(20);
  });

  it('gives both batches back when MongoDB stays unavailable, counting no attempt', async () => {
    const held = gate();
    const down: MetadataSink = { ...createMongoSink(t().mongoDb), apply: async () => (await held.wait, { ok: false as const, error: new Error('MongoDB is down (test)') }) };
    const { drainer, abort } = await twoBatchesHeld(30, down);
    held.open();
    await drainer.current();
    drainer.dispose();
    abort.abort();
    expect(await outboxCounts(t().pool)).toMatchObject({ delivered: 0, pending: 30, claimed: 0 });
    const { rows } = await t().pool.query<{ attempts: number }>('SELECT DISTINCT attempts FROM outbox');
    expect(rows).toEqual([{ attempts: 0 }]);
    expect(drainer.healthy()).toBe(false);
  });
});
