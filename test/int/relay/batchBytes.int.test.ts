/**
 * A batch is bounded by bytes as well as by count (OUTBOX_RELAY_BATCH_MAX_BYTES):
 * thin events whose content is past the bound are given back for a later
 * batch, untouched (no attempt counted), and delivered by the next one.
 * (The claim's bound on payloads is in test/int/outbox/claimBatch.int.test.ts.)
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { createRelayMetrics } from '../../../src/ops/metrics.ts';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { deliverBatch } from '../../../src/relay/deliverBatch.ts';
import type { ApplyResult, EventOutcome, MetadataSink, SinkEvent } from '../../../src/sink/metadataSink.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables, readRows } from '../outbox/outboxRows.ts';

const t = useTestDatabases();

let relay: Relay | undefined;
afterEach(async () => {
  await relay?.stop();
  relay = undefined;
});

beforeEach(async () => {
  await clearTables(t().pool);
  await t().pool.query('TRUNCATE entity_metadata');
});

/** Records every event it is given, acknowledges all. */
function recordingSink(): MetadataSink & { seen: SinkEvent[][] } {
  const seen: SinkEvent[][] = [];
  return {
    seen,
    async prepare() {},
    async ping() {
      return true;
    },
    async apply(events: readonly SinkEvent[]): Promise<ApplyResult> {
      seen.push([...events]);
      return { ok: true, outcomes: new Map(events.map((e): [string, EventOutcome] => [e.eventId, { status: 'applied' }])) };
    },
  };
}

/** `count` entities of type 'invoice' with ~1,000 bytes of content each in entity_metadata, and one thin outbox event each. */
async function thinEvents(count: number): Promise<void> {
  await t().pool.query(
    `INSERT INTO entity_metadata (aggregate_type, aggregate_id, version, hash, metadata)
     SELECT 'invoice', 'inv-' || n, 1, 'h', jsonb_build_object('blob', repeat('x', 1000)) FROM generate_series(1, $1::int) n`,
    [count],
  );
  await t().pool.query(
    `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
     SELECT gen_random_uuid(), 'invoice', 'inv-' || n, 1, 'metadata.upserted', NULL FROM generate_series(1, $1::int) n ORDER BY n`,
    [count],
  );
}

const settings = { relayId: 'relay-a', maxAttempts: 10, backoffBaseMs: 1000, backoffMaxMs: 60_000 };

describe('a batch bounded by bytes', () => {
  it('reads thin events content up to batchMaxBytes, gives the rest back unattempted, and the next batch delivers them', async () => {
    await thinEvents(4);
    const deps = { db: t().db, sink: recordingSink(), metrics: createRelayMetrics({ defaultMetrics: false }), logger: silentLogger };
    // Thin rows count 0 in the claim: all four are claimed.
    const first = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000, maxBytes: 2_500 });
    expect(first).toHaveLength(4);
    // ~1,015 bytes of JSON each: 0, 1,015 and 2,030 bytes are read before the 1st, 2nd and 3rd (< 2,500); the 4th would pass it.
    const outcome = await deliverBatch(deps, { ...settings, batchMaxBytes: 2_500 }, first);
    expect(outcome).toMatchObject({ kind: 'finished', delivered: 3, failed: 0, dead: 0, deferred: 1 });
    expect(deps.sink.seen.flat().map((e) => e.aggregateId).sort()).toEqual(['inv-1', 'inv-2', 'inv-3']);
    expect(deps.sink.seen.flat().every((e) => (e.payload.metadata as { blob: string }).blob.length === 1000)).toBe(true);
    const last = first.find((e) => e.aggregateId === 'inv-4')!;
    const row = (await readRows(t().pool, [last.id])).get(last.id)!;
    expect(row).toMatchObject({ status: 'pending', attempts: 0, last_error: null, claimed_by: null });

    const second = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000, maxBytes: 2_500 });
    expect(second.map((e) => e.aggregateId)).toEqual(['inv-4']);
    expect(await deliverBatch(deps, { ...settings, batchMaxBytes: 2_500 }, second)).toMatchObject({ kind: 'finished', delivered: 1, deferred: 0 });
  });

  it('always reads the first content, however large, so an oversized entity still moves', async () => {
    await thinEvents(2);
    const deps = { db: t().db, sink: recordingSink(), metrics: createRelayMetrics({ defaultMetrics: false }), logger: silentLogger };
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(await deliverBatch(deps, { ...settings, batchMaxBytes: 10 }, events)).toMatchObject({ kind: 'finished', delivered: 1, deferred: 1 });
  });

  it('reads an entity\'s content once for all its pending versions: two versions of a document past the bound still move', async () => {
    await t().pool.query(
      `INSERT INTO entity_metadata (aggregate_type, aggregate_id, version, hash, metadata) VALUES ('invoice', 'inv-1', 2, 'h', jsonb_build_object('blob', repeat('x', 1000)))`,
    );
    await t().pool.query(
      `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
       SELECT gen_random_uuid(), 'invoice', 'inv-1', v, 'metadata.upserted', NULL FROM generate_series(1, 2) v ORDER BY v`,
    );
    const deps = { db: t().db, sink: recordingSink(), metrics: createRelayMetrics({ defaultMetrics: false }), logger: silentLogger };
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(events).toHaveLength(2);
    // Counted once per version, the second copy of the content was past the bound and the entity was deferred, every time.
    expect(await deliverBatch(deps, { ...settings, batchMaxBytes: 500 }, events)).toMatchObject({ kind: 'finished', delivered: 2, deferred: 0 });
  });

  it('a relay drains past short, byte-bounded batches at once, without waiting for the next poll', async () => {
    // 60 events of ~1 KB, a bound of 2.5 KB: at most 3 payloads (the claim) and 3 thin events' contents (the read) per batch.
    await thinEvents(30);
    await t().pool.query(
      `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
       SELECT gen_random_uuid(), 'transaction', 'big-' || n, 1, 'metadata.upserted', jsonb_build_object('metadata', jsonb_build_object('blob', repeat('y', 1000)))
         FROM generate_series(1, 30) n`,
    );
    const sink = recordingSink();
    // Polling only, every minute, one batch at a time: the start's drain must take all of it (a drain that
    // stopped at the first short batch would leave the rest for the next poll, a minute later).
    relay = createRelay(testRelayConfig(t(), { listen: false, pollIntervalMs: 60_000, concurrency: 1, batchMaxBytes: 2_500, mongoUrl: 'mongodb://127.0.0.1:1' }), { sink, pool: t().pool });
    await relay.start();
    await waitFor(async () => (await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]?.n === 0, { timeoutMs: 15_000, message: 'every event delivered by the start\'s drain' });
    expect(sink.seen.flat()).toHaveLength(60);
    expect(Math.max(...sink.seen.map((batch) => batch.length))).toBeLessThanOrEqual(6);
    expect(sink.seen.length).toBeGreaterThanOrEqual(10);
  });

  it('a short batch claimed ahead does not end the drain while the batch before gives events back past the byte bound', async () => {
    // Batches of 4: the first (inv-1..4) reads 3 contents and gives inv-4 back. The
    // batch claimed ahead while the first was at the sink (inv-5, inv-6) is short,
    // but inv-4 went back to pending after that claim: the drain must claim once
    // more, not leave inv-4 for the next poll, a minute later.
    await thinEvents(6);
    const seen: SinkEvent[][] = [];
    const sink: MetadataSink = {
      ...recordingSink(),
      async apply(events) {
        seen.push([...events]);
        // Long enough for the claim ahead to be answered before this batch is recorded.
        await new Promise((resolve) => setTimeout(resolve, 200));
        return { ok: true, outcomes: new Map(events.map((e): [string, EventOutcome] => [e.eventId, { status: 'applied' }])) };
      },
    };
    relay = createRelay(testRelayConfig(t(), { listen: false, pollIntervalMs: 60_000, concurrency: 1, batchSize: 4, batchMaxBytes: 2_500, mongoUrl: 'mongodb://127.0.0.1:1' }), { sink, pool: t().pool });
    await relay.start();
    await waitFor(async () => (await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]?.n === 0, { timeoutMs: 5_000, message: 'every event delivered by the start\'s drain' });
    expect(seen.map((batch) => batch.map((e) => e.aggregateId))).toEqual([['inv-1', 'inv-2', 'inv-3'], ['inv-5', 'inv-6'], ['inv-4']]);
  });
});
