import type { SqlDb } from '../db/sqlDb.ts';

/**
 * Move delivered rows out of the hot table in one statement: DELETE …
 * RETURNING feeds the INSERT, so a row is either still pending in `outbox` or
 * recorded in `outbox_delivered`, never both and never neither. Deleting
 * instead of updating a status keeps the claim index small (DESIGN.md,
 * "Queue-table bloat").
 *
 * `claimed_by = $2`: only rows this relay still holds. If our lease ran out
 * and another relay claimed the row, it is theirs to finish (they apply it
 * again, fenced, so harmlessly); we report it as lost.
 *
 * The row keeps its outbox id in outbox_delivered, so one id traces an event
 * across both tables. ON CONFLICT DO NOTHING (any unique key: event_id, id):
 * an event already recorded as delivered (say, re-enqueued by a repair) must
 * still leave the hot table, and must not fail the batch around it. The
 * result is taken from `moved`, not from the INSERT, for the same reason.
 */
export const MARK_DELIVERED_SQL = `
WITH moved AS (
  DELETE FROM outbox
   WHERE id = ANY($1::bigint[])
     AND claimed_by = $2
     AND status = 'pending'
  RETURNING id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, last_error, trace_context
), recorded AS (
  INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, last_error, trace_context, delivered_at, delivered_by)
  SELECT id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, last_error, trace_context, now(), $2
    FROM moved
  ON CONFLICT DO NOTHING
)
SELECT id FROM moved`;

/**
 * Record that the sink acknowledged these rows. `delivered`: moved to
 * outbox_delivered by this call; `lost`: not ours any more (reclaimed by
 * another relay, or already gone).
 */
export async function markDelivered(db: SqlDb, options: { relayId: string; ids: number[] }): Promise<{ delivered: number[]; lost: number[] }> {
  const ids = [...new Set(options.ids)];
  if (ids.length === 0) return { delivered: [], lost: [] };
  const { rows } = await db.query<{ id: string }>({ name: 'outbox_mark_delivered', text: MARK_DELIVERED_SQL, values: [ids, options.relayId] });
  const moved = new Set(rows.map((r) => Number(r.id)));
  return {
    delivered: ids.filter((id) => moved.has(id)),
    lost: ids.filter((id) => !moved.has(id)),
  };
}
