import sql, { type Sql } from 'sql-template-tag';
import { toSqlDb, type DbLike } from '../../db/toSqlDb.ts';
import type { OutboxRow } from '../enqueue.ts';

/** An outbox row for the log; `slotKey`: the entity whose slot it follows when not its own (`transaction/<id>` for an operation). */
export type LogRow = OutboxRow & { slotKey?: string | null };

/**
 * The writer's INSERT into the log: one array per column (any number of rows
 * in eight bind parameters), and nothing else. The slot and the writing
 * transaction's xid are filled in by the table (a generated column and a
 * default), so the writer cannot get them wrong.
 *
 * No event-id guard: the log has no unique index on event_id (a partitioned
 * table's unique index must hold the partition key), and writes from the
 * ledger carry fresh ids. Re-enqueueing one event id twice writes it twice;
 * the sink's fence makes the second apply a no-op.
 */
export function logInsert(rows: readonly LogRow[]): Sql {
  return sql`
    INSERT INTO outbox_log (event_id, aggregate_type, aggregate_id, version, event_type, payload, trace_context, slot_key)
    SELECT r.event_id, r.aggregate_type, r.aggregate_id, r.version, r.event_type, r.payload::jsonb, r.trace_context::jsonb, r.slot_key
    FROM unnest(
      ${rows.map((r) => r.eventId)}::uuid[], ${rows.map((r) => r.aggregateType)}::text[],
      ${rows.map((r) => r.aggregateId)}::text[], ${rows.map((r) => r.version)}::int[],
      ${rows.map((r) => r.eventType)}::text[], ${rows.map((r) => (r.payload ? JSON.stringify(r.payload) : null))}::text[],
      ${rows.map((r) => (r.traceContext ? JSON.stringify(r.traceContext) : null))}::text[], ${rows.map((r) => r.slotKey ?? null)}::text[]
    ) AS r(event_id, aggregate_type, aggregate_id, version, event_type, payload, trace_context, slot_key)`;
}

/** Append rows to the log inside the caller's transaction; returns their ids in input order. */
export async function appendEvents(tx: DbLike, rows: readonly LogRow[]): Promise<{ id: number; eventId: string }[]> {
  if (rows.length === 0) return [];
  const { rows: inserted } = await toSqlDb(tx).query<{ id: string; event_id: string }>(sql`${logInsert(rows)} RETURNING id, event_id::text`);
  // RETURNING follows the insert's order, which follows unnest's.
  return inserted.map((r) => ({ id: Number(r.id), eventId: r.event_id }));
}
