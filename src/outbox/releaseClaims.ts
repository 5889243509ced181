import type { SqlDb } from '../db/sqlDb.ts';

/**
 * Give claimed rows back without counting an attempt: at clean shutdown, and
 * when the sink is unavailable (an outage is not the event's fault, so it
 * must not push healthy events towards dead). `delayMs` holds them back a
 * little so a struggling sink is not hit again at once.
 *
 * Only rows this relay still holds; without `ids`, all of them. Returns how
 * many rows were released.
 */
export async function releaseClaims(db: SqlDb, options: { relayId: string; ids?: number[]; delayMs?: number }): Promise<number> {
  const delayMs = Math.max(0, options.delayMs ?? 0);
  const set = `SET claimed_by = NULL, claimed_until = NULL, available_at = now() + $2::float8 * interval '1 millisecond'`;
  if (options.ids === undefined) {
    // claimed_by is not indexed (claim stamps stay HOT updates): a scan of the
    // hot table, which holds only pending and dead rows. Shutdown-only.
    const result = await db.query(`UPDATE outbox ${set} WHERE claimed_by = $1 AND status = 'pending'`, [options.relayId, delayMs]);
    return result.rowCount ?? 0;
  }
  if (options.ids.length === 0) return 0;
  const result = await db.query(`UPDATE outbox ${set} WHERE id = ANY($3::bigint[]) AND claimed_by = $1 AND status = 'pending'`, [
    options.relayId,
    delayMs,
    options.ids,
  ]);
  return result.rowCount ?? 0;
}
