import type pg from 'pg';
import { toError } from '../errors.ts';

/**
 * BEGIN … COMMIT on one pooled client, ROLLBACK on any error. A client whose
 * ROLLBACK failed is destroyed rather than returned to the pool (its
 * connection state is unknown). Plain node-postgres: the relay never loads
 * drizzle-orm (db/pool.ts).
 */
export async function withPgTransaction<T>(pool: pg.Pool, body: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    const value = await body(client);
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => {
      broken = toError(rollbackError);
    });
    throw error;
  } finally {
    client.release(broken);
  }
}
