import { queryFindings } from './queryFindings.ts';
import type { CheckContext, CheckResult } from './reconcileTypes.ts';

/**
 * Outbox rows that need a look, one finding per row with every reason that
 * applies: pending longer than the threshold (the relay is down or behind),
 * still claimed past the lease (its relay died; another relay should have
 * re-claimed it), dead (parked after maxAttempts; see `dead list`).
 * The hot outbox holds only pending and dead rows, so this scan is small.
 */
const FINDINGS_SQL = `
SELECT 'outbox/' || o.event_id::text AS id, o.id AS ord,
       concat_ws('; ',
         CASE WHEN o.status = 'dead'
              THEN format('dead after %s attempts: %s', o.attempts, left(coalesce(o.last_error, ''), 160)) END,
         CASE WHEN o.status = 'pending' AND o.created_at < now() - $1::float8 * interval '1 second'
              THEN format('pending for %s s', floor(extract(epoch FROM now() - o.created_at))) END,
         CASE WHEN o.status = 'pending' AND o.claimed_by IS NOT NULL AND o.claimed_until < now()
              THEN format('held by %s %s s past its lease', o.claimed_by, floor(extract(epoch FROM now() - o.claimed_until))) END)
       || format(' (%s/%s v%s)', o.aggregate_type, o.aggregate_id, o.version) AS reason
  FROM outbox o
 WHERE o.status = 'dead'
    OR (o.status = 'pending'
        AND (o.created_at < now() - $1::float8 * interval '1 second'
             OR (o.claimed_by IS NOT NULL AND o.claimed_until < now())))`;

/** Old pending events, rows held past their lease, dead events. */
export async function checkOutboxHealth(ctx: CheckContext): Promise<CheckResult> {
  const found = await queryFindings(ctx.db, FINDINGS_SQL, [ctx.pendingOlderThanSeconds], ctx.sampleLimit);
  const { rows } = await ctx.db.query<{ n: string }>(`SELECT count(*) AS n FROM outbox`);
  return { ...found, checked: Number(rows[0]!.n) };
}
