import { setTimeout as sleep } from 'node:timers/promises';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { toDrizzle, type DbLike, type Schema } from '../db/client.ts';
import { DatabaseError, OutboxRelayError, pgErrorCode, RETRYABLE_PG_CODES } from '../errors.ts';

/** The handle a transaction body receives. */
export type Tx = Parameters<Parameters<NodePgDatabase<Schema>['transaction']>[0]>[0];

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
  const drizzleDb = toDrizzle(db);
  for (let attempt = 0; ; attempt++) {
    try {
      return await drizzleDb.transaction(body, { isolationLevel: 'read committed' });
    } catch (error) {
      if (error instanceof OutboxRelayError) throw error;
      const code = pgErrorCode(error);
      if (code === undefined) throw error;
      if (RETRYABLE_PG_CODES.has(code) && attempt < maxRetries) {
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
