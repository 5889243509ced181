import type pg from 'pg';
import type { SqlDb } from '../db/pool.ts';
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
  db: SqlDb,
  target: { eventIds: string[] } | { all: true },
  options: {
    /**
     * Runs inside the requeue's transaction, after the update, with the event
     * ids it moved (the audit row goes here: both commit or neither).
     */
    alsoInTransaction?: (client: pg.PoolClient, requeuedEventIds: string[]) => Promise<void>;
  } = {},
): Promise<{ requeued: number; notFound: string[] }> {
  // Malformed ids never reach SQL (a uuid cast error would fail the batch).
  const given = 'eventIds' in target ? [...new Set(target.eventIds)] : undefined;
  const wanted = given?.filter((raw) => UUID_PATTERN.test(raw.trim())).map((raw) => raw.trim().toLowerCase());
  if (given && wanted?.length === 0 && !options.alsoInTransaction) return { requeued: 0, notFound: given };

  const client = await db.$client.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const { rows } = wanted
      ? await client.query<{ event_id: string }>(`UPDATE outbox ${SET_PENDING} WHERE status = 'dead' AND event_id = ANY($1::uuid[]) RETURNING event_id`, [wanted])
      : await client.query<{ event_id: string }>(`UPDATE outbox ${SET_PENDING} WHERE status = 'dead' RETURNING event_id`);
    // One notification per transaction, constant channel, empty payload (DESIGN.md).
    if (rows.length > 0) await client.query(`SELECT pg_notify('outbox', '')`);
    await options.alsoInTransaction?.(client, rows.map((r) => r.event_id));
    await client.query('COMMIT');
    const requeued = new Set(rows.map((r) => r.event_id.toLowerCase()));
    const notFound = (given ?? []).filter((raw) => !requeued.has(raw.trim().toLowerCase()));
    return { requeued: rows.length, notFound };
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
