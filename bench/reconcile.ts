/**
 * Reconcile over a large ledger: rows per second and peak RSS.
 *
 *   node bench/reconcile.ts [transactions=100000] [pageSize=1000]
 *
 * Loads N transactions (2 operations each, metadata on the transaction and on
 * its credit operation: 2N documents) with bulk SQL (generate_series) and
 * insertMany in chunks into a scratch Postgres + MongoDB database, then runs
 * reconcile in a child process, so the RSS measured is the reconcile's alone.
 * Env: BENCH_PG (server URL, default postgres://postgres@127.0.0.1:5432),
 * BENCH_MONGO (default mongodb://127.0.0.1:27017).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MongoClient } from 'mongodb';
import pg from 'pg';
import { createDb, createPool } from '../src/db/client.ts';
import { runMigrations } from '../src/db/migrate.ts';
import { metadataHash } from '../src/metadata/metadataHash.ts';
import { reconcile } from '../src/reconcile/reconcile.ts';

const PG_SERVER = process.env.BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432';
const MONGO = process.env.BENCH_MONGO ?? 'mongodb://127.0.0.1:27017';
const DB_NAME = 'outbox_relay_bench_reconcile';
const CHUNK = 5000;

const url = (database: string) => `${PG_SERVER.replace(/\/[^/]*$/, (m) => (m.includes('@') || m.includes(':') ? m : ''))}/${database}`;

const txMetadata = (i: number) => ({ ref: `INV-${i}`, n: i });
const opMetadata = (i: number) => ({ note: `credit ${i}` });

async function load(n: number): Promise<void> {
  const admin = new pg.Client({ connectionString: url('postgres') });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();
  await runMigrations(url(DB_NAME));
  const client = new pg.Client({ connectionString: url(DB_NAME) });
  await client.connect();
  const t0 = Date.now();
  // 1,000 customer balances + one funding source; transaction i moves i%997+1 from world to customer i%1000.
  // Ids are derived from i (md5 → uuid) so operations and documents can name them without a lookup.
  await client.query(`INSERT INTO balance (id, account, asset, allow_negative)
    SELECT md5('b' || c)::uuid, 'customer-' || c, 'EUR', false FROM generate_series(0, 999) c
    UNION ALL SELECT md5('world')::uuid, 'world', 'EUR', true`);
  await client.query(`INSERT INTO "transaction" (id, idempotency_key, request_hash, metadata_version, metadata_hash)
    SELECT md5('t' || i)::uuid, 'k' || i, 'h', 1,
           encode(sha256(convert_to('{"n":' || i || ',"ref":"INV-' || i || '"}', 'UTF8')), 'hex')
      FROM generate_series(0, $1 - 1) i`, [n]);
  await client.query(`INSERT INTO operation (id, transaction_id, balance_id, entry_index, account, asset, direction, amount, balance_before, balance_after, metadata_version, metadata_hash)
    SELECT md5('d' || i)::uuid, md5('t' || i)::uuid, md5('world')::uuid, 0, 'world', 'EUR', 'debit', i % 997 + 1, 0, 0, 0, NULL FROM generate_series(0, $1 - 1) i
    UNION ALL
    SELECT md5('c' || i)::uuid, md5('t' || i)::uuid, md5('b' || (i % 1000))::uuid, 1, 'customer-' || (i % 1000), 'EUR', 'credit', i % 997 + 1, 0, 0, 1,
           encode(sha256(convert_to('{"note":"credit ' || i || '"}', 'UTF8')), 'hex')
      FROM generate_series(0, $1 - 1) i`, [n]);
  await client.query(`UPDATE balance b SET available = s.net, version = s.cnt
    FROM (SELECT balance_id, sum(CASE WHEN direction = 'credit' THEN amount ELSE -amount END) AS net, count(*) AS cnt FROM operation GROUP BY balance_id) s
   WHERE b.id = s.balance_id`);
  await client.query('VACUUM ANALYZE');
  const ids = await client.query<{ i: number; t: string; c: string }>(`SELECT i, md5('t' || i)::uuid::text AS t, md5('c' || i)::uuid::text AS c FROM generate_series(0, $1 - 1) i`, [n]);
  await client.end();
  const pgSeconds = (Date.now() - t0) / 1000;

  // Spot check the SQL-side hash against the library's canonical hash.
  if (metadataHash(txMetadata(7)) !== (await hashOf(7))) throw new Error('SQL hash differs from metadataHash: fix the loader');

  const mongo = new MongoClient(MONGO);
  await mongo.connect();
  const mdb = mongo.db(DB_NAME);
  await mdb.dropDatabase();
  const t1 = Date.now();
  const now = new Date();
  for (let start = 0; start < n; start += CHUNK) {
    const rows = ids.rows.slice(start, start + CHUNK);
    await mdb.collection('transaction_metadata').insertMany(rows.map((r) => ({ _id: r.t as unknown as never, metadata: txMetadata(r.i), version: 1, eventId: r.t, updatedAt: now })), { ordered: false });
    await mdb.collection('operation_metadata').insertMany(rows.map((r) => ({ _id: r.c as unknown as never, metadata: opMetadata(r.i), version: 1, eventId: r.c, updatedAt: now })), { ordered: false });
  }
  await mongo.close();
  console.log(`loaded ${n} transactions, ${2 * n} operations in Postgres in ${pgSeconds.toFixed(1)} s; ${2 * n} documents in MongoDB in ${((Date.now() - t1) / 1000).toFixed(1)} s`);
}

async function hashOf(i: number): Promise<string> {
  const client = new pg.Client({ connectionString: url(DB_NAME) });
  await client.connect();
  const { rows } = await client.query(`SELECT metadata_hash FROM "transaction" WHERE id = md5('t' || $1::int)::uuid`, [i]);
  await client.end();
  return rows[0].metadata_hash;
}

async function runChild(pageSize: number): Promise<void> {
  const pool = createPool(url(DB_NAME), { max: 2 });
  const mongo = new MongoClient(MONGO);
  await mongo.connect();
  const rssBefore = process.memoryUsage().rss;
  const report = await reconcile({ db: createDb(pool), mongoDb: mongo.db(DB_NAME) }, { pageSize });
  const perCheck = Object.fromEntries(Object.entries(report.checks).map(([name, c]) => [name, { problems: c.problems, checked: c.checked }]));
  console.log(JSON.stringify({ ok: report.ok, durationMs: report.durationMs, rssBeforeMb: Math.round(rssBefore / 1e6), peakRssMb: Math.round((process.resourceUsage().maxRSS * 1024) / 1e6), perCheck }));
  await mongo.close();
  await pool.end();
}

async function timeChecks(n: number, pageSize: number): Promise<void> {
  const pool = createPool(url(DB_NAME), { max: 2 });
  const mongo = new MongoClient(MONGO);
  await mongo.connect();
  for (const check of ['metadata-sync', 'orphan-documents', 'orphan-transactions', 'double-entry', 'balances', 'outbox-health'] as const) {
    const t0 = Date.now();
    const r = await reconcile({ db: createDb(pool), mongoDb: mongo.db(DB_NAME) }, { pageSize, checks: [check] });
    const ms = Date.now() - t0;
    const checked = r.checks[check]!.checked;
    console.log(`  ${check.padEnd(20)} ${String(ms).padStart(6)} ms  ${checked} checked  ${Math.round((checked / ms) * 1000)} /s`);
  }
  void n;
  await mongo.close();
  await pool.end();
}

const [, , first, second] = process.argv;
if (first === '--child') {
  await runChild(Number(second ?? 1000));
} else {
  const n = Number(first ?? 100_000);
  const pageSize = Number(second ?? 1000);
  await load(n);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', String(pageSize)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  await new Promise((resolve) => child.on('exit', resolve));
  const result = JSON.parse(out.trim().split('\n').pop()!);
  const rows = 3 * n + 2 * n; // Postgres rows read (transactions + operations) and MongoDB documents
  console.log(`full reconcile (pageSize ${pageSize}): ok=${result.ok} in ${(result.durationMs / 1000).toFixed(2)} s — ${Math.round((rows / result.durationMs) * 1000)} rows/s over ${rows} rows (${3 * n} Postgres + ${2 * n} MongoDB), ${Math.round((2 * n / result.durationMs) * 1000)} entities/s metadata-synced; RSS ${result.rssBeforeMb} MB at start, peak ${result.peakRssMb} MB`);
  console.log(JSON.stringify(result.perCheck));
  console.log('per check:');
  await timeChecks(n, pageSize);
}
