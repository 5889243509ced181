/**
 * The upgrade path: a database at the schema before PostgreSQL kept metadata
 * content (migrations 0000–0007), written by the writer of that time (content
 * only in outbox payloads), some payloads pruned; then `outbox-relay migrate`.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { postWithPayloadEvents } from '../../bench/support/payloadPosting.ts';
import { createDb, createPool, type Db } from '../../src/db/client.ts';
import { MIGRATIONS_FOLDER } from '../../src/db/migrate.ts';
import { metadataHash } from '../../src/metadata/metadataHash.ts';
import { reconcile } from '../../src/reconcile/reconcile.ts';
import { MongoClient } from 'mongodb';
import { spawnCli } from '../helpers/relayProcess.ts';
import { adminUrl, withDatabase } from '../helpers/urls.ts';

const PREVIOUS_SCHEMA = 7; // 0007_pause_in_outbox_lag: the last migration before metadata content
let databaseUrl: string;
let name: string;
let pool: pg.Pool;
let db: Db;

beforeAll(async () => {
  const { databaseUrl: baseUrl, runId } = inject('services');
  name = `outbox_relay_t_${runId}_upgrade_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl(baseUrl) });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  databaseUrl = withDatabase(baseUrl, name);
  // The migrations folder as it was: 0000–0007 and their journal entries.
  const folder = mkdtempSync(join(tmpdir(), 'outbox-relay-previous-'));
  cpSync(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalPath, 'utf8')) as { entries: { idx: number }[] };
  journal.entries = journal.entries.filter((e) => e.idx <= PREVIOUS_SCHEMA);
  writeFileSync(journalPath, JSON.stringify(journal));
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query("SET client_min_messages = 'warning'");
    await migrate(drizzle({ client }), { migrationsFolder: folder });
  } finally {
    await client.end();
    rmSync(folder, { recursive: true, force: true });
  }
  pool = createPool(databaseUrl, { max: 4 });
  db = createDb(pool);
});

afterAll(async () => {
  await pool?.end();
  const admin = new pg.Client({ connectionString: adminUrl(inject('services').databaseUrl) });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin.end();
});

/** The previous updateTransactionMetadata: version and hash on the row, the content only in the event. */
async function previousUpdate(id: string, metadata: Record<string, string | number | boolean>): Promise<void> {
  await pool.query(
    `WITH t AS (UPDATE "transaction" SET metadata_version = metadata_version + 1, metadata_hash = $2 WHERE id = $1 RETURNING id::text, metadata_version)
     INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
     SELECT gen_random_uuid(), 'transaction', t.id, t.metadata_version, 'metadata.upserted', $3::jsonb FROM t`,
    [id, metadataHash(metadata), JSON.stringify({ metadata })],
  );
}

/** What a relay of that time did: the rows move to outbox_delivered. */
async function deliverAllPrevious(): Promise<void> {
  await pool.query(`
    WITH moved AS (DELETE FROM outbox RETURNING *)
    INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, delivered_by)
    SELECT id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, 'old-relay' FROM moved`);
}

describe('upgrade to PostgreSQL-held metadata (migrations 0008, 0009)', () => {
  it('fills the content from the newest retained payloads, reports what was pruned (migrate output, metadata_backfill, reconcile), and fails nowhere', async () => {
    await pool.query(`INSERT INTO balance (account, asset, allow_negative) VALUES ('world', 'EUR', true), ('alice', 'EUR', false)`);
    const post = (i: number, withOperationMetadata: boolean) =>
      postWithPayloadEvents(db, {
        idempotencyKey: `old-${i}`,
        metadata: { invoice: `INV-${i}` },
        entries: [
          { account: 'world', asset: 'EUR', direction: 'debit', amount: '5' },
          { account: 'alice', asset: 'EUR', direction: 'credit', amount: '5', ...(withOperationMetadata ? { metadata: { line: i } } : {}) },
        ],
      });
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await post(i, i < 10));
    await deliverAllPrevious();
    // Pruned: the payloads of transactions 0–4 and of every operation of 0–2.
    await pool.query(`DELETE FROM outbox_delivered WHERE aggregate_type = 'transaction' AND aggregate_id = ANY($1)`, [ids.slice(0, 5)]);
    await pool.query(`DELETE FROM outbox_delivered WHERE aggregate_type = 'operation' AND aggregate_id IN (SELECT id::text FROM operation WHERE transaction_id = ANY($1::uuid[]))`, [ids.slice(0, 3)]);
    // Transaction 10: v2 delivered and retained, v3 still pending → filled with v3 (newest, at the row's version).
    // Transaction 11: v2's payload pruned, v1's retained → v1 content is not v2's: not filled.
    await previousUpdate(ids[10]!, { invoice: 'INV-10', v: 2 });
    await previousUpdate(ids[11]!, { invoice: 'INV-11', v: 2 });
    await deliverAllPrevious();
    await pool.query(`DELETE FROM outbox_delivered WHERE aggregate_id = $1 AND version = 2`, [ids[11]]);
    await previousUpdate(ids[10]!, { invoice: 'INV-10', v: 3 });

    const migrated = spawnCli(['migrate'], { DATABASE_URL: databaseUrl });
    const { code } = await migrated.exited;
    expect(code, migrated.output()).toBe(0);
    expect(migrated.output()).toMatch(/metadata content: transaction: 14 filled from retained outbox payloads, 6 NOT filled \(their payloads were pruned\)/);
    expect(migrated.output()).toMatch(/metadata content: operation: 7 filled from retained outbox payloads, 3 NOT filled/);

    const { rows } = await pool.query<{ id: string; metadata: unknown; metadata_hash: string }>(`SELECT id::text AS id, metadata, metadata_hash FROM "transaction"`);
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (let i = 0; i < 20; i++) {
      const row = byId.get(ids[i]!)!;
      if (i < 5 || i === 11) expect(row.metadata, `transaction ${i}`).toBeNull();
      else {
        expect(row.metadata, `transaction ${i}`).toEqual(i === 10 ? { invoice: 'INV-10', v: 3 } : { invoice: `INV-${i}` });
        expect(metadataHash(row.metadata as Record<string, string>)).toBe(row.metadata_hash);
      }
    }
    expect((await pool.query(`SELECT aggregate_type, filled::int, missing::int FROM metadata_backfill ORDER BY aggregate_type`)).rows).toEqual([
      { aggregate_type: 'operation', filled: 7, missing: 3 },
      { aggregate_type: 'transaction', filled: 14, missing: 6 },
    ]);
    // Pending events of that time (payload kept) still deliver; the new schema accepted them untouched.
    expect((await pool.query(`SELECT count(*)::int AS n FROM outbox WHERE payload IS NOT NULL`)).rows[0].n).toBe(1);

    // reconcile reports the same entities under metadata-content.
    const mongo = new MongoClient(inject('services').mongoUrl);
    await mongo.connect();
    try {
      const report = await reconcile({ db, mongoDb: mongo.db(name.slice(0, 60)) }, { checks: ['metadata-content'] });
      expect(report.checks['metadata-content']).toMatchObject({ problems: 9, checked: 30 });
      expect(report.checks['metadata-content']?.samples.join('\n')).toContain(`transaction/${ids[11]}: PostgreSQL holds no content for v2 (pruned before the upgrade)`);
    } finally {
      await mongo.db(name.slice(0, 60)).dropDatabase().catch(() => {});
      await mongo.close();
    }
  });
});
