import type { SqlDb } from '../db/sqlDb.ts';
import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import { UUID_PATTERN } from '../uuid.ts';


/**
 * Back to pending with a fresh attempt budget, available now. last_error is
 * kept: it is the operator's evidence if the event fails again (the next
 * failure overwrites it).
 */
const SET_PENDING = `SET status = 'pending', attempts = 0, available_at = now(), dead_at = NULL, claimed_by = NULL, claimed_until = NULL`;

/**
 * Requeue dead events by event id, or all of them. Unknown, not-dead and
 * malformed ids are reported in `notFound` (in the order given), not thrown.
 * A notification on channel `outbox` is sent in the same transaction, so a
 * listening relay wakes when the rows become visible (on commit).
 */
export async function requeueDead(
  database: DbLike,
  target: { eventIds: string[] } | { all: true },
  options: {
    /**
     * Runs inside the requeue's transaction, after the update, with the event
     * ids it moved (the audit row goes here: both commit or neither).
     */
    alsoInTransaction?: (tx: SqlDb, requeuedEventIds: string[]) => Promise<void>;
  } = {},
): Promise<{ requeued: number; notFound: string[] }> {
  // Malformed ids never reach SQL (a uuid cast error would fail the batch).
  const given = 'eventIds' in target ? [...new Set(target.eventIds)] : undefined;
  const wanted = given?.filter((raw) => UUID_PATTERN.test(raw.trim())).map((raw) => raw.trim().toLowerCase());
  if (given && wanted?.length === 0 && !options.alsoInTransaction) return { requeued: 0, notFound: given };

  return toSqlDb(database).transaction(async (tx) => {
    const { rows } = wanted
      ? await tx.query<{ event_id: string }>(`UPDATE outbox ${SET_PENDING} WHERE status = 'dead' AND event_id = ANY($1::uuid[]) RETURNING event_id`, [wanted])
      : await tx.query<{ event_id: string }>(`UPDATE outbox ${SET_PENDING} WHERE status = 'dead' RETURNING event_id`);
    // One notification per transaction, constant channel, empty payload (DESIGN.md).
    if (rows.length > 0) await tx.query(`SELECT pg_notify('outbox', '')`);
    await options.alsoInTransaction?.(tx, rows.map((r) => r.event_id));
    const requeued = new Set(rows.map((r) => r.event_id.toLowerCase()));
    const notFound = (given ?? []).filter((raw) => !requeued.has(raw.trim().toLowerCase()));
    return { requeued: rows.length, notFound };
  });
}
