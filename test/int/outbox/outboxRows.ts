/** Test rows straight into the outbox with plain SQL, plus small readers. */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';

export interface RowSpec {
  status?: 'pending' | 'dead';
  attempts?: number;
  /** available_at relative to now (ms); default 0 (now). */
  availableInMs?: number;
  claimedBy?: string;
  /** claimed_until relative to now (ms). */
  claimedForMs?: number;
  /** created_at relative to now (ms, negative = in the past). */
  createdInMs?: number;
  lastError?: string;
  eventId?: string;
  /** aggregate_id is this prefix + the row's position in the call; default 'agg-'. */
  aggregatePrefix?: string;
}

/** Insert `count` rows shaped by `spec`; returns their ids in order. */
export async function insertRows(pool: pg.Pool, count: number, spec: RowSpec = {}): Promise<{ ids: number[]; eventIds: string[] }> {
  const eventIds = Array.from({ length: count }, (_, i) => (count === 1 && spec.eventId ? spec.eventId : randomUUID()));
  const status = spec.status ?? 'pending';
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload, status, attempts,
                         available_at, claimed_by, claimed_until, created_at, last_error, dead_at)
     SELECT e, 'transaction', $9 || n, 1, 'metadata.upserted', jsonb_build_object('metadata', jsonb_build_object('n', n)),
            $2, $3,
            now() + $4::float8 * interval '1 millisecond',
            $5, CASE WHEN $6::float8 IS NULL THEN NULL ELSE now() + $6::float8 * interval '1 millisecond' END,
            clock_timestamp() + $7::float8 * interval '1 millisecond',
            $8, CASE WHEN $2 = 'dead' THEN now() END
       FROM unnest($1::uuid[]) WITH ORDINALITY AS u(e, n)
     ORDER BY n
     RETURNING id`,
    [eventIds, status, spec.attempts ?? 0, spec.availableInMs ?? 0, spec.claimedBy ?? null, spec.claimedForMs ?? null, spec.createdInMs ?? 0, spec.lastError ?? null, spec.aggregatePrefix ?? 'agg-'],
  );
  return { ids: rows.map((r) => Number(r.id)).sort((a, b) => a - b), eventIds };
}

export interface OutboxRow {
  id: number;
  status: string;
  attempts: number;
  last_error: string | null;
  claimed_by: string | null;
  claimed_until: Date | null;
  available_at: Date;
  dead_at: Date | null;
  /** available_at - now() in ms, from the server's clock. */
  available_in_ms: number;
}

export async function readRows(pool: pg.Pool, ids: number[]): Promise<Map<number, OutboxRow>> {
  const { rows } = await pool.query(
    `SELECT id, status, attempts, last_error, claimed_by, claimed_until, available_at, dead_at,
            (extract(epoch FROM available_at - now()) * 1000)::float8 AS available_in_ms
       FROM outbox WHERE id = ANY($1::bigint[])`,
    [ids],
  );
  return new Map(rows.map((r) => [Number(r.id), { ...r, id: Number(r.id) } as OutboxRow]));
}

export async function clearTables(pool: pg.Pool): Promise<void> {
  await pool.query('TRUNCATE outbox, outbox_delivered, outbox_relay');
}
