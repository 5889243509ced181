import type { SqlDb } from '../db/sqlDb.ts';
import { nextDelayMs, type BackoffPolicy } from './backoff.ts';

export type { BackoffPolicy };

/** last_error is for people; a stack trace this long already says it all. */
export const MAX_ERROR_LENGTH = 2000;

/**
 * One statement for the whole batch (one array per column, never one
 * placeholder per value).
 *
 * The delay depends on the row's attempt count, which only the statement
 * sees, while the backoff formula lives in backoff.ts. So for each failure
 * we pass its delay for every possible attempt number 1..maxAttempts,
 * flattened into $3 (row k's schedule starts at (k-1)*maxAttempts), and the
 * statement picks the entry for attempts + 1. Jitter is drawn once per
 * failure.
 *
 * The maxAttempts-th failure parks the row as dead (available_at then does
 * not matter). Only rows this relay still holds are touched.
 */
export const MARK_FAILED_SQL = `
WITH f AS (
  SELECT id, error, ord
    FROM unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS f(id, error, ord)
)
UPDATE outbox AS o
   SET attempts = o.attempts + 1,
       last_error = f.error,
       claimed_by = NULL,
       claimed_until = NULL,
       status = CASE WHEN o.attempts + 1 >= $4 THEN 'dead' ELSE 'pending' END,
       dead_at = CASE WHEN o.attempts + 1 >= $4 THEN now() END,
       available_at = CASE WHEN o.attempts + 1 >= $4 THEN o.available_at
                           ELSE now() + ($3::float8[])[(f.ord - 1) * $4 + least(o.attempts + 1, $4)] * interval '1 millisecond' END
  FROM f
 WHERE o.id = f.id
   AND o.claimed_by = $5
   AND o.status = 'pending'
RETURNING o.id, o.status`;

/**
 * Record failed deliveries: count the attempt, keep the error, schedule the
 * retry with backoff, or park the row as dead after `maxAttempts` failures.
 * Rows this relay no longer holds are in neither list.
 */
export async function markFailed(
  db: SqlDb,
  options: { relayId: string; failures: { id: number; error: string }[]; maxAttempts: number; backoff: BackoffPolicy; random?: () => number },
): Promise<{ retried: number[]; dead: number[] }> {
  const { relayId, maxAttempts, backoff } = options;
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`markFailed: maxAttempts must be a positive integer (got ${maxAttempts})`);
  // One update per row: with duplicates the join would pick one arbitrarily.
  const byId = new Map<number, string>();
  for (const f of options.failures) byId.set(f.id, truncate(f.error));
  if (byId.size === 0) return { retried: [], dead: [] };

  const random = options.random ?? Math.random;
  const schedule: number[] = [];
  for (let k = 0; k < byId.size; k++) {
    const r = random();
    for (let attempt = 1; attempt <= maxAttempts; attempt++) schedule.push(nextDelayMs(attempt, backoff, () => r));
  }
  const { rows } = await db.query<{ id: string; status: 'pending' | 'dead' }>({
    name: 'outbox_mark_failed',
    text: MARK_FAILED_SQL,
    values: [[...byId.keys()], [...byId.values()], schedule, maxAttempts, relayId],
  });
  const retried: number[] = [];
  const dead: number[] = [];
  for (const row of rows) (row.status === 'dead' ? dead : retried).push(Number(row.id));
  retried.sort((a, b) => a - b);
  dead.sort((a, b) => a - b);
  return { retried, dead };
}

function truncate(error: string): string {
  // Postgres text cannot hold NUL; an error message from a driver might.
  const clean = error.replaceAll('\u0000', '');
  return clean.length <= MAX_ERROR_LENGTH ? clean : `${clean.slice(0, MAX_ERROR_LENGTH - 1)}…`;
}
