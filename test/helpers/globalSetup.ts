import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { startPgBouncer } from '../../scripts/pgbouncer.ts';
import { MIGRATIONS_FOLDER, runMigrations } from '../../src/db/migrate.ts';
import { resolveTestServices } from './testServices.ts';
import { adminUrl, withDatabase } from './urls.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    services: {
      databaseUrl: string;
      mongoUrl: string;
      templateDatabase: string;
      runId: string;
      /** databaseUrl through this run's PgBouncer (transaction pooling, default_pool_size 4); any database name is routed. */
      pgbouncerUrl: string;
    };
  }
}

function migrationsHash(): string {
  const hash = createHash('sha256');
  for (const file of readdirSync(MIGRATIONS_FOLDER).filter((f) => f.endsWith('.sql')).sort()) {
    hash.update(file).update(readFileSync(join(MIGRATIONS_FOLDER, file)));
  }
  return hash.digest('hex').slice(0, 12);
}

/**
 * One set of services for the whole run; each test file then clones its own
 * database from a migrated template ("creating a database costs milliseconds").
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await resolveTestServices();
  const templateDatabase = `outbox_relay_tpl_${migrationsHash()}`;
  const admin = new pg.Client({ connectionString: adminUrl(services.databaseUrl) });
  await admin.connect();
  try {
    // Serialise template creation across concurrent runs.
    await admin.query('SELECT pg_advisory_lock(74061142)');
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [templateDatabase]);
    if (exists.rowCount === 0) {
      const building = `${templateDatabase}_building`;
      await admin.query(`DROP DATABASE IF EXISTS "${building}"`);
      await admin.query(`CREATE DATABASE "${building}"`);
      await runMigrations(withDatabase(services.databaseUrl, building));
      await admin.query(`ALTER DATABASE "${building}" RENAME TO "${templateDatabase}"`);
    }
    await admin.query('SELECT pg_advisory_unlock(74061142)');
  } finally {
    await admin.end();
  }
  const runId = randomBytes(3).toString('hex');
  // One PgBouncer for the run, in front of the same PostgreSQL (test/int/pgbouncer/).
  const target = new URL(services.databaseUrl);
  const bouncer = await startPgBouncer({ target: { host: target.hostname, port: Number(target.port || 5432) }, poolMode: 'transaction', defaultPoolSize: 4 });
  const pgbouncerUrl = new URL(services.databaseUrl);
  pgbouncerUrl.hostname = '127.0.0.1';
  pgbouncerUrl.port = String(bouncer.port);
  project.provide('services', { databaseUrl: services.databaseUrl, mongoUrl: services.mongoUrl, templateDatabase, runId, pgbouncerUrl: pgbouncerUrl.toString() });
  return async () => {
    await bouncer.stop();
    await services.stop();
  };
}
