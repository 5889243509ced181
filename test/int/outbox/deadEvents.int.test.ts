import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { listDead } from '../../../src/outbox/listDead.ts';
import { requeueDead } from '../../../src/outbox/requeueDead.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { clearTables, insertRows, readRows } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

describe('listDead', () => {
  it('lists dead events only, oldest first, with what an operator needs', async () => {
    const { ids: newer, eventIds: newerEventIds } = await insertRows(t().pool, 1, { status: 'dead', attempts: 5, lastError: 'newer', createdInMs: -60_000 });
    const { ids: older } = await insertRows(t().pool, 1, { status: 'dead', attempts: 7, lastError: 'older', createdInMs: -3_600_000 });
    await insertRows(t().pool, 2, { attempts: 2, lastError: 'retrying' });
    const dead = await listDead(t().db, { limit: 10 });
    expect(dead.map((d) => d.id)).toEqual([...older, ...newer]);
    expect(dead[1]).toEqual({
      id: newer[0],
      eventId: newerEventIds[0],
      aggregateType: 'transaction',
      aggregateId: 'agg-1',
      version: 1,
      attempts: 5,
      lastError: 'newer',
      createdAt: expect.any(Date),
      deadAt: expect.any(Date),
      ageSeconds: expect.any(Number),
    });
    expect(dead[0]!.ageSeconds).toBeGreaterThanOrEqual(3_599);
    expect(dead[1]!.ageSeconds).toBeGreaterThanOrEqual(59);
    expect(dead[1]!.ageSeconds).toBeLessThan(120);
  });

  it('honours the limit', async () => {
    await insertRows(t().pool, 5, { status: 'dead', attempts: 5 });
    expect(await listDead(t().db, { limit: 2 })).toHaveLength(2);
  });

  it('is empty when nothing is dead', async () => {
    await insertRows(t().pool, 3);
    expect(await listDead(t().db, { limit: 10 })).toEqual([]);
  });
});

describe('requeueDead', () => {
  it('requeues by event id: pending, attempts 0, available now, last_error kept; others untouched', async () => {
    const { ids, eventIds } = await insertRows(t().pool, 3, { status: 'dead', attempts: 5, lastError: 'too large' });
    const result = await requeueDead(t().db, { eventIds: [eventIds[0]!, eventIds[2]!.toUpperCase()] });
    expect(result).toEqual({ requeued: 2, notFound: [] });
    const rows = await readRows(t().pool, ids);
    expect(rows.get(ids[0]!)).toMatchObject({ status: 'pending', attempts: 0, dead_at: null, last_error: 'too large', claimed_by: null });
    expect(rows.get(ids[1]!)).toMatchObject({ status: 'dead', attempts: 5 });
    expect(rows.get(ids[2]!)).toMatchObject({ status: 'pending', attempts: 0 });
    const claimed = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(claimed.map((e) => e.id)).toEqual([ids[0], ids[2]]);
  });

  it('requeues all dead events with { all: true }', async () => {
    await insertRows(t().pool, 4, { status: 'dead', attempts: 5 });
    await insertRows(t().pool, 2);
    expect(await requeueDead(t().db, { all: true })).toEqual({ requeued: 4, notFound: [] });
    expect(await listDead(t().db, { limit: 10 })).toEqual([]);
    expect(await requeueDead(t().db, { all: true })).toEqual({ requeued: 0, notFound: [] });
  });

  it('reports unknown, not-dead and malformed ids in notFound instead of throwing', async () => {
    const { eventIds: dead } = await insertRows(t().pool, 1, { status: 'dead', attempts: 5 });
    const { eventIds: pending } = await insertRows(t().pool, 1);
    const unknown = randomUUID();
    const result = await requeueDead(t().db, { eventIds: ['not-a-uuid', unknown, dead[0]!, pending[0]!, "'; DROP TABLE outbox; --"] });
    expect(result).toEqual({ requeued: 1, notFound: ['not-a-uuid', unknown, pending[0], "'; DROP TABLE outbox; --"] });
    expect(await requeueDead(t().db, { eventIds: ['garbage'] })).toEqual({ requeued: 0, notFound: ['garbage'] });
  });

  it('a NOTIFY arrives on channel outbox after a requeue (and only after one that requeued something)', async () => {
    const { eventIds } = await insertRows(t().pool, 1, { status: 'dead', attempts: 5 });
    const listener = new pg.Client({ connectionString: t().databaseUrl });
    await listener.connect();
    const received: { channel: string; payload: string | undefined }[] = [];
    listener.on('notification', (n) => received.push({ channel: n.channel, payload: n.payload }));
    try {
      await listener.query('LISTEN outbox; LISTEN outbox_test_probe');
      await requeueDead(t().db, { eventIds: [randomUUID()] });
      await requeueDead(t().db, { eventIds });
      // Postgres delivers notifications in commit order: once this probe is in, a stray one from the first requeue would be too.
      await t().pool.query('NOTIFY outbox_test_probe');
      await waitFor(() => received.some((n) => n.channel === 'outbox_test_probe'), { message: 'the probe notification' });
      expect(received).toEqual([
        { channel: 'outbox', payload: '' },
        { channel: 'outbox_test_probe', payload: '' },
      ]);
    } finally {
      await listener.end();
    }
  });
});
