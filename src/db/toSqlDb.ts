import type pg from 'pg';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { toError } from '../errors.ts';
import { classifyPgError } from './classifyPgError.ts';
import type { PoolMode, QueryResult, SqlDb, Statement, TransactionOptions } from './sqlDb.ts';

/**
 * What this library's functions accept as a database: a node-postgres Pool,
 * Client or PoolClient; a drizzle database over node-postgres (its
 * `$client` is used directly); a drizzle transaction (statements run through
 * it, a nested transaction is its savepoint); or a handle of our own.
 */
// Any drizzle schema will do: only `execute`, `transaction` and `$client` are used.
export type DbLike = pg.Pool | pg.PoolClient | pg.Client | NodePgDatabase<any> | SqlDb;

const OURS = new WeakSet<SqlDb>();

/** The handle `db` is, or becomes. `poolMode` applies to a pool or client (default 'transaction': safe behind any pooler). */
export function toSqlDb(db: DbLike, poolMode: PoolMode = 'transaction'): SqlDb {
  if (OURS.has(db as SqlDb)) return db as SqlDb;
  const value = db as unknown as Record<string, unknown>;
  if (typeof value.query !== 'function') {
    // A drizzle database carries its node-postgres client; a drizzle transaction does not.
    const inner = value.$client as DbLike | undefined;
    if (inner !== undefined && typeof (inner as { query?: unknown }).query === 'function') return toSqlDb(inner, poolMode);
    return drizzleTransactionDb(db as NodePgDatabase<Record<string, unknown>>);
  }
  // pg.Pool counts its clients; a Client or PoolClient does not.
  if (typeof value.totalCount === 'number') return poolDb(db as pg.Pool, poolMode);
  return clientDb(db as pg.ClientBase, poolMode, { inTransaction: false });
}

/** Statements on a pool: each on whichever client is free; a transaction or connection checks one out. */
export function poolDb(pool: pg.Pool, poolMode: PoolMode = 'transaction'): SqlDb {
  return ours({
    poolMode,
    query: async <R>(statement: string | Statement, values?: readonly unknown[]) => (await pool.query(toConfig(statement, values, poolMode))) as unknown as QueryResult<R>,
    transaction: async (body, options) => {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return await begin(client, clientDb(client, poolMode, { inTransaction: true }), body, options, (error) => (broken = error));
      } catch (error) {
        // A client that met a `reconnect` error (a read-only server after a
        // failover, a restart) is destroyed: back in the pool it would answer
        // "read-only" to every later transaction.
        if (classifyPgError(error) === 'reconnect') broken ??= toError(error);
        throw error;
      } finally {
        // A client whose ROLLBACK failed is in an unknown state: destroy it rather than pool it.
        client.release(broken);
      }
    },
    connection: async (body) => {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        return await body(clientDb(client, poolMode, { inTransaction: false }));
      } catch (error) {
        broken = toError(error);
        throw error;
      } finally {
        client.release(broken);
      }
    },
  });
}

/**
 * Statements on one client. A caller's client (not in a transaction of ours)
 * gets BEGIN … COMMIT for a transaction, as drizzle does for a client; the
 * client of a transaction of ours gets a savepoint.
 */
function clientDb(client: pg.ClientBase, poolMode: PoolMode, state: { inTransaction: boolean }): SqlDb {
  let savepoints = 0;
  const db: SqlDb = ours({
    poolMode,
    query: async <R>(statement: string | Statement, values?: readonly unknown[]) => (await client.query(toConfig(statement, values, poolMode))) as unknown as QueryResult<R>,
    transaction: (body, options) =>
      state.inTransaction ? savepoint(client, db, `outbox_relay_${++savepoints}`, body) : begin(client, clientDb(client, poolMode, { inTransaction: true }), body, options),
    connection: (body) => body(db),
  });
  return db;
}

/** A drizzle transaction: statements through its `execute`, a nested transaction is drizzle's savepoint. */
function drizzleTransactionDb(tx: NodePgDatabase<Record<string, unknown>>): SqlDb {
  const db: SqlDb = ours({
    poolMode: 'transaction',
    query: async <R>(statement: string | Statement, values?: readonly unknown[]) => {
      // The caller loaded drizzle-orm already: only a drizzle transaction gets here.
      const { sql } = await import('drizzle-orm');
      const config = toConfig(statement, values, 'transaction');
      const params = config.values ?? [];
      // `$n` placeholders become drizzle parameters; every value stays one bind
      // parameter (drizzle would spread a plain array into a list).
      const chunks = config.text.split(/\$(\d+)/).map((piece, i) => (i % 2 === 0 ? sql.raw(piece) : sql.param(params[Number(piece) - 1])));
      return (await tx.execute(sql.join(chunks))) as unknown as QueryResult<R>;
    },
    transaction: (body, options) =>
      tx.transaction((inner) => body(drizzleTransactionDb(inner)), options?.isolation ? { isolationLevel: options.isolation } : undefined),
    connection: (body) => body(db),
  });
  return db;
}

async function begin<T>(
  client: pg.ClientBase,
  tx: SqlDb,
  body: (tx: SqlDb) => Promise<T>,
  options: TransactionOptions | undefined,
  rollbackFailed?: (error: Error) => void,
): Promise<T> {
  await client.query(options?.isolation === 'read committed' ? 'BEGIN ISOLATION LEVEL READ COMMITTED' : 'BEGIN');
  try {
    const value = await body(tx);
    await client.query('COMMIT');
    return value;
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: unknown) => rollbackFailed?.(toError(rollbackError)));
    throw error;
  }
}

async function savepoint<T>(client: pg.ClientBase, tx: SqlDb, name: string, body: (tx: SqlDb) => Promise<T>): Promise<T> {
  await client.query(`SAVEPOINT ${name}`);
  try {
    const value = await body(tx);
    await client.query(`RELEASE SAVEPOINT ${name}`);
    return value;
  } catch (error) {
    // A failure here leaves the outer transaction aborted: its own ROLLBACK follows.
    await client.query(`ROLLBACK TO SAVEPOINT ${name}`).catch(() => {});
    throw error;
  }
}

function toConfig(statement: string | Statement, values: readonly unknown[] | undefined, poolMode: PoolMode): pg.QueryConfig {
  if (typeof statement === 'string') return { text: statement, values: values as unknown[] | undefined };
  const config: pg.QueryConfig = { text: statement.text, values: (statement.values ?? values) as unknown[] | undefined };
  if (statement.name !== undefined && poolMode === 'session') config.name = statement.name;
  return config;
}

function ours(db: SqlDb): SqlDb {
  OURS.add(db);
  return db;
}
