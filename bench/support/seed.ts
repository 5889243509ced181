/**
 * Bulk outbox backlogs: one INSERT … SELECT generate_series, so N events cost
 * one statement (and one statement-level NOTIFY). Each event is its own
 * document (`transaction` entity, version 1) with a small metadata object,
 * the shape postTransaction writes.
 */
import type pg from 'pg';
import type { Metadata } from '../../src/types.ts';

export const SEED_SQL = `
INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
SELECT gen_random_uuid(), 'transaction', $1 || i, 1, 'metadata.upserted',
       jsonb_build_object('metadata', jsonb_build_object('ref', 'INV-' || i, 'amount', (i % 997) + 1, 'note', 'bench event ' || i))
  FROM generate_series(1, $2::int) i`;

export async function seedBacklog(client: pg.Pool | pg.PoolClient | pg.Client, count: number, prefix = 'bench-'): Promise<void> {
  await client.query(SEED_SQL, [prefix, count]);
}

/** The same metadata, built in memory (for the sink baseline). */
export function benchMetadata(i: number): Metadata {
  return { ref: `INV-${i}`, amount: (i % 997) + 1, note: `bench event ${i}` };
}

/**
 * Whether any event is still pending: stops at the first live entry of the
 * partial pending index. The drain loop asks this every 50 ms; a count(*)
 * over a 100,000-row backlog there cost the machine a sizeable share of a
 * core that the relay under test then did not get.
 */
export async function anyPending(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM outbox WHERE status = 'pending') AS any`);
  return rows[0]?.any ?? false;
}

export async function pendingCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox WHERE status = 'pending'`);
  return rows[0]?.n ?? 0;
}

export async function deadTuples(pool: pg.Pool): Promise<{ live: number; dead: number }> {
  const { rows } = await pool.query<{ live: string; dead: string }>(`SELECT n_live_tup AS live, n_dead_tup AS dead FROM pg_stat_user_tables WHERE relname = 'outbox'`);
  return { live: Number(rows[0]?.live ?? 0), dead: Number(rows[0]?.dead ?? 0) };
}
