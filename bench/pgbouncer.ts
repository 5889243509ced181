/**
 * `npm run bench -- --pgbouncer [--events N] [--rounds R] [--claims K]`:
 * side by side, in one run, on one machine:
 *
 * 1. Claim latency by statement strategy, on a 20,000-event backlog: the
 *    named prepared statement (what the relay always sent before; now only
 *    with OUTBOX_RELAY_POOL_MODE=session), the unnamed statement (the
 *    default now: parsed and planned at every claim), and the unnamed
 *    statement through PgBouncer (transaction pooling). Each strategy has its
 *    own one-connection pool (a named statement is reused on its connection);
 *    the strategies take turns claim by claim, each claim (500 rows) is
 *    released untimed before the next one.
 * 2. Drain rate through PgBouncer vs direct: one relay process (batch 500,
 *    concurrency 2, polling every 100 ms), a backlog of N events committed at
 *    once; direct and PgBouncer alternate, R rounds each.
 *
 * PgBouncer: a fresh one (scripts/pgbouncer.ts), transaction pooling,
 * default_pool_size 4. Writes bench/results/pgbouncer-<timestamp>.json and
 * prints a table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { startPgBouncer } from '../scripts/pgbouncer.ts';
import { createPool } from '../src/db/pool.ts';
import { poolDb } from '../src/db/toSqlDb.ts';
import { claimBatch } from '../src/outbox/claimBatch.ts';
import { RESULTS_DIR } from './run.ts';
import { openBenchEnv, type Scratch } from './support/benchEnv.ts';
import { startRelay } from './support/relayProcesses.ts';
import { anyPending, seedBacklog } from './support/seed.ts';
import { round, sleep } from './support/stats.ts';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '2' }, claims: { type: 'string', default: '200' } } });
const events = Number(args.events);
const rounds = Number(args.rounds);
const claims = Number(args.claims);
if (![events, rounds, claims].every((n) => Number.isInteger(n) && n > 0)) {
  console.error('bench/pgbouncer: --events, --rounds and --claims take whole numbers > 0');
  process.exit(2);
}
const databaseUrl = process.env.DATABASE_URL;
const mongoUrl = process.env.MONGO_URL;
if (!databaseUrl || !mongoUrl) {
  console.error('bench/pgbouncer: DATABASE_URL and MONGO_URL must be set (scripts/bench.sh sets them)');
  process.exit(2);
}

const log = (line: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${line}`);
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const env = await openBenchEnv(databaseUrl, mongoUrl);
const target = new URL(databaseUrl);
const bouncer = await startPgBouncer({ target: { host: target.hostname, port: Number(target.port || 5432) }, poolMode: 'transaction', defaultPoolSize: 4, log });
const through = (url: string) => {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(bouncer.port);
  return u.toString();
};

type Strategy = 'named (before)' | 'unnamed (now)' | 'unnamed via PgBouncer';

async function claimLatency(): Promise<Record<Strategy, { medianMs: number; p90Ms: number; p99Ms: number; runs: number }>> {
  const scratch = await env.scratch('claimlat');
  try {
    await seedBacklog(scratch.pool, 20_000);
    await scratch.pool.query('ANALYZE outbox');
    const pools: Record<Strategy, pg.Pool> = {
      'named (before)': createPool(scratch.databaseUrl, { max: 1, applicationName: 'bench-claim-named' }),
      'unnamed (now)': createPool(scratch.databaseUrl, { max: 1, applicationName: 'bench-claim-unnamed' }),
      'unnamed via PgBouncer': createPool(through(scratch.databaseUrl), { max: 1, applicationName: 'bench-claim-bouncer' }),
    };
    const handles = {
      'named (before)': poolDb(pools['named (before)'], 'session'),
      'unnamed (now)': poolDb(pools['unnamed (now)'], 'transaction'),
      'unnamed via PgBouncer': poolDb(pools['unnamed via PgBouncer'], 'transaction'),
    };
    const strategies = Object.keys(handles) as Strategy[];
    const times: Record<Strategy, number[]> = { 'named (before)': [], 'unnamed (now)': [], 'unnamed via PgBouncer': [] };
    const claimOnce = async (strategy: Strategy) => {
      const t0 = performance.now();
      const claimed = await claimBatch(handles[strategy], { relayId: 'bench-claim', batchSize: 500, leaseMs: 60_000 });
      const ms = performance.now() - t0;
      if (claimed.length === 0) throw new Error('bench: the claim found nothing (backlog gone?)');
      await scratch.pool.query(`UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = 'bench-claim'`);
      return ms;
    };
    for (const strategy of strategies) for (let i = 0; i < 10; i++) await claimOnce(strategy); // warm-up: connections, caches, plans
    for (let i = 0; i < claims; i++) {
      // Rotate who goes first, so drift is not charged to one strategy.
      for (let k = 0; k < strategies.length; k++) {
        const strategy = strategies[(i + k) % strategies.length] as Strategy;
        times[strategy].push(await claimOnce(strategy));
      }
      if (i % 50 === 49) await scratch.pool.query('VACUUM outbox');
    }
    await Promise.all(Object.values(pools).map((p) => p.end()));
    return Object.fromEntries(
      strategies.map((s) => [s, { medianMs: round(median(times[s]), 3), p90Ms: round(percentile(times[s], 90), 3), p99Ms: round(percentile(times[s], 99), 3), runs: times[s].length }]),
    ) as Record<Strategy, { medianMs: number; p90Ms: number; p99Ms: number; runs: number }>;
  } finally {
    await scratch.drop();
  }
}

async function drainOnce(route: 'direct' | 'PgBouncer', index: number): Promise<number> {
  const scratch: Scratch = await env.scratch(`pgb${index}`);
  try {
    const relay = await startRelay({
      databaseUrl: route === 'direct' ? scratch.databaseUrl : through(scratch.databaseUrl),
      mongoUrl: scratch.mongoUrl,
      mongoDb: scratch.mongoDbName,
      // Polling only: the same wake-up for both routes (LISTEN cannot go through PgBouncer).
      listen: false,
      pollIntervalMs: 100,
      id: `bench-pgb-${index}`,
    });
    try {
      const client = await scratch.pool.connect();
      try {
        await client.query('BEGIN');
        await seedBacklog(client, events);
        await client.query('ANALYZE outbox');
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      const t0 = performance.now();
      while (await anyPending(scratch.pool)) await sleep(50);
      return events / ((performance.now() - t0) / 1000);
    } finally {
      await relay.stop();
    }
  } finally {
    await scratch.drop();
  }
}

try {
  const machine = await env.machine();
  log(`bench/pgbouncer: ${machine.cores} cores, ${machine.postgres}, ${machine.mongoCompatible}, Node ${machine.node}; PgBouncer :${bouncer.port} (transaction, pool 4)`);
  log(`claim latency: ${claims} claims of 500 per strategy, interleaved …`);
  const latency = await claimLatency();
  const drains: Record<'direct' | 'PgBouncer', number[]> = { direct: [], PgBouncer: [] };
  for (let r = 0; r < rounds; r++) {
    const order: ('direct' | 'PgBouncer')[] = r % 2 === 0 ? ['direct', 'PgBouncer'] : ['PgBouncer', 'direct'];
    for (const route of order) {
      const rate = await drainOnce(route, r * 2 + order.indexOf(route));
      drains[route].push(round(rate, 0));
      log(`drain ${route} round ${r + 1}: ${round(rate, 0)} events/s`);
    }
  }
  const drainMedian = { direct: median(drains.direct), PgBouncer: median(drains.PgBouncer) };
  const result = {
    at: new Date().toISOString(),
    machine,
    pgbouncer: { version: '1.18 (Debian)', poolMode: 'transaction', defaultPoolSize: 4 },
    claimLatency: latency,
    claimLatencyRatio: { unnamedOverNamed: round(latency['unnamed (now)'].medianMs / latency['named (before)'].medianMs, 3), pgbouncerOverNamed: round(latency['unnamed via PgBouncer'].medianMs / latency['named (before)'].medianMs, 3) },
    drain: { events, rounds, eventsPerSecond: drains, median: drainMedian, pgbouncerOverDirect: round(drainMedian.PgBouncer / drainMedian.direct, 3) },
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `pgbouncer-${result.at.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(
    [
      '| claim of 500 (20,000 pending) | median ms | p90 ms | p99 ms | vs named |',
      '|---|---|---|---|---|',
      ...(Object.entries(latency) as [Strategy, { medianMs: number; p90Ms: number; p99Ms: number }][]).map(
        ([s, v]) => `| ${s} | ${v.medianMs} | ${v.p90Ms} | ${v.p99Ms} | ×${round(v.medianMs / latency['named (before)'].medianMs, 2)} |`,
      ),
      '',
      `| drain of ${events} (1 relay, polling) | events/s per round | median | vs direct |`,
      '|---|---|---|---|',
      `| direct | ${drains.direct.join(', ')} | ${drainMedian.direct} | ×1 |`,
      `| through PgBouncer | ${drains.PgBouncer.join(', ')} | ${drainMedian.PgBouncer} | ×${result.drain.pgbouncerOverDirect} |`,
      '',
      `written ${file}`,
    ].join('\n'),
  );
} finally {
  await bouncer.stop();
  await env.close();
}
