import type { SqlDb } from '../db/sqlDb.ts';
import { tryInLockedTransaction } from '../db/tryInLockedTransaction.ts';

/**
 * Advisory lock key for pruning (one relay at a time). A fixed constant
 * rather than hashtext(), whose output is not promised across versions.
 */
export const PRUNE_LOCK_KEY = 7_420_151_001n;

export const DEFAULT_PRUNE_BATCH_SIZE = 5_000;
export const DEFAULT_PRUNE_MAX_BATCHES = 100;

/**
 * Bounded batches, each its own short transaction that takes the prune lock
 * (transaction-scoped, so it cannot leak on a pooled server connection) and
 * deletes one batch: no long transaction that would hold back the xmin
 * horizon (and so vacuum of the hot outbox), and dead tuples vacuumed as we
 * go. Oldest first, through outbox_delivered_delivered_at_idx.
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
  db: SqlDb,
  options: { retentionMs: number; batchSize?: number; maxBatches?: number },
): Promise<{ ran: true; deleted: number } | { ran: false; reason: 'locked' }> {
  const batchSize = options.batchSize ?? DEFAULT_PRUNE_BATCH_SIZE;
  const maxBatches = options.maxBatches ?? DEFAULT_PRUNE_MAX_BATCHES;
  if (!(options.retentionMs >= 0)) throw new RangeError(`pruneDelivered: retentionMs must be >= 0 (got ${options.retentionMs})`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`pruneDelivered: batchSize must be a positive integer (got ${batchSize})`);
  if (!Number.isInteger(maxBatches) || maxBatches < 1) throw new RangeError(`pruneDelivered: maxBatches must be a positive integer (got ${maxBatches})`);

  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const outcome = await tryInLockedTransaction(db, PRUNE_LOCK_KEY, async (tx) => (await tx.query(DELETE_BATCH_SQL, [options.retentionMs, batchSize])).rowCount ?? 0);
    // Locked at the first batch: another relay prunes. Later: it took over between our batches.
    if (!outcome.ran) return batch === 0 ? outcome : { ran: true, deleted };
    deleted += outcome.value;
    if (outcome.value < batchSize) break;
  }
  return { ran: true, deleted };
}
