import type pg from 'pg';
import { toError } from '../errors.ts';

/**
 * Run `fn` only if this session gets the advisory lock `key` (one instance at
 * a time across relays, per DESIGN.md: Postgres advisory locks, not Redis).
 * A session-level lock belongs to a connection, so it is taken, held and
 * released on one checked-out client, which stays out of the pool meanwhile;
 * `fn` may use the pool for its own work. If unlocking fails the connection is
 * destroyed instead of returned, which releases the lock.
 */
export async function tryWithAdvisoryLock<T>(
  pool: pg.Pool,
  key: bigint,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<{ ran: true; value: T } | { ran: false; reason: 'locked' }> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [key.toString()]);
    if (!rows[0]?.locked) return { ran: false, reason: 'locked' };
    try {
      return { ran: true, value: await fn(client) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [key.toString()]).catch((error: unknown) => {
        broken = toError(error);
      });
    }
  } catch (error) {
    broken ??= toError(error);
    throw error;
  } finally {
    client.release(broken);
  }
}
