import type { SqlDb } from '../../db/sqlDb.ts';

/** Why an entity is set aside: its retry budget is being spent ('failed'), or its aggregate type is paused. */
export type ParkReason = 'failed' | 'paused';

export interface SetAsideRow {
  slot: number;
  id: number;
}

export interface EntityToPark {
  aggregateType: string;
  aggregateId: string;
  slot: number;
  reason: ParkReason;
  fromVersion: number;
  error: string | null;
  /** A new failure (counts an attempt), not a row of an entity parked already. */
  countsAttempt: boolean;
}

/** The retry budget of a failing entity: it retries on its own with backoff until `maxAttempts`, then waits for an operator's redrive. */
export interface RetryBudget {
  maxAttempts: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
}

/**
 * Set rows aside so their slot can move past them: copy them (by their log
 * key) into outbox_set_aside and mark their entities parked, in one
 * statement. A parked entity's later rows are set aside too as the slot
 * reaches them (the read flags them), so its versions stay in order for the
 * redrive. Only the poison path and paused types write here, never the happy
 * path. Idempotent: a batch set aside twice (a retry after a lost answer)
 * copies nothing twice and counts the attempt once per call.
 */
export const SET_ASIDE_SQL = `
WITH copied AS (
  INSERT INTO outbox_set_aside (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, trace_context, slot_key, created_at)
  SELECT o.id, o.event_id, o.aggregate_type, o.aggregate_id, o.version, o.event_type, o.payload, o.trace_context, o.slot_key, o.created_at
    FROM outbox_log o
    JOIN unnest($1::smallint[], $2::bigint[]) AS k(slot, id) ON o.slot = k.slot AND o.id = k.id
  ON CONFLICT (id) DO NOTHING
  RETURNING id
), parked AS (
  INSERT INTO outbox_parked AS p (aggregate_type, aggregate_id, slot, reason, from_version, attempts, last_error, retry_at)
  SELECT e.aggregate_type, e.aggregate_id, e.slot, e.reason, e.from_version, CASE WHEN e.counts THEN 1 ELSE 0 END, e.error,
         CASE WHEN e.counts AND 1 < $9 THEN now() + $10::float8 * interval '1 millisecond' END
    FROM unnest($3::text[], $4::text[], $5::smallint[], $6::text[], $7::int[], $8::text[], $12::boolean[])
         AS e(aggregate_type, aggregate_id, slot, reason, from_version, error, counts)
  ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE
     SET attempts = p.attempts + EXCLUDED.attempts,
         -- A failure outranks a pause: the operator must see the error.
         reason = CASE WHEN EXCLUDED.reason = 'failed' THEN 'failed' ELSE p.reason END,
         last_error = coalesce(EXCLUDED.last_error, p.last_error),
         from_version = least(p.from_version, EXCLUDED.from_version),
         replaying = false,
         -- Backoff doubles per attempt up to $11 ms; the budget ($9 attempts) spent, only a redrive brings it back.
         retry_at = CASE WHEN EXCLUDED.attempts = 0 THEN p.retry_at
                         WHEN p.attempts + 1 >= $9 THEN NULL
                         ELSE now() + least($11::float8, $10::float8 * 2 ^ p.attempts) * interval '1 millisecond' END
  RETURNING 1
)
SELECT (SELECT count(*) FROM copied) AS copied`;

export async function setAside(db: SqlDb, options: { rows: readonly SetAsideRow[]; entities: readonly EntityToPark[]; budget: RetryBudget }): Promise<{ copied: number }> {
  const { rows, entities, budget } = options;
  if (rows.length === 0 && entities.length === 0) return { copied: 0 };
  const { rows: result } = await db.query<{ copied: string }>({
    name: 'outbox_log_set_aside',
    text: SET_ASIDE_SQL,
    values: [
      rows.map((r) => r.slot),
      rows.map((r) => r.id),
      entities.map((e) => e.aggregateType),
      entities.map((e) => e.aggregateId),
      entities.map((e) => e.slot),
      entities.map((e) => e.reason),
      entities.map((e) => e.fromVersion),
      entities.map((e) => e.error),
      budget.maxAttempts,
      budget.backoffBaseMs,
      budget.backoffMaxMs,
      entities.map((e) => e.countsAttempt),
    ],
  });
  return { copied: Number(result[0]?.copied ?? 0) };
}
