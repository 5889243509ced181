/**
 * The multi-tenant relay, in one run (`npm run bench -- --multi-tenant [--tiny]`):
 *
 * 1. Idle cost: one `run --multi-tenant` process serving N idle tenants — its
 *    CPU over a window and the PostgreSQL connections it holds per tenant.
 * 2. Drain throughput: the same total backlog spread over N busy tenants, then
 *    all in one tenant, same relay process, ratio in the same run.
 * 3. Fairness: one tenant drains a large backlog while another posts one event
 *    every 100 ms; commit→applied (created_at → delivered_at) p50/p99 of the latter.
 *
 * Writes bench/results/multi-tenant-<stamp>.json and multi-tenant-latest.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openBenchEnv, type Scratch } from './support/benchEnv.ts';
import { processCpuSeconds } from './support/procStats.ts';
import { startRelay } from './support/relayProcesses.ts';
import { pendingCount, seedBacklog } from './support/seed.ts';
import { percentile, round, sleep } from './support/stats.ts';

const SETTINGS = {
  tiny: { tenants: 4, idleSeconds: 2, backlog: 400, fairnessBacklog: 400, fairnessSeconds: 2 },
  // 20 tenants hold ~67 connections at idle (measured: 3.35 each, a pool of 3 + LISTEN), more than a
  // shared server with max_connections = 100 has beside the harness: quick runs 12.
  quick: { tenants: 12, idleSeconds: 10, backlog: 20_000, fairnessBacklog: 20_000, fairnessSeconds: 10 },
};

async function waitDrained(tenants: readonly Scratch[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The server is shared: another user's test may terminate every backend (57P01); the pool reconnects on the next poll.
    const counts = await Promise.all(tenants.map((t) => pendingCount(t.pool).catch(() => -1)));
    if (counts.every((n) => n === 0)) return;
    if (Date.now() > deadline) throw new Error(`still pending after ${timeoutMs} ms: ${counts.join(',')}`);
    await sleep(100);
  }
}

export interface MultiTenantBenchResult {
  mode: 'tiny' | 'quick';
  at: string;
  tenants: number;
  idle: { seconds: number; cpuPercentOfCore: number; connectionsPerTenant: number };
  drain: { events: number; spreadEventsPerSecond: number; singleEventsPerSecond: number; ratio: number };
  fairness: { events: number; p50Ms: number; p99Ms: number; bigPendingAtEnd: number };
}

export async function runMultiTenantBench(options: { databaseUrl: string; mongoUrl: string; mode: 'tiny' | 'quick'; out: string; log?: (line: string) => void }): Promise<MultiTenantBenchResult> {
  const { databaseUrl, mongoUrl, mode } = options;
  const s = SETTINGS[mode];
  const env = await openBenchEnv(databaseUrl, mongoUrl);
  const log = options.log ?? ((line: string) => console.error(`bench multi-tenant: ${line}`));
  const scratches: Scratch[] = [];
  try {
    const control = await env.scratch('mt_control', 1);
    scratches.push(control);
    const tenants: Scratch[] = [];
    for (let i = 0; i < s.tenants; i++) tenants.push(await env.scratch(`mt_t${i}`, 1));
    scratches.push(...tenants);
    for (const [i, t] of tenants.entries()) {
      await control.pool.query('INSERT INTO outbox_tenant (id, database_url, mongo_db) VALUES ($1, $2, $3)', [`t${i}`, t.databaseUrl, t.mongoDbName]);
    }
    const relay = await startRelay({ databaseUrl: control.databaseUrl, mongoUrl, mongoDb: 'unused', id: 'bench-mt', args: ['--multi-tenant'], pollIntervalMs: 1000 }, 120_000);
    try {
      // 1. idle
      await sleep(2000);
      const cpu0 = processCpuSeconds(relay.pid) ?? 0;
      await sleep(s.idleSeconds * 1000);
      const idleCpuPercent = round((((processCpuSeconds(relay.pid) ?? 0) - cpu0) / s.idleSeconds) * 100, 2);
      const names = tenants.map((t) => new URL(t.databaseUrl).pathname.slice(1));
      const { rows } = await control.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND application_name <> 'outbox-relay-bench'`, [names]);
      const idleConnectionsPerTenant = round((rows[0]?.n ?? 0) / s.tenants, 2);
      log(`idle: ${s.tenants} tenants, relay CPU ${idleCpuPercent}% of a core, ${idleConnectionsPerTenant} PostgreSQL connections per tenant`);

      // 2. drain: spread vs one tenant, same total.
      const per = Math.floor(s.backlog / s.tenants);
      await Promise.all(tenants.map((t, i) => seedBacklog(t.pool, per, `spread-${i}-`)));
      let t0 = performance.now();
      await waitDrained(tenants, 600_000);
      const spreadEventsPerSecond = round((per * s.tenants) / ((performance.now() - t0) / 1000));
      await seedBacklog((tenants[0] as Scratch).pool, per * s.tenants, 'single-');
      t0 = performance.now();
      await waitDrained(tenants, 600_000);
      const singleEventsPerSecond = round((per * s.tenants) / ((performance.now() - t0) / 1000));
      const ratio = round(spreadEventsPerSecond / singleEventsPerSecond, 2);
      log(`drain ${per * s.tenants} events: ${s.tenants} busy tenants ${spreadEventsPerSecond} events/s, one tenant ${singleEventsPerSecond} events/s (ratio ${ratio})`);

      // 3. fairness
      const big = tenants[0] as Scratch;
      const small = tenants[1] as Scratch;
      const before = (await small.pool.query<{ n: number }>('SELECT coalesce(max(id), 0)::int AS n FROM outbox_delivered')).rows[0]?.n ?? 0;
      await seedBacklog(big.pool, s.fairnessBacklog, 'fair-big-');
      const until = Date.now() + s.fairnessSeconds * 1000;
      let n = 0;
      while (Date.now() < until) {
        await seedBacklog(small.pool, 1, `fair-small-${n++}-`);
        await sleep(100);
      }
      const bigPendingAtEnd = await pendingCount(big.pool);
      await waitDrained([small], 60_000);
      const { rows: lat } = await small.pool.query<{ ms: number }>(`SELECT extract(epoch FROM delivered_at - created_at) * 1000 AS ms FROM outbox_delivered WHERE id > $1`, [before]);
      const sorted = lat.map((r) => Number(r.ms)).sort((a, b) => a - b);
      const fairness = { events: sorted.length, p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), bigPendingAtEnd };
      log(`fairness: ${sorted.length} events at 10/s beside a ${s.fairnessBacklog}-event backlog (${bigPendingAtEnd} still pending at the end): p50 ${fairness.p50Ms} ms, p99 ${fairness.p99Ms} ms`);

      const result: MultiTenantBenchResult = { mode, at: new Date().toISOString(), tenants: s.tenants, idle: { seconds: s.idleSeconds, cpuPercentOfCore: idleCpuPercent, connectionsPerTenant: idleConnectionsPerTenant }, drain: { events: per * s.tenants, spreadEventsPerSecond, singleEventsPerSecond, ratio }, fairness };
      const { out } = options;
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, `multi-tenant-${result.at.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(result, null, 2)}\n`);
      const md = [
        `# Multi-tenant relay (${mode}, ${result.at})`,
        '',
        '| figure | value |',
        '|---|---|',
        `| idle: relay CPU with ${s.tenants} idle tenants | ${idleCpuPercent}% of one core |`,
        `| idle: PostgreSQL connections per tenant | ${idleConnectionsPerTenant} |`,
        `| drain ${per * s.tenants} events over ${s.tenants} tenants | ${spreadEventsPerSecond} events/s |`,
        `| drain ${per * s.tenants} events in one tenant | ${singleEventsPerSecond} events/s |`,
        `| ratio spread / one | ${ratio} |`,
        `| fairness: 10/s tenant beside a ${s.fairnessBacklog}-event backlog, commit→applied p50 / p99 | ${fairness.p50Ms} / ${fairness.p99Ms} ms (${bigPendingAtEnd} of the backlog still pending at the end) |`,
        '',
      ].join('\n');
      writeFileSync(join(out, 'multi-tenant-latest.md'), md);
      log(`written to ${out}`);
      return result;
    } finally {
      await relay.stop();
    }
  } finally {
    for (const scratch of scratches) await scratch.drop().catch(() => {});
    await env.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { tiny: { type: 'boolean' }, out: { type: 'string' } } });
  const databaseUrl = process.env.DATABASE_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!databaseUrl || !mongoUrl) throw new Error('DATABASE_URL and MONGO_URL are required (scripts/bench.sh sets them)');
  const out = values.out ?? fileURLToPath(new URL('./results', import.meta.url));
  await runMultiTenantBench({ databaseUrl, mongoUrl, mode: values.tiny ? 'tiny' : 'quick', out });
  console.log(readFileSync(join(out, 'multi-tenant-latest.md'), 'utf8'));
}
