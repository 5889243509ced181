import type pg from 'pg';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import type { Sql } from 'sql-template-tag';

/**
 * What the writer API accepts: a node-postgres Pool, Client or PoolClient; a
 * drizzle database over node-postgres (its `$client` is used directly); or a
 * drizzle transaction (statements run through it, nested work in a savepoint).
 */
// Any drizzle schema will do: only `execute`, `transaction` and `$client` are used.
export type DbLike = pg.Pool | pg.PoolClient | pg.Client | NodePgDatabase<any>;

/** The one port the writer statements run on: node-postgres' shape, nothing more. */
export interface SqlRunner {
  query<R>(statement: Sql): Promise<{ rows: R[] }>;
}

/**
 * How a handle is driven. A writer on plain `pg` never loads drizzle-orm
 * (about 230 MiB of heap at start, src/db/pool.ts); a drizzle transaction is
 * the one handle that needs it, and its caller has loaded it already.
 */
export type Handle =
  | { kind: 'pool'; pool: pg.Pool }
  | { kind: 'client'; client: pg.ClientBase }
  | { kind: 'drizzle-tx'; tx: NodePgDatabase<Record<string, unknown>> };

export function classifyHandle(db: DbLike): Handle {
  const value = db as unknown as Record<string, unknown>;
  if (typeof value.query !== 'function') {
    // A drizzle database carries its node-postgres client; a drizzle transaction does not.
    const inner = value.$client as DbLike | undefined;
    if (inner !== undefined && typeof (inner as { query?: unknown }).query === 'function') return classifyHandle(inner);
    return { kind: 'drizzle-tx', tx: db as NodePgDatabase<Record<string, unknown>> };
  }
  // pg.Pool counts its clients; a Client or PoolClient does not.
  if (typeof value.totalCount === 'number') return { kind: 'pool', pool: db as pg.Pool };
  return { kind: 'client', client: db as pg.ClientBase };
}

/** Statements on the handle as it is (no transaction of ours). */
export function sqlRunner(db: DbLike): SqlRunner {
  return runnerFor(classifyHandle(db));
}

export function runnerFor(handle: Handle): SqlRunner {
  switch (handle.kind) {
    case 'pool':
      return { query: async <R>(statement: Sql) => (await handle.pool.query(statement.text, statement.values)) as unknown as { rows: R[] } };
    case 'client':
      return { query: async <R>(statement: Sql) => (await handle.client.query(statement.text, statement.values)) as unknown as { rows: R[] } };
    case 'drizzle-tx':
      return {
        query: async <R>(statement: Sql) => {
          const { sql } = await import('drizzle-orm');
          // Every value stays one bind parameter (drizzle would spread a plain array into a list).
          const chunks = statement.strings.flatMap((text, i) => (i < statement.values.length ? [sql.raw(text), sql.param(statement.values[i])] : [sql.raw(text)]));
          return (await handle.tx.execute(sql.join(chunks))) as unknown as { rows: R[] };
        },
      };
  }
}
