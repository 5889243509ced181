/**
 * outboxInsert's two forms: guarded (enqueue: an event id already pending or
 * delivered is skipped, so re-enqueueing is a no-op) and `freshIds`
 * (postTransaction's ids, made just now: no guard, and a collision fails).
 */
import sql from 'sql-template-tag';
import { beforeEach, describe, expect, it } from 'vitest';
import { outboxInsert, thinOutboxRow } from '../../../src/outbox/enqueue.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

async function run(statement: ReturnType<typeof outboxInsert>): Promise<number> {
  const q = sql`${statement}`;
  return (await t().pool.query(q.text, q.values)).rowCount ?? 0;
}

async function countEvent(eventId: string): Promise<number> {
  const { rows } = await t().pool.query<{ n: number }>('SELECT (SELECT count(*) FROM outbox WHERE event_id = $1) + (SELECT count(*) FROM outbox_delivered WHERE event_id = $1) AS n', [eventId]);
  return Number(rows[0]?.n);
}

describe('outboxInsert', () => {
  it('with fresh ids inserts every row, as the guarded form does', async () => {
    const rows = [thinOutboxRow('transaction', 'tx-1', 1), thinOutboxRow('operation', 'op-1', 1)];
    expect(await run(outboxInsert(rows, { freshIds: true }))).toBe(2);
    for (const r of rows) expect(await countEvent(r.eventId)).toBe(1);
  });

  it('guarded, skips an event id already pending or already delivered', async () => {
    const pending = thinOutboxRow('transaction', 'tx-2', 1);
    const delivered = thinOutboxRow('transaction', 'tx-3', 1);
    await run(outboxInsert([pending]));
    await t().pool.query(`INSERT INTO outbox_delivered (event_id, aggregate_type, aggregate_id, version, event_type, delivered_by) VALUES ($1, 'transaction', 'tx-3', 1, 'metadata.upserted', 'relay-a')`, [delivered.eventId]);
    expect(await run(outboxInsert([pending, delivered]))).toBe(0);
    expect(await countEvent(pending.eventId)).toBe(1);
    expect(await countEvent(delivered.eventId)).toBe(1);
  });

  it('with fresh ids, an id that is not fresh fails on the unique index instead of being dropped', async () => {
    const row = thinOutboxRow('transaction', 'tx-4', 1);
    await run(outboxInsert([row], { freshIds: true }));
    await expect(run(outboxInsert([row, thinOutboxRow('operation', 'op-4', 1)], { freshIds: true }))).rejects.toMatchObject({ code: '23505', constraint: 'outbox_event_id_key' });
    expect(await countEvent(row.eventId)).toBe(1);
  });
});
