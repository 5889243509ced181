import type { SqlDb } from '../db/sqlDb.ts';

/**
 * Push the lease of rows this relay still holds to `now() + leaseMs`. The
 * relay calls it while a batch is in flight (see relay/leaseKeeper.ts), so a
 * batch that takes longer than one lease is not claimed again by another
 * relay while it is still being written.
 *
 * `claimed_by = $2`: a row another relay has already reclaimed (our lease ran
 * out while we were frozen, say) stays theirs. A lease that ran out but was
 * not reclaimed yet is extended: nobody else holds it, so we still may.
 * Returns how many rows are still ours.
 */
export async function extendClaims(db: SqlDb, options: { relayId: string; ids: readonly number[]; leaseMs: number }): Promise<number> {
  if (options.ids.length === 0) return 0;
  if (!(options.leaseMs > 0)) throw new RangeError(`extendClaims: leaseMs must be > 0 (got ${options.leaseMs})`);
  const result = await db.query({
    name: 'outbox_extend_claims',
    text: `UPDATE outbox SET claimed_until = now() + $3::float8 * interval '1 millisecond'
            WHERE id = ANY($1::bigint[]) AND claimed_by = $2 AND status = 'pending'`,
    values: [options.ids, options.relayId, options.leaseMs],
  });
  return result.rowCount ?? 0;
}
