/**
 * The operator's commands with DATABASE_URL through a real PgBouncer
 * (transaction pooling, pool size 4): migrate, status, dead list/requeue,
 * reconcile --repair.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { startPgBouncer } from '../../scripts/pgbouncer.ts';
import { MIGRATIONS_FOLDER, runMigrations } from '../../src/db/migrate.ts';
import { DatabaseError } from '../../src/errors.ts';
import { createRelay } from '../../src/relay/relay.ts';
import { insertEvents, outboxCounts } from '../helpers/outboxFixtures.ts';
import { viaPgBouncer } from '../helpers/pgbouncer.ts';
import { spawnCli } from '../helpers/relayProcess.ts';
import { testRelayConfig } from '../helpers/relayConfig.ts';
import { useTestDatabases } from '../helpers/testDatabases.ts';
import { adminUrl, withDatabase } from '../helpers/urls.ts';
import { waitFor } from '../helpers/waitFor.ts';

const t = useTestDatabases();

async function cli(args: string[]): Promise<{ code: number | null; out: string }> {
  const proc = spawnCli(args, { DATABASE_URL: viaPgBouncer(t().databaseUrl), MONGO_URL: t().mongoUrl, MONGO_DB: t().mongoDbName, OUTBOX_RELAY_LOG_LEVEL: 'silent' });
  const { code } = await proc.exited;
  return { code, out: proc.output() };
}

/** A fresh, empty database (created directly: CREATE DATABASE is an admin operation) and a way to drop it. */
async function emptyDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${new URL(t().databaseUrl).pathname.slice(1)}_m${Math.random().toString(36).slice(2, 6)}`;
  const admin = new pg.Client({ connectionString: adminUrl(t().databaseUrl) });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  return {
    url: withDatabase(t().databaseUrl, name),
    drop: async () => {
      const dropper = new pg.Client({ connectionString: adminUrl(t().databaseUrl) });
      await dropper.connect();
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).finally(() => dropper.end());
    },
  };
}

async function tablesOf(url: string): Promise<{ tables: string[]; migrations: number | null }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const tables = (await client.query<{ t: string }>(`SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema IN ('public', 'drizzle') ORDER BY 1`)).rows.map((r) => r.t);
    const migrations = tables.includes('drizzle.__drizzle_migrations') ? (await client.query<{ n: number }>('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations')).rows[0]!.n : null;
    return { tables, migrations };
  } finally {
    await client.end();
  }
}

describe('operator commands through PgBouncer (transaction pooling)', () => {
  it('migrate through PgBouncer applies every migration once, even three at a time', async () => {
    const scratch = await emptyDatabase();
    try {
      const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
      await Promise.all([runMigrations(viaPgBouncer(scratch.url)), runMigrations(viaPgBouncer(scratch.url)), runMigrations(viaPgBouncer(scratch.url))]);
      const after = await tablesOf(scratch.url);
      expect(after.migrations).toBe(journal.entries.length);
      expect(after.tables).toEqual(expect.arrayContaining(['public.outbox', 'public.outbox_delivered', 'public.reconcile_run', 'public.outbox_wakeup']));
      // And the command line, through PgBouncer, on the migrated database: a no-op.
      const proc = spawnCli(['migrate'], { DATABASE_URL: viaPgBouncer(scratch.url) });
      expect((await proc.exited).code).toBe(0);
      expect((await tablesOf(scratch.url)).migrations).toBe(journal.entries.length);
    } finally {
      await scratch.drop();
    }
  });

  it('a migration that fails leaves nothing behind (one transaction) and says which one failed', async () => {
    const scratch = await emptyDatabase();
    const folder = mkdtempSync(join(tmpdir(), 'outbox-relay-migrations-'));
    try {
      cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
      const journal = JSON.parse(readFileSync(join(folder, 'meta', '_journal.json'), 'utf8')) as { entries: { tag: string }[] };
      const last = journal.entries[journal.entries.length - 1]!.tag;
      writeFileSync(join(folder, `${last}.sql`), `${readFileSync(join(folder, `${last}.sql`), 'utf8')}\n--> statement-breakpoint\nSELECT 1 / 0;`);
      const error = await runMigrations(viaPgBouncer(scratch.url), { migrationsFolder: folder }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as DatabaseError).code).toBe('DATABASE_ERROR');
      expect((error as DatabaseError).message).toMatch(/migration #\d+.*22012.*nothing was applied/);
      expect(await tablesOf(scratch.url)).toEqual({ tables: [], migrations: null });
    } finally {
      rmSync(folder, { recursive: true, force: true });
      await scratch.drop();
    }
  });

  it('a statement-pooling PgBouncer (no transactions) makes migrate refuse with a typed error naming --database-url, leaving nothing behind', async () => {
    const scratch = await emptyDatabase();
    const target = new URL(t().databaseUrl);
    const statementBouncer = await startPgBouncer({ target: { host: target.hostname, port: Number(target.port || 5432) }, poolMode: 'statement' });
    try {
      const url = statementBouncer.url(new URL(scratch.url).pathname.slice(1), decodeURIComponent(target.username) || 'postgres');
      const error = await runMigrations(url).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(DatabaseError);
      expect((error as DatabaseError).message).toMatch(/statement-pooling PgBouncer.*nothing was applied.*--database-url/);
      const proc = spawnCli(['migrate'], { DATABASE_URL: url });
      expect((await proc.exited).code).not.toBe(0);
      expect(proc.output()).toMatch(/--database-url/);
      expect(await tablesOf(scratch.url)).toEqual({ tables: [], migrations: null });
    } finally {
      await statementBouncer.stop();
      await scratch.drop();
    }
  });

  it('status, dead list, dead requeue and reconcile --repair work through PgBouncer', async () => {
    const [deadId] = await insertEvents(t().pool, [{ aggregateId: 'pgb-dead', version: 1, metadata: { a: 1 } }]);
    await t().pool.query(`UPDATE outbox SET status = 'dead', attempts = 10, dead_at = now(), last_error = 'boom' WHERE event_id = $1`, [deadId]);
    await insertEvents(t().pool, [{ aggregateId: 'pgb-pending', version: 1, metadata: { a: 2 } }]);

    const status = await cli(['status', '--json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.out)).toMatchObject({ pendingCount: 1, deadCount: 1 });
    const dead = await cli(['dead', 'list', '--json']);
    expect(dead.code).toBe(0);
    expect(JSON.parse(dead.out)).toEqual([expect.objectContaining({ eventId: deadId, attempts: 10 })]);
    const requeue = await cli(['dead', 'requeue', deadId!]);
    expect(requeue.code).toBe(0);
    expect(requeue.out).toMatch(/requeued 1/);

    // Deliver both through PgBouncer, then lose one document in MongoDB.
    const relay = createRelay(testRelayConfig(t(), { databaseUrl: viaPgBouncer(t().databaseUrl), listenDatabaseUrl: t().databaseUrl, poolSize: 4 }));
    await relay.start();
    try {
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 30_000, message: 'drained' });
      // metadata-sync checks ledger entities; give it one with a document, then drop the document.
      const { rows } = await t().pool.query<{ id: string }>(
        `INSERT INTO "transaction" (idempotency_key, request_hash, metadata_version, metadata_hash) VALUES ('pgb-drift', 'h', 0, NULL) RETURNING id::text`,
      );
      const txId = rows[0]!.id;
      // Written the way the ledger writes metadata (outbox row in the same transaction): reuse the writer API.
      const { updateTransactionMetadata } = await import('../../src/ledger/updateMetadata.ts');
      const { createDb, createPool } = await import('../../src/db/client.ts');
      const writerPool = createPool(viaPgBouncer(t().databaseUrl), { max: 2 });
      try {
        await updateTransactionMetadata(createDb(writerPool), txId, { drift: 'me' });
      } finally {
        await writerPool.end();
      }
      const docs = t().mongoDb.collection('transaction_metadata');
      await waitFor(async () => (await docs.countDocuments({ _id: txId as never })) === 1, { timeoutMs: 30_000, message: 'document written' });
      await docs.deleteOne({ _id: txId as never });

      const repair = await cli(['reconcile', '--repair', '--json', '--check', 'metadata-sync']);
      expect(repair.code).toBe(1); // drift found (and a fix queued)
      expect(JSON.parse(repair.out).checks['metadata-sync']).toMatchObject({ problems: 1, repaired: 1 });
      await waitFor(async () => (await docs.countDocuments({ _id: txId as never })) === 1, { timeoutMs: 30_000, message: 'document repaired by the relay' });
      const clean = await cli(['reconcile', '--json', '--check', 'metadata-sync']);
      expect(clean.code).toBe(0);
      expect((await cli(['status'])).out).toMatch(/last reconcile: clean/);
    } finally {
      await relay.stop();
    }
  });
});
