/**
 * The operator API's latency under its rate limit, the console's size, and
 * the lag history's size, side by side in one run.
 *
 *   node bench/opsApi.ts [rounds=300] [pending=20000]
 *
 * A relay with its ops endpoint on loopback over a scratch database holding
 * `pending` events (the fleet paused, so the backlog stays put while
 * /api/lag counts it) and 100 dead events. Each round calls every route
 * once, in turn, over one keep-alive connection, so drift on a shared
 * machine hits every route alike; the limiter is consulted on every call
 * (limit set above the run's own request count: admitted requests are what
 * is measured), then a second endpoint with a limit of 10 per minute
 * measures the refused (429) path. /api/lag is measured twice: in the
 * rounds, right after a pause/resume (which make it read outbox_lag afresh),
 * and then `rounds` times in a row as the console polls it between changes
 * (answered from the lag history's newest sample). Figures are medians and
 * 95th percentiles, and ratios to /healthz (limiter + routing only, no
 * database).
 * Env: DATABASE_URL / MONGO_URL as scripts/services.ts prints them.
 */
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { request, Agent } from 'node:http';
import { createLagHistory } from '../src/control/lagHistory.ts';
import { createRelay } from '../src/relay/relay.ts';
import { resolveConfig } from '../src/config.ts';
import { openBenchEnv } from './support/benchEnv.ts';

const rounds = Number(process.argv[2] ?? 300);
const pendingCount = Number(process.argv[3] ?? 20_000);
const TOKEN = 'bench-token-0123456789abcdef';
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function call(base: string, path: string, body?: unknown): Promise<{ status: number; ms: number }> {
  const started = process.hrtime.bigint();
  const data = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: data ? 'POST' : 'GET', agent, headers: { authorization: `Bearer ${TOKEN}`, ...(data ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
};

const env = await openBenchEnv(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/outbox_relay', process.env.MONGO_URL ?? 'mongodb://127.0.0.1:27017');
const scratch = await env.scratch('opsapi');
try {
  await scratch.pool.query(`INSERT INTO relay_pause (scope, reason, paused_by) VALUES ('*', 'bench: keep the backlog', 'bench')`);
  await scratch.pool.query(
    `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
     SELECT gen_random_uuid(), 'transaction', 'bench-' || g, 1, 'metadata.upserted', '{"metadata":{"n":1}}' FROM generate_series(1, $1) g`,
    [pendingCount],
  );
  await scratch.pool.query(
    `INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload, status, attempts, last_error, dead_at)
     SELECT gen_random_uuid(), 'operation', 'dead-' || g, 1, 'metadata.upserted', '{"metadata":{}}', 'dead', 10, 'bench: too large', now() FROM generate_series(1, 100) g`,
  );
  await scratch.pool.query('ANALYZE outbox');
  const config = (overrides: Record<string, unknown>) =>
    resolveConfig({}, { databaseUrl: scratch.databaseUrl, mongoUrl: scratch.mongoUrl, mongoDb: scratch.mongoDbName, opsPort: 0, opsTokens: `bench=${TOKEN}`, logLevel: 'silent', ...overrides });
  const relay = createRelay(config({ opsRateLimit: 1_000_000 }));
  const limited = createRelay(config({ opsRateLimit: 10 }));
  await relay.start();
  await limited.start();
  const base = relay.opsUrl!;
  try {
    const routes: [string, string, unknown?][] = [
      ['GET /healthz', '/healthz'],
      ['GET / (console)', '/'],
      // After the previous round's pause/resume, which expire the newest sample: read afresh.
      ['GET /api/lag (after a change: read afresh)', '/api/lag'],
      ['GET /api/dead?limit=100', '/api/dead?limit=100'],
      ['GET /api/audit?limit=100', '/api/audit?limit=100'],
      ['GET /api/reconcile', '/api/reconcile'],
      ['POST /api/pause (type)', '/api/pause', { type: 'operation', reason: 'bench' }],
      ['POST /api/resume (type)', '/api/resume', { type: 'operation', reason: 'bench' }],
    ];
    const times = new Map(routes.map(([name]) => [name, [] as number[]]));
    for (let i = 0; i < 20; i++) for (const [, path, body] of routes) await call(base, path, body); // warm-up
    for (let i = 0; i < rounds; i++) {
      for (const [name, path, body] of routes) {
        const { status, ms } = await call(base, path, body);
        if (status !== 200) throw new Error(`${name}: HTTP ${status}`);
        times.get(name)!.push(ms);
      }
    }
    // What the console does between changes: poll, answered from the newest sample.
    const polled: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const { status, ms } = await call(base, '/api/lag');
      if (status !== 200) throw new Error(`GET /api/lag: HTTP ${status}`);
      polled.push(ms);
    }
    times.set('GET /api/lag (polled: newest sample)', polled);
    const refused: number[] = [];
    for (let i = 0; i < 10 + rounds; i++) {
      const { status, ms } = await call(limited.opsUrl!, '/api/lag');
      if (i >= 10) {
        if (status !== 429) throw new Error(`expected 429 after the limit, got ${status}`);
        refused.push(ms);
      }
    }
    times.set('GET /api/lag over the limit (429)', refused);
    const healthz = quantile(times.get('GET /healthz')!, 0.5);
    console.log(`ops API, ${rounds} rounds, ${pendingCount} pending + 100 dead events, one keep-alive connection`);
    console.log('| route | median ms | p95 ms | median / healthz |');
    console.log('| --- | ---: | ---: | ---: |');
    for (const [name, values] of times) {
      const median = quantile(values, 0.5);
      console.log(`| ${name} | ${median.toFixed(2)} | ${quantile(values, 0.95).toFixed(2)} | ${(median / healthz).toFixed(1)}× |`);
    }
  } finally {
    await limited.stop();
    await relay.stop();
  }
  const html = readFileSync(new URL('../src/control/console.html', import.meta.url));
  console.log(`\nconsole page: ${html.length} bytes, ${gzipSync(html).length} bytes gzipped (served uncompressed), no other request but /api`);
  // A full hour at the default 15 s sampling: 241 points, as /api/lag sends them.
  const hour = createLagHistory(async () => ({ pendingCount: 1_234_567, oldestPendingSeconds: 3599.123456, inFlightCount: 0, deadCount: 12_345, deliveredLastMinute: 123_456, relaysAlive: 3, lastDeliveredAt: null, relays: [], paused: [] }), { intervalMs: 10, windowMs: 2400 });
  hour.start();
  while (hour.points().length < 241) await new Promise((r) => setTimeout(r, 20));
  hour.stop();
  console.log(`lag history: ${hour.points().length} points = ${Buffer.byteLength(JSON.stringify(hour.points()))} bytes of JSON at most (one hour at 15 s, 7-digit figures)`);
} finally {
  await scratch.drop();
  await env.close();
  agent.destroy();
}
