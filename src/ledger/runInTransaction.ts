import { setTimeout as sleep } from 'node:timers/promises';
import { classifyPgError } from '../db/classifyPgError.ts';
import type { SqlDb } from '../db/sqlDb.ts';
import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import { DatabaseError, OutboxRelayError, pgErrorCode } from '../errors.ts';

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
export async function runInTransaction<T>(db: DbLike, body: (tx: SqlDb) => Promise<T>, options: { maxRetries?: number } = {}): Promise<T> {
  const handle = toSqlDb(db);
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  for (let attempt = 0; ; attempt++) {
    try {
      return await handle.transaction(body, { isolation: 'read committed' });
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
