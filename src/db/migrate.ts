import { fileURLToPath } from 'node:url';
import pg from 'pg';

// The package's own drizzle/ folder, from src/db/ (checkout) and dist/db/
// (installed package) alike; never the working directory.
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

// Any constant works; it only has to be the same for every process migrating.
const MIGRATION_LOCK_KEY = 7_406_114_201;

/**
 * Applies drizzle-kit's migrations. Idempotent; safe when several processes
 * (relay replicas, test files) start at once: they queue on an advisory lock.
 */
export async function runMigrations(databaseUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'outbox-relay-migrate' });
  // drizzle-orm loads only here, not with the package: a writer that imports
  // the library but migrates with the CLI never pays for it (src/db/pool.ts).
  const [{ drizzle }, { migrate }] = await Promise.all([import('drizzle-orm/node-postgres'), import('drizzle-orm/node-postgres/migrator')]);
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
    // Quiet "schema already exists, skipping" notices.
    await client.query("SET client_min_messages = 'warning'");
    await migrate(drizzle({ client }), { migrationsFolder: MIGRATIONS_FOLDER });
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => {});
    await client.end();
  }
}
