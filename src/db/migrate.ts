import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { DatabaseError, pgErrorCode } from '../errors.ts';

// The package's own drizzle/ folder, from src/db/ (checkout) and dist/db/
// (installed package) alike; never the working directory.
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

// Any constant works; it only has to be the same for every process migrating.
const MIGRATION_LOCK_KEY = 7_406_114_201;

/**
 * Applies drizzle-kit's migrations, recorded in drizzle's own table
 * (drizzle.__drizzle_migrations: hash, created_at = the migration's folder
 * timestamp), as drizzle's migrator does, so databases migrated by either
 * agree. Idempotent; safe when several processes (relay replicas, test files)
 * start at once: they queue on the lock.
 *
 * Everything, lock included, happens in ONE transaction, so it works through
 * a transaction-pooling PgBouncer as well as direct, and never half-applies:
 * - the lock is pg_advisory_xact_lock (a session lock taken through a
 *   transaction pooler stays held by some idle server connection);
 * - `SET LOCAL`, not `SET`, for the notice level;
 * - drizzle's migrator creates its bookkeeping table in autocommit before its
 *   transaction; here that is inside it too.
 * A failed migration rolls back every statement of the run and throws
 * DatabaseError (code DATABASE_ERROR) naming the migration.
 */
export async function runMigrations(databaseUrl: string, options: { migrationsFolder?: string } = {}): Promise<{ applied: string[] }> {
  // Loaded here, not with the package: a writer that imports the library but migrates with the CLI never pays for it.
  const { readMigrationFiles } = await import('drizzle-orm/migrator');
  const migrations = readMigrationFiles({ migrationsFolder: options.migrationsFolder ?? MIGRATIONS_FOLDER });
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'outbox-relay-migrate' });
  client.on('error', () => {}); // a dropped connection surfaces as the failing query's error
  await client.connect();
  const applied: string[] = [];
  let current = '(bookkeeping)';
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    // Quiet "schema already exists, skipping" notices.
    await client.query("SET LOCAL client_min_messages = 'warning'");
    await client.query('CREATE SCHEMA IF NOT EXISTS drizzle');
    await client.query('CREATE TABLE IF NOT EXISTS drizzle.__drizzle_migrations (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint)');
    const { rows } = await client.query<{ created_at: string | null }>('SELECT created_at FROM drizzle.__drizzle_migrations ORDER BY created_at DESC LIMIT 1');
    const last = rows[0]?.created_at == null ? undefined : Number(rows[0].created_at);
    for (const [index, migration] of migrations.entries()) {
      if (last !== undefined && last >= migration.folderMillis) continue;
      current = `migration #${index} (${migration.folderMillis})`;
      for (const statement of migration.sql) if (statement.trim()) await client.query(statement);
      await client.query('INSERT INTO drizzle.__drizzle_migrations (hash, created_at) VALUES ($1, $2)', [migration.hash, migration.folderMillis]);
      applied.push(current);
    }
    await client.query('COMMIT');
    return { applied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    if (/transaction blocks not allowed in statement pooling mode/i.test(error instanceof Error ? error.message : String(error))) {
      throw new DatabaseError(
        'migrate: DATABASE_URL goes through a statement-pooling PgBouncer, which refuses transactions; nothing was applied. Pass a direct URL (or one through transaction or session pooling) with --database-url',
        { cause: error, details: { poolMode: 'statement' } },
      );
    }
    const code = pgErrorCode(error);
    throw new DatabaseError(`migrate: ${current} failed${code ? ` (SQLSTATE ${code})` : ''}: ${error instanceof Error ? error.message : String(error)}; nothing was applied (one transaction)`, {
      cause: error,
      details: { migration: current, ...(code ? { sqlstate: code } : {}) },
    });
  } finally {
    await client.end().catch(() => {});
  }
}
