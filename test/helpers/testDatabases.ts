/**
 * Each test file gets its own Postgres database (cloned from the migrated
 * template) and its own MongoDB database, so files run in parallel and
 * nothing leaks between them. Both are dropped when the file ends.
 */
import { randomBytes } from 'node:crypto';
import { MongoClient, type Db as MongoDb } from 'mongodb';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import { createDb, createPool, type Db } from '../../src/db/client.ts';
import type { SqlDb } from '../../src/db/sqlDb.ts';
import { poolDb } from '../../src/db/toSqlDb.ts';
import { adminUrl, withDatabase } from './urls.ts';

export interface TestDatabases {
  /** URL of this file's own Postgres database. */
  databaseUrl: string;
  /** Server URL (no database in it); use `mongoDbName` for the database. */
  mongoUrl: string;
  mongoDbName: string;
  pool: pg.Pool;
  /** The library's handle on `pool` (transaction pool mode). */
  db: SqlDb;
  /** A drizzle database on `pool`, for tests of drizzle interop. */
  drizzle: Db;
  mongo: MongoClient;
  mongoDb: MongoDb;
}

let counter = 0;

export async function createTestDatabases(): Promise<TestDatabases & { drop: () => Promise<void> }> {
  const { databaseUrl: baseUrl, mongoUrl, templateDatabase, runId } = inject('services');
  const name = `outbox_relay_t_${runId}_${process.pid}_${counter++}_${randomBytes(2).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl(baseUrl) });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${templateDatabase}"`);
  } finally {
    await admin.end();
  }
  const databaseUrl = withDatabase(baseUrl, name);
  const pool = createPool(databaseUrl, { max: 10, applicationName: 'outbox-relay-test' });
  const mongo = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 10_000 });
  await mongo.connect();
  const mongoDbName = name.slice(0, 60);
  const mongoDb = mongo.db(mongoDbName);
  return {
    databaseUrl,
    mongoUrl,
    mongoDbName,
    pool,
    db: poolDb(pool),
    drizzle: createDb(pool),
    mongo,
    mongoDb,
    drop: async () => {
      await mongoDb.dropDatabase().catch(() => {});
      await mongo.close().catch(() => {});
      await pool.end().catch(() => {});
      const dropper = new pg.Client({ connectionString: adminUrl(baseUrl) });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
    },
  };
}

/** beforeAll/afterAll wiring: `const t = useTestDatabases();` then `t().pool` inside tests. */
export function useTestDatabases(): () => TestDatabases {
  let current: (TestDatabases & { drop: () => Promise<void> }) | undefined;
  beforeAll(async () => {
    current = await createTestDatabases();
  });
  afterAll(async () => {
    await current?.drop();
  });
  return () => {
    if (!current) throw new Error('test databases are not ready: call useTestDatabases() at the top level of the file');
    return current;
  };
}
