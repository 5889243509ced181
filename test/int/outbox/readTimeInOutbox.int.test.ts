import { describe, expect, it } from 'vitest';
import { formatTimeInOutbox } from '../../../src/ops/formatTimeInOutbox.ts';
import { readTimeInOutbox } from '../../../src/outbox/readTimeInOutbox.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();

/** Delivered rows `delaysMs` after their creation, delivered `agoSeconds` ago. */
async function delivered(aggregateType: string, delaysMs: number[], agoSeconds = 5): Promise<void> {
  await t().pool.query(
    `INSERT INTO outbox_delivered (event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, delivered_at, delivered_by)
     SELECT gen_random_uuid(), $1, 'e' || i, 1, 'metadata.upserted', '{"metadata":{}}',
            now() - $3::float8 * interval '1 second' - d * interval '1 millisecond', now() - $3::float8 * interval '1 second', 'test'
       FROM unnest($2::float8[]) WITH ORDINALITY AS x(d, i)`,
    [aggregateType, delaysMs, agoSeconds],
  );
}

describe('readTimeInOutbox', () => {
  it('answers "no deliveries" on an empty window', async () => {
    const none = await readTimeInOutbox(t().db);
    expect(none).toEqual({ windowSeconds: 60, count: 0, p50Seconds: null, p99Seconds: null, byAggregateType: [] });
    expect(formatTimeInOutbox(none)).toMatch(/no deliveries/);
  });

  it('gives p50 and p99 of created → delivered over the last minute, fleet-wide and per aggregate type, ignoring older deliveries', async () => {
    // 100 transaction events at 1..100 ms, 10 operation events at 2 s; old ones outside the window.
    await delivered('transaction', Array.from({ length: 100 }, (_, i) => i + 1));
    await delivered('operation', Array.from({ length: 10 }, () => 2000));
    await delivered('transaction', [60_000, 60_000], 120);
    const result = await readTimeInOutbox(t().db);
    expect(result.count).toBe(110);
    const tx = result.byAggregateType.find((a) => a.aggregateType === 'transaction')!;
    expect(tx.count).toBe(100);
    expect(tx.p50Seconds).toBeCloseTo(0.0505, 4);
    expect(tx.p99Seconds).toBeCloseTo(0.09901, 4);
    expect(result.byAggregateType.find((a) => a.aggregateType === 'operation')).toMatchObject({ count: 10, p50Seconds: 2, p99Seconds: 2 });
    expect(result.p99Seconds).toBeCloseTo(2, 4);
    const text = formatTimeInOutbox(result);
    expect(text).toContain('p99 2000 ms');
    expect(text).toMatch(/transaction\s+p50 51 ms/);
  });
});
