import { toSqlDb, type DbLike } from '../../db/toSqlDb.ts';
import type { ParkReason } from './setAside.ts';

/**
 * `due`: the automatic retry of failed entities whose backoff passed; they
 * stay in outbox_parked, marked replaying, with their attempt count, until
 * their rows are delivered (forgetReplayed) or fail again (setAside).
 */
export interface RedriveFilter {
  /** Only these entities ({ aggregateType, aggregateId }). */
  entities?: readonly { aggregateType: string; aggregateId: string }[];
  /** Only entities of this aggregate type (a resume of a paused type). */
  aggregateType?: string;
  reason?: ParkReason;
  /** Only failed entities due for their next automatic try (retry_at passed). */
  due?: boolean;
}

/**
 * Bring parked entities back: their set-aside rows are appended to the log
 * again, in their original order (new ids, new xid: their slot reads them in
 * its next window, after everything already there), and the entity is no
 * longer parked. One statement, so a redrive is all or nothing. The rows keep
 * their event id and their created_at (time in outbox counts from the
 * original write).
 */
export const REDRIVE_SQL = `
WITH chosen AS (
  SELECT p.aggregate_type, p.aggregate_id
    FROM outbox_parked p
   WHERE ($1::text[] IS NULL OR (p.aggregate_type, p.aggregate_id) IN (SELECT * FROM unnest($1::text[], $2::text[])))
     AND ($3::text IS NULL OR p.aggregate_type = $3)
     AND ($4::text IS NULL OR p.reason = $4)
     AND (NOT $5::boolean OR (p.retry_at IS NOT NULL AND p.retry_at <= now() AND NOT p.replaying))
     FOR UPDATE
), forgotten AS (
  -- An operator's redrive starts the budget afresh.
  DELETE FROM outbox_parked p USING chosen c
   WHERE NOT $5::boolean AND p.aggregate_type = c.aggregate_type AND p.aggregate_id = c.aggregate_id
), retrying AS (
  -- An automatic retry keeps the count: the entity stays listed, replaying.
  UPDATE outbox_parked p SET replaying = true, retry_at = NULL FROM chosen c
   WHERE $5::boolean AND p.aggregate_type = c.aggregate_type AND p.aggregate_id = c.aggregate_id
), gone AS (
  SELECT * FROM chosen
), moved AS (
  DELETE FROM outbox_set_aside a
   USING gone
   WHERE a.aggregate_type = gone.aggregate_type AND a.aggregate_id = gone.aggregate_id
  RETURNING a.*
), replayed AS (
  INSERT INTO outbox_log (event_id, aggregate_type, aggregate_id, version, event_type, payload, trace_context, slot_key, created_at)
  SELECT event_id, aggregate_type, aggregate_id, version, event_type, payload, trace_context, slot_key, created_at
    FROM moved
   ORDER BY id
  RETURNING 1
)
SELECT (SELECT count(*) FROM gone) AS entities, (SELECT count(*) FROM replayed) AS events`;

export async function redriveParked(db: DbLike, filter: RedriveFilter = {}): Promise<{ entities: number; events: number }> {
  const { rows } = await toSqlDb(db).query<{ entities: string; events: string }>({
    text: REDRIVE_SQL,
    values: [
      filter.entities ? filter.entities.map((e) => e.aggregateType) : null,
      filter.entities ? filter.entities.map((e) => e.aggregateId) : null,
      filter.aggregateType ?? null,
      filter.reason ?? null,
      filter.due === true,
    ],
  });
  return { entities: Number(rows[0]?.entities ?? 0), events: Number(rows[0]?.events ?? 0) };
}
