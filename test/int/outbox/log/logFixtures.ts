import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { appendEvents, type LogRow } from '../../../../src/outbox/log/appendEvents.ts';

/** A log row with content, for entity `type/id` at `version`. */
export function logRow(aggregateId: string, version = 1, aggregateType = 'transaction', extra: Partial<LogRow> = {}): LogRow {
  return { eventId: randomUUID(), aggregateType, aggregateId, version, eventType: 'metadata.upserted', payload: { metadata: { v: version, of: aggregateId } }, traceContext: null, ...extra };
}

/** Append in a transaction of its own, committed at once. */
export async function appendCommitted(pool: pg.Pool, rows: LogRow[]): Promise<number[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const ids = await appendEvents(client, rows);
    await client.query('COMMIT');
    return ids.map((r) => r.id);
  } finally {
    client.release();
  }
}

/** A transaction held open on its own connection: commit it when the test says so. */
export async function openTransaction(pool: pg.Pool): Promise<{ client: pg.PoolClient; append(rows: LogRow[]): Promise<number[]>; commit(): Promise<void>; rollback(): Promise<void> }> {
  const client = await pool.connect();
  await client.query('BEGIN');
  let done = false;
  const finish = async (verb: string) => {
    if (done) return;
    done = true;
    try {
      await client.query(verb);
    } finally {
      client.release();
    }
  };
  return {
    client,
    append: async (rows) => (await appendEvents(client, rows)).map((r) => r.id),
    commit: () => finish('COMMIT'),
    rollback: () => finish('ROLLBACK'),
  };
}

/** The slot a key hashes to, as the table computes it. */
export async function slotOf(pool: pg.Pool, slotKey: string): Promise<number> {
  const { rows } = await pool.query<{ slot: number }>('SELECT outbox_slot_of($1) AS slot', [slotKey]);
  return rows[0]!.slot;
}

/** Ids `transaction/<prefix>N` of `count` entities that share one slot. */
export async function entitiesInOneSlot(pool: pg.Pool, prefix: string, count: number): Promise<{ slot: number; ids: string[] }> {
  const { rows } = await pool.query<{ id: string; slot: number }>(
    `SELECT $1 || n AS id, outbox_slot_of('transaction/' || $1 || n) AS slot FROM generate_series(1, 5000) n`,
    [prefix],
  );
  const bySlot = new Map<number, string[]>();
  for (const row of rows) bySlot.set(row.slot, [...(bySlot.get(row.slot) ?? []), row.id]);
  for (const [slot, ids] of bySlot) if (ids.length >= count) return { slot, ids: ids.slice(0, count) };
  throw new Error('no slot holds that many of the candidates');
}

/** Empty the log and free every slot (each test starts from a fresh position). */
export async function resetLog(pool: pg.Pool): Promise<void> {
  await pool.query(`TRUNCATE outbox_log, outbox_parked, outbox_set_aside, outbox_relay`);
  await pool.query(`UPDATE outbox_slot SET owner = NULL, lease_until = NULL, epoch = 0, lower = NULL, upper = NULL, after_id = NULL, max_id = NULL, delivered = 0`);
}
