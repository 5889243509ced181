import { createPool, type PoolOptions } from './pool.ts';
import type { PoolMode, SqlDb } from './sqlDb.ts';
import { poolDb } from './toSqlDb.ts';

/**
 * One command's database: a small pool opened for `fn` and closed after it,
 * whatever `fn` does (the CLI's status, dead, tenant and audit commands).
 */
export async function withPoolDb<T>(databaseUrl: string, options: PoolOptions & { poolMode?: PoolMode }, fn: (db: SqlDb) => Promise<T>): Promise<T> {
  const { poolMode, ...poolOptions } = options;
  const pool = createPool(databaseUrl, poolOptions);
  try {
    return await fn(poolDb(pool, poolMode));
  } finally {
    await pool.end();
  }
}
