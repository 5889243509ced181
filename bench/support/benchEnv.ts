/**
 * Scratch databases for one bench run: a migrated template database
 * (`outbox_relay_bench_tpl_<run>`) cloned per scenario, and one MongoDB
 * database per scenario. Everything created here is dropped by `close()`.
 */
import { randomBytes } from 'node:crypto';
import { cpus, totalmem, type } from 'node:os';
import { MongoClient, type Db as MongoDb } from 'mongodb';
import pg from 'pg';
import { createPool } from '../../src/db/pool.ts';
import type { SqlDb } from '../../src/db/sqlDb.ts';
import { poolDb } from '../../src/db/toSqlDb.ts';
import { runMigrations } from '../../src/db/migrate.ts';

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export interface Scratch {
  databaseUrl: string;
  mongoUrl: string;
  mongoDbName: string;
  pool: pg.Pool;
  db: SqlDb;
  mongoDb: MongoDb;
  drop(): Promise<void>;
}

export interface BenchEnv {
  runId: string;
  mongoUrl: string;
  mongo: MongoClient;
  /** A fresh, migrated Postgres database and an empty MongoDB database. */
  scratch(tag: string, poolSize?: number): Promise<Scratch>;
  machine(): Promise<MachineInfo>;
  /** Write out dirty buffers now (needs superuser or pg_checkpoint; skipped when refused). */
  checkpoint(): Promise<void>;
  close(): Promise<void>;
}

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  os: string;
  node: string;
  postgres: string;
  mongoCompatible: string;
}

export async function openBenchEnv(databaseUrl: string, mongoUrl: string): Promise<BenchEnv> {
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const adminUrl = withDatabase(databaseUrl, 'postgres');
  const template = `outbox_relay_bench_tpl_${runId}`;
  // A fresh short-lived admin connection per statement: other engineers' tests on
  // this server may terminate idle backends (57P01), which must not kill a long run.
  const admin = {
    async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string): Promise<pg.QueryResult<R>> {
      const client = new pg.Client({ connectionString: adminUrl, application_name: 'outbox-relay-bench' });
      client.on('error', () => {});
      await client.connect();
      try {
        return await client.query<R>(text);
      } finally {
        await client.end().catch(() => {});
      }
    },
    async end() {},
  };
  await admin.query(`CREATE DATABASE "${template}"`);
  await runMigrations(withDatabase(databaseUrl, template));
  const mongo = new MongoClient(mongoUrl, { serverSelectionTimeoutMS: 10_000, appName: 'outbox-relay-bench' });
  await mongo.connect();
  const live = new Set<Scratch>();
  let counter = 0;

  return {
    runId,
    mongoUrl,
    mongo,
    async checkpoint() {
      await admin.query('CHECKPOINT').catch(() => {});
    },
    async scratch(tag, poolSize = 10) {
      const name = `outbox_relay_bench_${runId}_${counter++}_${tag}`.slice(0, 63);
      await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
      const url = withDatabase(databaseUrl, name);
      const pool = createPool(url, { max: poolSize, applicationName: 'outbox-relay-bench' });
      const mongoDbName = name.slice(0, 60);
      const mongoDb = mongo.db(mongoDbName);
      await mongoDb.dropDatabase().catch(() => {});
      const scratch: Scratch = {
        databaseUrl: url,
        mongoUrl,
        mongoDbName,
        pool,
        db: poolDb(pool),
        mongoDb,
        async drop() {
          live.delete(scratch);
          await mongoDb.dropDatabase().catch(() => {});
          await pool.end().catch(() => {});
          await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
        },
      };
      live.add(scratch);
      return scratch;
    },
    async machine() {
      const { rows } = await admin.query<{ v: string }>('SELECT version() AS v');
      const info = await mongo.db('admin').command({ buildInfo: 1 });
      const ferret = (info as { ferretdbVersion?: string }).ferretdbVersion;
      const cpu = cpus();
      return {
        cores: cpu.length,
        cpuModel: cpu[0]?.model ?? 'unknown',
        memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
        os: type(),
        node: process.version,
        postgres: (rows[0]?.v ?? '').split(',')[0] ?? '',
        mongoCompatible: `MongoDB ${String(info.version)}${ferret ? ` (FerretDB ${ferret})` : ''}`,
      };
    },
    async close() {
      for (const s of [...live]) await s.drop().catch(() => {});
      await admin.query(`DROP DATABASE IF EXISTS "${template}" WITH (FORCE)`).catch(() => {});
      await admin.end().catch(() => {});
      await mongo.close().catch(() => {});
    },
  };
}
