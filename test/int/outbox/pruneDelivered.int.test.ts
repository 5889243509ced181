import pg from 'pg';
import { beforeEach, describe, expect, it } from 'vitest';
import { PRUNE_LOCK_KEY, pruneDelivered } from '../../../src/outbox/pruneDelivered.ts';
import type { SqlDb } from '../../../src/db/sqlDb.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { clearTables } from './outboxRows.ts';

const t = useTestDatabases();

beforeEach(async () => {
  await clearTables(t().pool);
});

/** `count` delivered rows, delivered `ageMs` ago, ids starting at `firstId`. */
async function insertDelivered(firstId: number, count: number, ageMs: number): Promise<void> {
  await t().pool.query(
    `INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, delivered_at, delivered_by)
     SELECT n, gen_random_uuid(), 'transaction', 'a' || n, 1, 'metadata.upserted', '{}', now() - $3::float8 * interval '1 millisecond', 'relay-a'
       FROM generate_series($1::bigint, $1::bigint + $2 - 1) AS n`,
    [firstId, count, ageMs],
  );
}

async function remainingIds(): Promise<number[]> {
  const { rows } = await t().pool.query<{ id: string }>('SELECT id FROM outbox_delivered ORDER BY id');
  return rows.map((r) => Number(r.id));
}

const HOUR = 3_600_000;

describe('pruneDelivered', () => {
  it('deletes only rows older than the retention', async () => {
    await insertDelivered(1, 30, 2 * HOUR);
    await insertDelivered(100, 5, 10 * 60_000);
    expect(await pruneDelivered(t().db, { retentionMs: HOUR })).toEqual({ ran: true, deleted: 30 });
    expect(await remainingIds()).toEqual([100, 101, 102, 103, 104]);
    expect(await pruneDelivered(t().db, { retentionMs: HOUR })).toEqual({ ran: true, deleted: 0 });
  });

  it('works in bounded batches, oldest first, and stops after maxBatches', async () => {
    await insertDelivered(1, 10, 5 * HOUR); // oldest
    await insertDelivered(11, 15, 3 * HOUR);
    const statements: string[] = [];
    // Count the DELETE statements the pruner sends in its locked transactions.
    const counting = (db: SqlDb): SqlDb => ({
      poolMode: db.poolMode,
      query: (statement, values) => {
        const text = typeof statement === 'string' ? statement : statement.text;
        if (text.includes('DELETE')) statements.push(text);
        return db.query(statement, values);
      },
      transaction: (body, options) => db.transaction((tx) => body(counting(tx)), options),
      connection: (body) => db.connection((conn) => body(counting(conn))),
    });
    const db = counting(t().db);
    expect(await pruneDelivered(db, { retentionMs: HOUR, batchSize: 4, maxBatches: 3 })).toEqual({ ran: true, deleted: 12 });
    expect(statements).toHaveLength(3);
    // The 10 oldest went first, then 2 of the next.
    const left = await remainingIds();
    expect(left).toHaveLength(13);
    expect(left.every((id) => id > 10)).toBe(true);
    statements.length = 0;
    // 13 left: 4 + 4 + 4 + 1; the short batch ends the run.
    expect(await pruneDelivered(db, { retentionMs: HOUR, batchSize: 4, maxBatches: 100 })).toEqual({ ran: true, deleted: 13 });
    expect(statements).toHaveLength(4);
    expect(await remainingIds()).toEqual([]);
  });

  it('returns { ran: false } while another session holds the prune lock, and runs once it is released', async () => {
    await insertDelivered(1, 3, 2 * HOUR);
    const other = new pg.Client({ connectionString: t().databaseUrl });
    await other.connect();
    try {
      await other.query('SELECT pg_advisory_lock($1::bigint)', [PRUNE_LOCK_KEY.toString()]);
      expect(await pruneDelivered(t().db, { retentionMs: HOUR })).toEqual({ ran: false, reason: 'locked' });
      expect(await remainingIds()).toEqual([1, 2, 3]);
      await other.query('SELECT pg_advisory_unlock($1::bigint)', [PRUNE_LOCK_KEY.toString()]);
      expect(await pruneDelivered(t().db, { retentionMs: HOUR })).toEqual({ ran: true, deleted: 3 });
    } finally {
      await other.end();
    }
  });

  it('releases its lock: no session holds it after a run', async () => {
    await insertDelivered(1, 3, 2 * HOUR);
    await pruneDelivered(t().db, { retentionMs: HOUR });
    const { rows } = await t().pool.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    expect(rows[0].n).toBe(0);
  });
});
