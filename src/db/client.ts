import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { createPool, type PoolOptions, type SqlDb } from './pool.ts';
import * as schema from './schema.ts';

export type Schema = typeof schema;
/** The drizzle database this library works with, over a node-postgres pool. */
export type Db = NodePgDatabase<Schema> & { $client: pg.Pool };

/** A drizzle database, a drizzle transaction, or a node-postgres Pool/Client/PoolClient. */
export type DbLike = NodePgDatabase<Schema> | pg.Pool | pg.PoolClient | pg.Client;

export function createDb(pool: pg.Pool): Db {
  return drizzle({ client: pool, schema }) as Db;
}

function isDrizzle(value: DbLike): value is NodePgDatabase<Schema> {
  return typeof (value as { select?: unknown }).select === 'function' && typeof (value as { execute?: unknown }).execute === 'function';
}

/** One mechanism for every accepted handle: wrap pg clients/pools in drizzle (cheap, no I/O). */
export function toDrizzle(value: DbLike): NodePgDatabase<Schema> {
  if (isDrizzle(value)) return value;
  return drizzle({ client: value as pg.Pool, schema });
}

export { schema };
export { createPool, type PoolOptions, type SqlDb };
