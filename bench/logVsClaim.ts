/**
 * The hot path's decision, measured side by side in one run on one database:
 * the per-row-lease outbox (claimBatch + markDelivered, what the relay does per
 * batch today) against the log read through slot windows (SlotDrainer), both
 * draining the same pre-written backlog into a null sink, with the same batch
 * size and workers. Per delivered event: PostgreSQL backend CPU on the
 * relay's side (its pinned connections, /proc), WAL written during the drain
 * (pg_current_wal_lsn: cluster-wide, so run it on a quiet machine), dead
 * tuples left on the outbox tables after the drain (before vacuum), and the
 * drain rate.
 *
 *   node bench/logVsClaim.ts [--events N] [--runs N]
 *
 * Needs DATABASE_URL (scripts/bench.sh or `eval "$(node scripts/services.ts)"`).
 * Creates and drops its own database. Writes bench/results/log-vs-claim-<ts>.json.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { runMigrations } from '../src/db/migrate.ts';
import { poolDb } from '../src/db/toSqlDb.ts';
import { silentLogger } from '../src/logger.ts';
import { claimBatch } from '../src/outbox/claimBatch.ts';
import { markDelivered } from '../src/outbox/markDelivered.ts';
import { SlotDrainer } from '../src/relay/slotDrainer.ts';
import type { MetadataSink } from '../src/sink/metadataSink.ts';
import { pinPool } from './support/backendCpu.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '50000' }, runs: { type: 'string', default: '3' } } });
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);
const BATCH = 500;
const WORKERS = 2;

const nullSink: MetadataSink = {
  prepare: async () => {},
  ping: async () => true,
  apply: async (events) => ({ ok: true, outcomes: new Map(events.map((e) => [e.eventId, { status: 'applied' as const }])) }),
};

interface PathFigures {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  relayPgCpuUsPerEvent: number;
  walBytesPerEvent: number;
  deadTuplesPerEvent: number;
}

async function wal(pool: pg.Pool): Promise<bigint> {
  const { rows } = await pool.query<{ lsn: string }>(`SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS lsn`);
  return BigInt(rows[0]!.lsn.split('.')[0]!);
}

async function deadTuples(pool: pg.Pool, tables: string): Promise<number> {
  // Table statistics reach the view within a second of the transactions that made them.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const { rows } = await pool.query<{ n: string }>(`SELECT coalesce(sum(n_dead_tup), 0) AS n FROM pg_stat_user_tables WHERE relname ~ $1`, [tables]);
  return Number(rows[0]!.n);
}

async function writeBacklog(pool: pg.Pool, table: 'outbox' | 'outbox_log'): Promise<void> {
  for (let done = 0; done < EVENTS; done += 5000) {
    const n = Math.min(5000, EVENTS - done);
    const ids = Array.from({ length: n }, () => randomUUID());
    await pool.query(
      `INSERT INTO ${table} (event_id, aggregate_type, aggregate_id, version, event_type, payload)
       SELECT e, 'transaction', e::text, 1, 'metadata.upserted', jsonb_build_object('metadata', jsonb_build_object('n', i))
         FROM unnest($1::uuid[]) WITH ORDINALITY AS u(e, i)`,
      [ids],
    );
  }
  await pool.query(`VACUUM ANALYZE ${table}`);
}

async function measure(admin: pg.Pool, url: string, tables: string, drain: (pool: pg.Pool) => Promise<number>): Promise<PathFigures> {
  const pool = new pg.Pool({ connectionString: url, max: WORKERS + 1, idleTimeoutMillis: 0 });
  const pinned = await pinPool(pool, WORKERS + 1);
  const deadBefore = await deadTuples(admin, tables);
  const walBefore = await wal(admin);
  const cpuBefore = pinned.read();
  const started = process.hrtime.bigint();
  const delivered = await drain(pool);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = pinned.read();
  const walAfter = await wal(admin);
  // Closed first: a backend reports its table statistics when it exits.
  await pool.end();
  const deadAfter = await deadTuples(admin, tables);
  if (delivered !== EVENTS) throw new Error(`drained ${delivered} of ${EVENTS}`);
  const backend = (cpuAfter.backendSeconds ?? Number.NaN) - (cpuBefore.backendSeconds ?? Number.NaN);
  return {
    events: delivered,
    seconds,
    eventsPerSecond: delivered / seconds,
    relayPgCpuUsPerEvent: (backend * 1e6) / delivered,
    walBytesPerEvent: Number(walAfter - walBefore) / delivered,
    deadTuplesPerEvent: (deadAfter - deadBefore) / delivered,
  };
}

async function drainClaims(pool: pg.Pool): Promise<number> {
  const db = poolDb(pool);
  const worker = async () => {
    let delivered = 0;
    for (;;) {
      const events = await claimBatch(db, { relayId: 'bench', batchSize: BATCH, leaseMs: 60_000 });
      if (events.length === 0) return delivered;
      await nullSink.apply(events.map((e) => ({ ...e, payload: e.payload! })));
      delivered += (await markDelivered(db, { relayId: 'bench', ids: events.map((e) => e.id) })).delivered.length;
    }
  };
  return (await Promise.all(Array.from({ length: WORKERS }, worker))).reduce((a, b) => a + b, 0);
}

async function drainLog(pool: pg.Pool): Promise<number> {
  const drainer = new SlotDrainer({ db: poolDb(pool), sink: nullSink, logger: silentLogger }, { owner: 'bench', batchSize: BATCH, concurrency: WORKERS, leaseMs: 600_000, budget: { maxAttempts: 3, backoffBaseMs: 100, backoffMaxMs: 1000 } });
  await drainer.rebalance();
  let delivered = 0;
  for (;;) {
    const round = await drainer.drain();
    delivered += round.delivered;
    if (round.delivered === 0) return delivered;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const base = process.env.DATABASE_URL;
  if (!base) throw new Error('DATABASE_URL is not set (eval "$(node scripts/services.ts)")');
  const name = `outbox_relay_bench_log_${process.pid}`;
  const admin0 = new pg.Pool({ connectionString: base, max: 1 });
  await admin0.query(`CREATE DATABASE ${name}`);
  const url = Object.assign(new URL(base), { pathname: `/${name}` }).toString();
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  const runs: { claim: PathFigures; log: PathFigures }[] = [];
  try {
    await runMigrations(url);
    for (let run = 0; run < RUNS; run++) {
      await admin.query(`TRUNCATE outbox, outbox_delivered, outbox_log`);
      await admin.query(`UPDATE outbox_slot SET owner = NULL, lease_until = NULL, lower = NULL, upper = NULL, after_id = NULL, max_id = NULL`);
      await writeBacklog(admin, 'outbox');
      const claim = await measure(admin, url, '^outbox$|^outbox_delivered$', drainClaims);
      await writeBacklog(admin, 'outbox_log');
      const log = await measure(admin, url, '^outbox_log|^outbox_slot$', drainLog);
      runs.push({ claim, log });
      console.error(`run ${run + 1}: claim ${JSON.stringify(claim)}\n       log   ${JSON.stringify(log)}`);
    }
  } finally {
    await admin.end();
    await admin0.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin0.end();
  }
  const pick = (path: 'claim' | 'log', key: keyof PathFigures) => median(runs.map((r) => r[path][key]));
  const keys: (keyof PathFigures)[] = ['eventsPerSecond', 'relayPgCpuUsPerEvent', 'walBytesPerEvent', 'deadTuplesPerEvent'];
  const summary = {
    at: new Date().toISOString(),
    events: EVENTS,
    runs: RUNS,
    batchSize: BATCH,
    workers: WORKERS,
    // The newest figures for the log path (issue #23's fields), medians of the runs.
    relayPgCpuUsPerEvent: pick('log', 'relayPgCpuUsPerEvent'),
    walBytesPerEvent: pick('log', 'walBytesPerEvent'),
    deadTuplesPerEvent: pick('log', 'deadTuplesPerEvent'),
    logVsClaimDrainRate: pick('log', 'eventsPerSecond') / pick('claim', 'eventsPerSecond'),
    medians: Object.fromEntries((['claim', 'log'] as const).map((path) => [path, Object.fromEntries(keys.map((k) => [k, pick(path, k)]))])),
    runsDetail: runs,
  };
  const dir = fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `log-vs-claim-${summary.at.replaceAll(':', '-').replaceAll('.', '-')}.json`);
  writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify({ ...summary, runsDetail: undefined }, null, 2));
  console.error(`written: ${file}`);
}

await main();
