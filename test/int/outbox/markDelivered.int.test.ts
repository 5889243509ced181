import { beforeEach, describe, expect, it } from 'vitest';
import { claimBatch } from '../../../src/outbox/claimBatch.ts';
import { markDelivered } from '../../../src/outbox/markDelivered.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables, insertRows } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

async function hotIds(): Promise<number[]> {
  const { rows } = await t().pool.query<{ id: string }>('SELECT id FROM outbox ORDER BY id');
  return rows.map((r) => Number(r.id));
}

async function deliveredRows(): Promise<{ id: number; event_id: string; delivered_by: string; attempts: number; payload: unknown }[]> {
  const { rows } = await t().pool.query('SELECT id, event_id, delivered_by, attempts, payload FROM outbox_delivered ORDER BY id');
  return rows.map((r) => ({ ...r, id: Number(r.id) }));
}

describe('markDelivered', () => {
  it('moves the rows this relay holds to outbox_delivered, keeping their id and event data', async () => {
    const { ids, eventIds } = await insertRows(t().pool, 3);
    await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    const result = await markDelivered(t().db, { relayId: 'relay-a', ids });
    expect(result).toEqual({ delivered: ids, lost: [] });
    expect(await hotIds()).toEqual([]);
    expect(await deliveredRows()).toEqual(
      ids.map((id, i) => ({ id, event_id: eventIds[i], delivered_by: 'relay-a', attempts: 0, payload: { metadata: { n: i + 1 } } })),
    );
  });

  it('moves only the rows still held by the caller; a row reclaimed by another relay is reported lost and stays', async () => {
    const { ids } = await insertRows(t().pool, 4);
    await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    // relay-a's lease on the last two ran out and relay-b claimed them.
    const taken = ids.slice(2);
    await t().pool.query(`UPDATE outbox SET claimed_until = now() - interval '1 second' WHERE id = ANY($1::bigint[])`, [taken]);
    const reclaimed = await claimBatch(t().db, { relayId: 'relay-b', batchSize: 10, leaseMs: 30_000 });
    expect(reclaimed.map((e) => e.id)).toEqual(taken);

    const result = await markDelivered(t().db, { relayId: 'relay-a', ids });
    expect(result).toEqual({ delivered: ids.slice(0, 2), lost: taken });
    expect(await hotIds()).toEqual(taken);
    expect((await deliveredRows()).map((r) => r.id)).toEqual(ids.slice(0, 2));

    // relay-b then finishes its own.
    expect(await markDelivered(t().db, { relayId: 'relay-b', ids: taken })).toEqual({ delivered: taken, lost: [] });
    expect(await hotIds()).toEqual([]);
  });

  it('never moves a row nobody claimed, or a dead row, and reports unknown ids as lost', async () => {
    const { ids: unclaimed } = await insertRows(t().pool, 1);
    const { ids: dead } = await insertRows(t().pool, 1, { status: 'dead', claimedBy: 'relay-a', claimedForMs: 30_000 });
    const result = await markDelivered(t().db, { relayId: 'relay-a', ids: [...unclaimed, ...dead, 999_999] });
    expect(result).toEqual({ delivered: [], lost: [...unclaimed, ...dead, 999_999] });
    expect(await hotIds()).toEqual([...unclaimed, ...dead]);
  });

  it('an event already in outbox_delivered still leaves the hot table', async () => {
    const { ids, eventIds } = await insertRows(t().pool, 2);
    // The first event is already recorded as delivered (under another id).
    await t().pool.query(
      `INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, delivered_by)
       VALUES (-1, $1, 'transaction', 'agg-1', 1, 'metadata.upserted', '{}', 'relay-old')`,
      [eventIds[0]],
    );
    await claimBatch(t().db, { relayId: 'relay-a', batchSize: 10, leaseMs: 30_000 });
    expect(await markDelivered(t().db, { relayId: 'relay-a', ids })).toEqual({ delivered: ids, lost: [] });
    expect(await hotIds()).toEqual([]);
    expect((await deliveredRows()).map((r) => [r.id, r.delivered_by])).toEqual([
      [-1, 'relay-old'],
      [ids[1], 'relay-a'],
    ]);
  });

  it('an empty id list is a no-op', async () => {
    expect(await markDelivered(t().db, { relayId: 'relay-a', ids: [] })).toEqual({ delivered: [], lost: [] });
  });

  it('handles a large batch with one array parameter (no bind-parameter limit)', async () => {
    const { ids } = await insertRows(t().pool, 5_000);
    const events = await claimBatch(t().db, { relayId: 'relay-a', batchSize: 5_000, leaseMs: 30_000 });
    expect(events).toHaveLength(5_000);
    const result = await markDelivered(t().db, { relayId: 'relay-a', ids: [...ids, ...Array.from({ length: 70_000 }, (_, i) => 10_000_000 + i)] });
    expect(result.delivered).toEqual(ids);
    expect(result.lost).toHaveLength(70_000);
    expect(await hotIds()).toEqual([]);
  });
});
