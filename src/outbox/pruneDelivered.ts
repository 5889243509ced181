import type { Db } from '../db/client.ts';

/**
 * Advisory lock key for pruning (one relay at a time). A fixed constant
 * rather than hashtext(), whose output is not promised across versions.
 */
export const PRUNE_LOCK_KEY = 7_420_151_001n;

export const DEFAULT_PRUNE_BATCH_SIZE = 5_000;
export const DEFAULT_PRUNE_MAX_BATCHES = 100;

/**
 * Bounded batches, each its own autocommitted statement: no long transaction
 * that would hold back the xmin horizon (and so vacuum of the hot outbox),
 * and dead tuples vacuumed as we go. Oldest first, through
 * outbox_delivered_delivered_at_idx.
 */
const DELETE_BATCH_SQL = `
DELETE FROM outbox_delivered
 WHERE id IN (SELECT id
                FROM outbox_delivered
               WHERE delivered_at < now() - $1::float8 * interval '1 millisecond'
               ORDER BY delivered_at
               LIMIT $2)`;

/**
 * Delete delivered rows older than `retentionMs`, at most `batchSize` per
 * statement and `maxBatches` statements per call. If another session holds
 * the prune lock, does nothing and says so.
 */
export async function pruneDelivered(
  db: Db,
  options: { retentionMs: number; batchSize?: number; maxBatches?: number },
): Promise<{ ran: true; deleted: number } | { ran: false; reason: 'locked' }> {
  const batchSize = options.batchSize ?? DEFAULT_PRUNE_BATCH_SIZE;
  const maxBatches = options.maxBatches ?? DEFAULT_PRUNE_MAX_BATCHES;
  if (!(options.retentionMs >= 0)) throw new RangeError(`pruneDelivered: retentionMs must be >= 0 (got ${options.retentionMs})`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`pruneDelivered: batchSize must be a positive integer (got ${batchSize})`);
  if (!Number.isInteger(maxBatches) || maxBatches < 1) throw new RangeError(`pruneDelivered: maxBatches must be a positive integer (got ${maxBatches})`);

  // A session-level advisory lock belongs to a connection: take it, use it
  // and release it on one checked-out client.
  const client = await db.$client.connect();
  let broken: Error | undefined;
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [PRUNE_LOCK_KEY.toString()]);
    if (!rows[0]?.locked) return { ran: false, reason: 'locked' };
    try {
      let deleted = 0;
      for (let batch = 0; batch < maxBatches; batch++) {
        const result = await client.query(DELETE_BATCH_SQL, [options.retentionMs, batchSize]);
        const n = result.rowCount ?? 0;
        deleted += n;
        if (n < batchSize) break;
      }
      return { ran: true, deleted };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [PRUNE_LOCK_KEY.toString()]).catch((error: unknown) => {
        broken = error instanceof Error ? error : new Error(String(error));
      });
    }
  } catch (error) {
    broken ??= error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    // A client that may still hold the lock must not go back to the pool:
    // destroying the connection releases it.
    client.release(broken);
  }
}
