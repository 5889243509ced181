import type { SqlDb } from './sqlDb.ts';

/**
 * Run `fn` inside one transaction that first takes the advisory lock `key`
 * with pg_try_advisory_xact_lock (one instance at a time across relays, per
 * DESIGN.md: Postgres advisory locks, not Redis). The lock belongs to the
 * transaction, so COMMIT, ROLLBACK or a dropped connection releases it: it
 * cannot outlive the work, whatever pooler sits in between. A session-level
 * lock, taken through a transaction-pooling PgBouncer, stays held by whichever
 * idle server connection ran the statement (measured: pruning and reconcile
 * never ran again on any relay).
 *
 * `fn` gets the transaction; it may also use `db` for work that must not sit
 * in this transaction.
 */
export async function tryInLockedTransaction<T>(
  db: SqlDb,
  key: bigint,
  fn: (tx: SqlDb) => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false; reason: 'locked' }> {
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [key.toString()]);
    // Not locked: the transaction ends at once, having done nothing.
    if (!rows[0]?.locked) return { ran: false, reason: 'locked' } as const;
    return { ran: true, value: await fn(tx) } as const;
  });
}
