import type pg from 'pg';
import { toError } from '../errors.ts';

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
 * `fn` gets the transaction's client; it may also use the pool for work that
 * must not sit in this transaction. A client whose transaction failed is
 * destroyed rather than pooled.
 */
export async function tryInLockedTransaction<T>(
  pool: pg.Pool,
  key: bigint,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false; reason: 'locked' }> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [key.toString()]);
    if (!rows[0]?.locked) {
      await client.query('ROLLBACK');
      return { ran: false, reason: 'locked' };
    }
    const value = await fn(client);
    await client.query('COMMIT');
    return { ran: true, value };
  } catch (error) {
    broken = toError(error);
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release(broken);
  }
}
