/**
 * The multi-tenant relay, in one run (`npm run bench -- --multi-tenant [--tiny]`):
 *
 * 1. Idle cost: one `run --multi-tenant` process, started with no tenant, then
 *    given N idle (cold) tenants — its CPU over a window, its RSS growth per
 *    tenant, and the PostgreSQL connections it holds per tenant (sampled in
 *    pg_stat_activity: pool and LISTEN apart).
 * 2. Drain throughput: the same total backlog spread over N busy tenants, then
 *    all in one tenant, same relay process, ratio in the same run. Right after
 *    the spread drain every tenant is hot: its connections and the relay's CPU
 *    are measured again (the cost of a hot idle tenant).
 * 3. Fairness: one tenant drains a large backlog while another posts one event
 *    every 100 ms; commit→applied (created_at → delivered_at) p50/p99 of the
 *    latter. Its first event finds it cold (polled once per heartbeat): that
 *    latency is reported on its own, then the window starts with it hot.
 *
 * 4. Operator API: GET /api/tenants with 50 tenants registered (the served
 *    ones plus registry-paused rows), median and p99 over 200 requests; and the
 *    relay's connections to the control database while idle (the heartbeat's
 *    registry read and lag-sample UPDATE share them). The relay runs with its
 *    ops endpoint on throughout, so the idle CPU of 1. includes the sampling.
 *
 * Writes bench/results/multi-tenant-<stamp>.json and multi-tenant-latest.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openBenchEnv, type Scratch } from './support/benchEnv.ts';
import { processCpuSeconds, rssMiB } from './support/procStats.ts';
import { startRelay } from './support/relayProcesses.ts';
import { pendingCount, seedBacklog } from './support/seed.ts';
import { percentile, round, sleep } from './support/stats.ts';

const SETTINGS = {
  tiny: { tenants: 4, heartbeatMs: 1000, idleSeconds: 3, hotSeconds: 2, backlog: 400, fairnessBacklog: 400, fairnessSeconds: 2 },
  // 20 tenants: cold ones hold no connection between checks, so they fit beside the harness
  // on a shared server with max_connections = 100 (12 did before hot/cold: 3.4 connections each).
  quick: { tenants: 20, heartbeatMs: 5000, idleSeconds: 20, hotSeconds: 10, backlog: 20_000, fairnessBacklog: 20_000, fairnessSeconds: 10 },
};

/**
 * Until every tenant has nothing pending. One tenant at a time, and a drained
 * one is not asked again: the harness must not hold a connection per tenant
 * while 20 hot tenants hold theirs (max_connections = 100 is shared).
 */
/**
 * A hot tenant holds up to its pool + LISTEN: with the default pool of 3, 20
 * busy tenants hold 80 connections, more than this shared server (max_connections
 * = 100, other users' tests) can give; with 2, 60.
 */
const TENANT_POOL_SIZE = 2;
/**
 * Tenants cool down 3 heartbeats after their last work (default 12): the single-tenant
 * drain starts once the 20 are cold again, or 20 idle hot tenants would hold 60.
 */
const HOT_HEARTBEATS = 3;

const OPS_TOKEN = 'bench-ops-token-0123456789abcdef';
const OPERATOR_TENANTS = 50;

/** Connections the relay holds to the control database, mean over `seconds`. */
async function controlConnections(control: pg.Pool, name: string, seconds: number): Promise<number> {
  const counts: number[] = [];
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const { rows } = await control.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name LIKE 'outbox-relay-control:%'`, [name]);
    counts.push(rows[0]?.n ?? 0);
    await sleep(250);
  }
  return round(counts.reduce((a, b) => a + b, 0) / Math.max(1, counts.length), 2);
}

async function waitDrained(tenants: readonly Scratch[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const left = new Set(tenants);
  for (;;) {
    for (const t of [...left]) {
      // The server is shared: another user's test may terminate every backend (57P01); the pool reconnects on the next poll.
      if ((await pendingCount(t.pool).catch(() => -1)) === 0) left.delete(t);
    }
    if (left.size === 0) return;
    if (Date.now() > deadline) throw new Error(`still pending after ${timeoutMs} ms in ${left.size} tenants`);
    await sleep(100);
  }
}

interface ConnectionSample {
  /** Mean and max of the relay's pool connections per tenant, and of its LISTEN connections per tenant. */
  poolMean: number;
  poolMax: number;
  listenMean: number;
}

/** Sample the relay's connections to the tenant databases every 250 ms for `seconds`. */
async function sampleConnections(control: pg.Pool, names: readonly string[], seconds: number): Promise<ConnectionSample> {
  const pool: number[] = [];
  const listen: number[] = [];
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    const { rows } = await control.query<{ pool: number; listen: number }>(
      `SELECT count(*) FILTER (WHERE application_name LIKE 'outbox-relay:%')::int AS pool,
              count(*) FILTER (WHERE application_name LIKE 'outbox-relay-listen:%')::int AS listen
         FROM pg_stat_activity WHERE datname = ANY($1::text[])`,
      [names],
    );
    pool.push(rows[0]?.pool ?? 0);
    listen.push(rows[0]?.listen ?? 0);
    await sleep(250);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  return { poolMean: round(mean(pool) / names.length, 3), poolMax: Math.max(...pool), listenMean: round(mean(listen) / names.length, 3) };
}

/** The most connections (pool + LISTEN) the relay held to the tenant databases at once, sampled every 500 ms until stop(). */
function trackPeakConnections(control: pg.Pool, names: readonly string[]): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const { rows } = await control
        .query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ANY($1::text[]) AND application_name LIKE 'outbox-relay%' AND application_name <> 'outbox-relay-bench'`, [names])
        .catch(() => ({ rows: [] as { n: number }[] }));
      peak = Math.max(peak, rows[0]?.n ?? 0);
      await sleep(500);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

/** Wall time of one connect + query + disconnect: what a cold tenant's check pays once per heartbeat. */
async function connectCostMs(url: string, times: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < times; i++) {
    const client = new pg.Client({ connectionString: url, application_name: 'outbox-relay-bench' });
    await client.connect();
    await client.query('SELECT 1');
    await client.end();
  }
  return round((performance.now() - t0) / times, 2);
}

export interface MultiTenantBenchResult {
  mode: 'tiny' | 'quick';
  at: string;
  tenants: number;
  heartbeatMs: number;
  idle: { seconds: number; cpuPercentOfCore: number; cpuPercentNoTenant: number; rssMiBBase: number; rssMiBPerTenant: number; connectionsPerTenant: number; connectionsMax: number; listenPerTenant: number; connectMs: number };
  hot: { seconds: number; cpuPercentOfCore: number; connectionsPerTenant: number; listenPerTenant: number };
  drain: { events: number; peakConnections: number; spreadEventsPerSecond: number; singleEventsPerSecond: number; ratio: number; spreadCpuMsPer1000: number; singleCpuMsPer1000: number };
  operatorApi: { tenantsRegistered: number; requests: number; medianMs: number; p99Ms: number; controlConnectionsIdle: number };
  fairness: { firstEventFound: 'cold' | 'hot'; coldFirstEventMs: number; events: number; p50Ms: number; p99Ms: number; bigPendingAtEnd: number };
}

export async function runMultiTenantBench(options: { databaseUrl: string; mongoUrl: string; mode: 'tiny' | 'quick'; out: string; log?: (line: string) => void }): Promise<MultiTenantBenchResult> {
  const { databaseUrl, mongoUrl, mode } = options;
  const s = SETTINGS[mode];
  const env = await openBenchEnv(databaseUrl, mongoUrl);
  const log = options.log ?? ((line: string) => console.error(`bench multi-tenant: ${line}`));
  const scratches: Scratch[] = [];
  try {
    const control = await env.scratch('mt_control', 2);
    scratches.push(control);
    const tenants: Scratch[] = [];
    for (let i = 0; i < s.tenants; i++) {
      const tenant = await env.scratch(`mt_t${i}`, 1);
      // The harness's connection to a tenant closes right after use (see waitDrained).
      tenant.pool.options.idleTimeoutMillis = 200;
      tenants.push(tenant);
    }
    scratches.push(...tenants);
    const names = tenants.map((t) => new URL(t.databaseUrl).pathname.slice(1));
    const relay = await startRelay(
      { databaseUrl: control.databaseUrl, mongoUrl, mongoDb: 'unused', id: 'bench-mt', args: ['--multi-tenant'], pollIntervalMs: 1000, env: { OUTBOX_RELAY_OPS_PORT: '0', OUTBOX_RELAY_OPS_TOKENS: `bench=${OPS_TOKEN}`, OUTBOX_RELAY_OPS_RATE_LIMIT: '1000000', OUTBOX_RELAY_HEARTBEAT_MS: String(s.heartbeatMs), OUTBOX_RELAY_TENANT_POOL_SIZE: String(TENANT_POOL_SIZE), OUTBOX_RELAY_TENANT_HOT_HEARTBEATS: String(HOT_HEARTBEATS) } },
      120_000,
    );
    try {
      // 1. idle: RSS with no tenant, then N tenants registered and picked up at the next heartbeat.
      await sleep(2000);
      let cpu0 = processCpuSeconds(relay.pid) ?? 0;
      await sleep((s.idleSeconds / 2) * 1000);
      const baseCpuPercent = round((((processCpuSeconds(relay.pid) ?? 0) - cpu0) / (s.idleSeconds / 2)) * 100, 2);
      const rssBase = rssMiB(relay.pid) ?? 0;
      for (const [i, t] of tenants.entries()) {
        await control.pool.query('INSERT INTO outbox_tenant (id, database_url, mongo_db) VALUES ($1, $2, $3)', [`t${i}`, t.databaseUrl, t.mongoDbName]);
      }
      const served = Date.now() + 120_000;
      while ((await control.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM outbox_tenant WHERE health = 'healthy'`)).rows[0]?.n !== s.tenants) {
        if (Date.now() > served) throw new Error('the relay did not serve every tenant within 120 s');
        await sleep(200);
      }
      await sleep(s.heartbeatMs + 1000);
      cpu0 = processCpuSeconds(relay.pid) ?? 0;
      const idleConnections = await sampleConnections(control.pool, names, s.idleSeconds);
      const idleCpuPercent = round((((processCpuSeconds(relay.pid) ?? 0) - cpu0) / s.idleSeconds) * 100, 2);
      const rssPerTenant = round(((rssMiB(relay.pid) ?? 0) - rssBase) / s.tenants, 2);
      const connectMs = await connectCostMs((tenants[0] as Scratch).databaseUrl, 20);
      const controlConnectionsIdle = await controlConnections(control.pool, new URL(control.databaseUrl).pathname.slice(1), Math.min(5, s.idleSeconds));
      log(
        `idle (cold): ${s.tenants} tenants, relay CPU ${idleCpuPercent}% of a core (${baseCpuPercent}% with no tenant), RSS ${round(rssBase)} MiB + ${rssPerTenant} MiB per tenant, ` +
          `pool connections per tenant mean ${idleConnections.poolMean} (max ${idleConnections.poolMax} in all), LISTEN ${idleConnections.listenMean}; a connect + query costs ${connectMs} ms`,
      );

      // 2. drain: spread vs one tenant, same total; in between, every tenant is hot.
      const per = Math.floor(s.backlog / s.tenants);
      await Promise.all(tenants.map((t, i) => seedBacklog(t.pool, per, `spread-${i}-`)));
      const peak = trackPeakConnections(control.pool, names);
      let t0 = performance.now();
      let drainCpu0 = processCpuSeconds(relay.pid) ?? 0;
      await waitDrained(tenants, 600_000);
      // Relay CPU per 1000 events: less sensitive than events/s to the other work on this shared machine.
      const spreadCpuMsPer1000 = round((((processCpuSeconds(relay.pid) ?? 0) - drainCpu0) * 1e6) / (per * s.tenants));
      const peakBusyConnections = await peak.stop();
      const spreadEventsPerSecond = round((per * s.tenants) / ((performance.now() - t0) / 1000));
      cpu0 = processCpuSeconds(relay.pid) ?? 0;
      const hotConnections = await sampleConnections(control.pool, names, s.hotSeconds);
      const hotCpuPercent = round((((processCpuSeconds(relay.pid) ?? 0) - cpu0) / s.hotSeconds) * 100, 2);
      log(`idle (hot, just drained): relay CPU ${hotCpuPercent}% of a core, pool connections per tenant ${hotConnections.poolMean}, LISTEN ${hotConnections.listenMean}`);
      const cooled = Date.now() + (HOT_HEARTBEATS + 4) * s.heartbeatMs;
      while ((await sampleConnections(control.pool, names, 0.01)).listenMean > 0) {
        if (Date.now() > cooled) throw new Error('the tenants did not turn cold');
        await sleep(500);
      }
      await seedBacklog((tenants[0] as Scratch).pool, per * s.tenants, 'single-');
      t0 = performance.now();
      drainCpu0 = processCpuSeconds(relay.pid) ?? 0;
      await waitDrained(tenants, 600_000);
      const singleCpuMsPer1000 = round((((processCpuSeconds(relay.pid) ?? 0) - drainCpu0) * 1e6) / (per * s.tenants));
      const singleEventsPerSecond = round((per * s.tenants) / ((performance.now() - t0) / 1000));
      const ratio = round(spreadEventsPerSecond / singleEventsPerSecond, 2);
      log(
        `drain ${per * s.tenants} events: ${s.tenants} busy tenants ${spreadEventsPerSecond} events/s, relay CPU ${spreadCpuMsPer1000} ms per 1000 (peak ${peakBusyConnections} relay connections), ` +
          `one tenant ${singleEventsPerSecond} events/s, relay CPU ${singleCpuMsPer1000} ms per 1000 (ratio ${ratio})`,
      );

      // 3. fairness: the small tenant's first event (cold, or hot if the single drain was short), then the window.
      const big = tenants[0] as Scratch;
      const small = tenants[1] as Scratch;
      const latencySince = async (id: number) => {
        const { rows } = await small.pool.query<{ ms: number }>(`SELECT extract(epoch FROM delivered_at - created_at) * 1000 AS ms FROM outbox_delivered WHERE id > $1`, [id]);
        return rows.map((r) => Number(r.ms)).sort((a, b) => a - b);
      };
      const lastId = async () => (await small.pool.query<{ n: number }>('SELECT coalesce(max(id), 0)::int AS n FROM outbox_delivered')).rows[0]?.n ?? 0;
      // Cold when its LISTEN connection is gone (the single drain outlasted OUTBOX_RELAY_TENANT_HOT_HEARTBEATS).
      const smallListens = await sampleConnections(control.pool, [names[1] as string], 0.01);
      const firstEventFound: 'cold' | 'hot' = smallListens.listenMean > 0 ? 'hot' : 'cold';
      const beforeFirst = await lastId();
      await seedBacklog(small.pool, 1, 'fair-first-');
      await waitDrained([small], 60_000);
      const coldFirstEventMs = round((await latencySince(beforeFirst))[0] ?? Number.NaN);
      const before = await lastId();
      await seedBacklog(big.pool, s.fairnessBacklog, 'fair-big-');
      const until = Date.now() + s.fairnessSeconds * 1000;
      let n = 0;
      while (Date.now() < until) {
        await seedBacklog(small.pool, 1, `fair-small-${n++}-`);
        await sleep(100);
      }
      const bigPendingAtEnd = await pendingCount(big.pool);
      await waitDrained([small], 60_000);
      const sorted = await latencySince(before);
      const fairness = { firstEventFound, coldFirstEventMs, events: sorted.length, p50Ms: round(percentile(sorted, 50)), p99Ms: round(percentile(sorted, 99)), bigPendingAtEnd };
      log(`fairness: first event of the quiet tenant (${firstEventFound}) ${coldFirstEventMs} ms; then ${sorted.length} events at 10/s beside a ${s.fairnessBacklog}-event backlog (${bigPendingAtEnd} still pending at the end): p50 ${fairness.p50Ms} ms, p99 ${fairness.p99Ms} ms`);

      // 4. GET /api/tenants with 50 registered: the served tenants plus registry-paused rows (no database of their own needed).
      const opsUrl = /"url":"(http:\/\/[^"]+)"[^\n]*ops endpoint listening|ops endpoint listening[^\n]*"url":"(http:\/\/[^"]+)"/.exec(relay.output());
      const base = opsUrl?.[1] ?? opsUrl?.[2];
      if (!base) throw new Error('the relay did not log its ops endpoint');
      for (let i = s.tenants; i < OPERATOR_TENANTS; i++) {
        await control.pool.query('INSERT INTO outbox_tenant (id, database_url, mongo_db, paused) VALUES ($1, $2, $3, true)', [`reg-${i}`, (tenants[0] as Scratch).databaseUrl, `reg_${i}`]);
      }
      const ask = async () => {
        const t = performance.now();
        const res = await fetch(`${base}/api/tenants`, { headers: { authorization: `Bearer ${OPS_TOKEN}` } });
        const body = (await res.json()) as { tenants: unknown[] };
        if (res.status !== 200 || body.tenants.length !== OPERATOR_TENANTS) throw new Error(`/api/tenants answered ${res.status} with ${body.tenants?.length} tenants`);
        return performance.now() - t;
      };
      for (let i = 0; i < 20; i++) await ask();
      const times: number[] = [];
      for (let i = 0; i < 200; i++) times.push(await ask());
      times.sort((a, b) => a - b);
      const operatorApi = { tenantsRegistered: OPERATOR_TENANTS, requests: times.length, medianMs: round(percentile(times, 50), 2), p99Ms: round(percentile(times, 99), 2), controlConnectionsIdle };
      log(`operator API: GET /api/tenants with ${OPERATOR_TENANTS} tenants, ${times.length} requests: median ${operatorApi.medianMs} ms, p99 ${operatorApi.p99Ms} ms; relay connections to the control database while idle ${controlConnectionsIdle}`);

      const result: MultiTenantBenchResult = {
        mode,
        at: new Date().toISOString(),
        tenants: s.tenants,
        heartbeatMs: s.heartbeatMs,
        idle: {
          seconds: s.idleSeconds,
          cpuPercentOfCore: idleCpuPercent,
          cpuPercentNoTenant: baseCpuPercent,
          rssMiBBase: round(rssBase),
          rssMiBPerTenant: rssPerTenant,
          connectionsPerTenant: round(idleConnections.poolMean + idleConnections.listenMean, 3),
          connectionsMax: idleConnections.poolMax,
          listenPerTenant: idleConnections.listenMean,
          connectMs,
        },
        hot: { seconds: s.hotSeconds, cpuPercentOfCore: hotCpuPercent, connectionsPerTenant: round(hotConnections.poolMean + hotConnections.listenMean, 3), listenPerTenant: hotConnections.listenMean },
        drain: { events: per * s.tenants, peakConnections: peakBusyConnections, spreadEventsPerSecond, singleEventsPerSecond, ratio, spreadCpuMsPer1000, singleCpuMsPer1000 },
        operatorApi,
        fairness,
      };
      const { out } = options;
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, `multi-tenant-${result.at.replace(/[:.]/g, '-')}.json`), `${JSON.stringify(result, null, 2)}\n`);
      const md = [
        `# Multi-tenant relay (${mode}, ${result.at})`,
        '',
        `${s.tenants} tenants on one \`run --multi-tenant\` process; heartbeat ${s.heartbeatMs} ms (a cold tenant's check), poll interval 1000 ms, OUTBOX_RELAY_TENANT_POOL_SIZE=${TENANT_POOL_SIZE} (default 3: 20 busy tenants would hold 80 connections of this shared server's 100), OUTBOX_RELAY_TENANT_HOT_HEARTBEATS=${HOT_HEARTBEATS} (the single-tenant drain starts once the others are cold again).`,
        '',
        '| figure | value |',
        '|---|---|',
        `| idle (cold): relay CPU with ${s.tenants} idle tenants (with none) | ${idleCpuPercent}% (${baseCpuPercent}%) of one core |`,
        `| idle (cold): PostgreSQL connections per tenant, mean over ${s.idleSeconds} s (pool + LISTEN) | ${result.idle.connectionsPerTenant} (max ${idleConnections.poolMax} open at once for all ${s.tenants}; LISTEN ${idleConnections.listenMean}) |`,
        `| idle (cold): one connect + query + disconnect, paid once per heartbeat per cold tenant | ${connectMs} ms |`,
        `| relay RSS with no tenant, and per tenant added | ${round(rssBase)} MiB + ${rssPerTenant} MiB |`,
        `| idle (hot, just drained): relay CPU / connections per tenant (pool + LISTEN) | ${hotCpuPercent}% of one core / ${result.hot.connectionsPerTenant} (LISTEN ${hotConnections.listenMean}) |`,
        `| drain ${per * s.tenants} events over ${s.tenants} tenants (most relay connections at once) | ${spreadEventsPerSecond} events/s (${peakBusyConnections}) |`,
        `| drain ${per * s.tenants} events in one tenant | ${singleEventsPerSecond} events/s |`,
        `| relay CPU per 1000 events drained, over ${s.tenants} tenants / in one | ${spreadCpuMsPer1000} / ${singleCpuMsPer1000} ms |`,
        `| ratio spread / one | ${ratio} |`,
        `| first event of a quiet tenant (${firstEventFound}${firstEventFound === 'cold' ? ': found by its once-per-heartbeat check' : ': it was still hot'}) | ${coldFirstEventMs} ms |`,
        `| GET /api/tenants with ${OPERATOR_TENANTS} tenants registered (${s.tenants} served, the rest paused in the registry), median / p99 of ${operatorApi.requests} sequential requests | ${operatorApi.medianMs} / ${operatorApi.p99Ms} ms |`,
        `| idle: relay connections to the control database (registry read + lag-sample UPDATE each heartbeat), mean | ${controlConnectionsIdle} |`,
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
