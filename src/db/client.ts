import type pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { createPool, type PoolOptions } from './pool.ts';
import * as schema from './schema.ts';

export type Schema = typeof schema;
/** The drizzle database this library works with, over a node-postgres pool. */
export type Db = NodePgDatabase<Schema> & { $client: pg.Pool };

/**
 * A drizzle database with this library's schema, for typed queries. It loads
 * drizzle-orm, so the writer API never needs it: pass the pool itself there.
 */
export function createDb(pool: pg.Pool): Db {
  return drizzle({ client: pool, schema }) as Db;
}

export { schema };
export { createPool, type PoolOptions };
