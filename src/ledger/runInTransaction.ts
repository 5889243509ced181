import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { classifyPgError } from '../db/classifyPgError.ts';
import { classifyHandle, runnerFor, type DbLike, type SqlRunner } from '../db/sqlRunner.ts';
import { DatabaseError, OutboxRelayError, pgErrorCode } from '../errors.ts';

/** The handle a transaction body receives. */
export type Tx = SqlRunner;

export const DEFAULT_MAX_RETRIES = 5;

/**
 * Run `body` in one READ COMMITTED transaction (a savepoint when `db` is
 * already a drizzle transaction) and run it again from the start on a
 * serialization failure or deadlock, up to `maxRetries` times.
 *
 * Our own typed errors and errors without a SQLSTATE (a test hook, a bug)
 * propagate as they are; any other Postgres error becomes
 * `OutboxRelayError('DATABASE_ERROR')` with the original as `cause`.
 */
export async function runInTransaction<T>(db: DbLike, body: (tx: Tx) => Promise<T>, options: { maxRetries?: number } = {}): Promise<T> {
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  for (let attempt = 0; ; attempt++) {
    try {
      return await transactionOnce(db, body);
    } catch (error) {
      if (error instanceof OutboxRelayError) throw error;
      const kind = classifyPgError(error);
      const code = pgErrorCode(error);
      if (kind === 'reconnect') {
        // Not retried here: the connection may have dropped during COMMIT, so
        // the transaction may have committed. The caller retries (a posting
        // with the same idempotency key is answered, not written twice).
        throw new DatabaseError(`database unavailable${code ? ` (${code})` : ''}: ${rootMessage(error)}; retry later`, {
          cause: error,
          details: { ...(code ? { sqlstate: code } : {}), transient: true, attempts: attempt + 1 },
        });
      }
      if (code === undefined) throw error;
      if (kind === 'retry-transaction' && attempt < maxRetries) {
        // Full jitter, so the transactions that collided do not collide again in step.
        await sleep(Math.random() * Math.min(200, 10 * 2 ** attempt));
        continue;
      }
      throw new DatabaseError(`database error ${code}: ${rootMessage(error)}`, { cause: error, details: { sqlstate: code, attempts: attempt + 1 } });
    }
  }
}

async function transactionOnce<T>(db: DbLike, body: (tx: Tx) => Promise<T>): Promise<T> {
  const handle = classifyHandle(db);
  switch (handle.kind) {
    case 'drizzle-tx':
      // drizzle nests it in a savepoint of the caller's transaction.
      return handle.tx.transaction((inner) => body(runnerFor({ kind: 'drizzle-tx', tx: inner })), { isolationLevel: 'read committed' });
    case 'client':
      // As drizzle did for a client: BEGIN on it (a client already inside a transaction gets a warning, not a savepoint).
      return onClient(handle.client, body);
    case 'pool': {
      const client = await handle.pool.connect();
      let broken: Error | undefined;
      try {
        return await onClient(client, body, (error) => (broken = error));
      } catch (error) {
        // A client that met a `reconnect` error (a read-only server after a
        // failover, a restart) is destroyed: back in the pool it would answer
        // "read-only" to every later posting.
        if (classifyPgError(error) === 'reconnect') broken ??= error instanceof Error ? error : new Error(String(error));
        throw error;
      } finally {
        // A client whose ROLLBACK failed is in an unknown state: destroy it rather than pool it.
        client.release(broken);
      }
    }
  }
}

async function onClient<T>(client: pg.ClientBase, body: (tx: Tx) => Promise<T>, rollbackFailed?: (error: Error) => void): Promise<T> {
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    const result = await body(runnerFor({ kind: 'client', client }));
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => rollbackFailed?.(rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError))));
    throw error;
  }
}

/** The constraint a Postgres error names (node-postgres sets `constraint`), looking through wrappers. */
export function pgConstraint(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const constraint = (current as { constraint?: unknown }).constraint;
    if (typeof constraint === 'string') return constraint;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

// drizzle wraps driver errors in a message that repeats the query and all
// its parameters (megabytes for a large posting); the driver's own is enough.
function rootMessage(error: unknown): string {
  let current: unknown = error;
  let message = String(error);
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message;
    current = current.cause;
  }
  return message;
}
