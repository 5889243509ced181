/**
 * The one database handle every module of this library runs its SQL on:
 * outbox, relay, reconcile, rebuild, control and the ledger's writer API.
 * A pool, a transaction's connection and a drizzle transaction all become
 * one (db/toSqlDb.ts), so a statement is written once and runs on any of
 * them. Plain node-postgres underneath: the relay never loads drizzle-orm,
 * whose import costs about 230 MiB of V8 heap at start on Node 24 (measured:
 * a bare process 44 MiB peak RSS, after `import 'drizzle-orm/node-postgres'`
 * 283 MiB), more than the relay's whole memory budget.
 */
export interface SqlDb {
  /** How this handle reaches PostgreSQL: decides whether a named statement keeps its name. */
  readonly poolMode: PoolMode;
  /**
   * One statement: text with `$n` parameters, or a statement object (a
   * `sql-template-tag` Sql, or `{ text, values, name }`). A `name` makes it
   * a prepared statement only on a session-mode handle (see PoolMode).
   */
  query<R = Record<string, unknown>>(statement: string | Statement, values?: readonly unknown[]): Promise<QueryResult<R>>;
  /**
   * `body` in one transaction on one connection: BEGIN … COMMIT, ROLLBACK on
   * any error. On a handle that is already a transaction, a savepoint.
   */
  transaction<T>(body: (tx: SqlDb) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /**
   * `body` with every statement on one connection and no transaction of
   * ours, so session state (a temp table) lasts until `body` ends. A
   * connection whose `body` failed is closed rather than pooled: it may
   * still hold that state.
   */
  connection<T>(body: (db: SqlDb) => Promise<T>): Promise<T>;
}

/** What `query` runs: node-postgres' statement shape, which a `sql-template-tag` Sql also has. */
export interface Statement {
  readonly text: string;
  readonly values?: readonly unknown[];
  /** A name for the statement's plan, kept only on a session-mode handle. */
  readonly name?: string;
}

export interface QueryResult<R> {
  rows: R[];
  rowCount: number | null;
}

export interface TransactionOptions {
  /** The writer API asks for READ COMMITTED whatever the database's default is. */
  isolation?: 'read committed';
}

/**
 * What may be assumed to survive between two transactions on one pooled
 * client. 'transaction' (the default, safe everywhere): nothing, because a
 * transaction-pooling PgBouncer hands each transaction whichever server
 * connection is free, so no named prepared statements, no session advisory
 * locks, no `SET` without `LOCAL`, no temp table outliving its transaction.
 * 'session': DATABASE_URL is direct or session-pooled, so session state is
 * ours until the client is closed; the hot statements are then prepared once
 * per connection (docs/deployment.md, "PostgreSQL poolers").
 *
 * Why names only in session mode: through a transaction-pooling PgBouncer a
 * name breaks. The statement is prepared on one server connection, the next
 * execution lands on another ("prepared statement … does not exist"), or a
 * fresh client prepares it again on a connection that has it ("… already
 * exists": two relays behind PgBouncer 1.18 delivered nothing). Unnamed, each
 * execution is one Parse/Bind/Execute with a custom plan, which stays on the
 * same index paths (test/int/outbox/claimBatch.int.test.ts) and costs little
 * extra (bench: "claim latency").
 */
export type PoolMode = 'transaction' | 'session';
