/**
 * The soak: a relay process (the built package, MongoDB sink) under a steady
 * writer for a long time, its RSS sampled, to show memory does not grow.
 *
 *   npm run bench -- --soak [--minutes 30] [--rate <postings/s>] [--tiny]
 *
 * The writer posts open-loop at half the sink limit by default: the sink
 * limit is measured first (createMongoSink.apply on 10,000 events, the same
 * as the main run's baseline), and each posting carries 2 outbox events
 * (transaction + credit entry), so the rate in postings/s is a quarter of the
 * sink limit in events/s. RSS (VmRSS) is sampled every 10 s; the relay's
 * memory has "not grown" when the median of the last tenth of the samples is
 * within 5 % (plus 2 MiB of allocator slack) of the median of the tenth at
 * the middle of the run (50–60 %). The first half is warm-up: measured, V8's
 * heap settles over minutes at a low event rate (103 → 126 MiB in the first
 * 13 minutes of a 30-minute soak, then flat), which is not a leak; a leak
 * keeps growing through the second half. Writes bench/results/soak-<timestamp>.json
 * and soak-latest.md.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Pool } from 'pg';
import { sinkLimit } from './sinkLimit.ts';
import { openBenchEnv } from './support/benchEnv.ts';
import { createAccounts, postOne } from './support/ledgerFixture.ts';
import { peakRssMiB } from './support/procStats.ts';
import { DEPLOYED_NODE_OPTIONS, RUNS_BUILT_PACKAGE, startRelay, type RelayChild } from './support/relayProcesses.ts';
import { pendingCount } from './support/seed.ts';
import { median, round, sleep } from './support/stats.ts';

export interface SoakSettings {
  minutes: number;
  /** postings/s; default: a quarter of the measured sink limit (events/s), i.e. half of it in events. */
  rate?: number;
  sampleEverySeconds: number;
  sinkProbeEvents: number;
}

export interface SoakResult {
  startedAt: string;
  settings: SoakSettings;
  runsBuiltPackage: boolean;
  /** The relay's NODE_OPTIONS (as deployed). */
  nodeOptions: string;
  sinkLimitEventsPerSecond: number;
  ratePostingsPerSecond: number;
  achievedPostingsPerSecond: number;
  postings: number;
  writerErrors: number;
  /** [seconds since start, VmRSS MiB] */
  rss: [number, number][];
  peakRssMiB: number;
  /** Median RSS of the tenth at the middle of the run (50–60 %), after warm-up. */
  warmMedianMiB: number;
  endMedianMiB: number;
  growthPercent: number;
  grew: boolean;
  /** Least-squares slope of RSS over the second half, MiB per hour. */
  slopeMiBPerHour: number;
  pendingAtEnd: number;
  maxPending: number;
}

function rssMiB(pid: number): number | undefined {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const num = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0);
  const den = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/**
 * What autovacuum does on a production server, every minute (its default
 * naptime), with the thresholds migration 0001 sets on the outbox (1 % of
 * rows changed: vacuum; 2 %: analyze): VACUUM (ANALYZE) of the hot table.
 * The shared test server runs with autovacuum off. Without this the outbox
 * is never analyzed: PostgreSQL planned the claim for an empty table, a
 * bitmap scan and sort of every pending row, and once a backlog built up
 * (the machine loaded by a test run) a claim of 500 took 6–10 s and the
 * relay fell further behind each minute (seen: 500,000 pending after 14
 * minutes); after one ANALYZE the same claim walked the index again. The
 * relay warns at start when autovacuum is off (src/db/checkAutovacuum.ts).
 */
function emulateAutovacuum(pool: Pool, log: (line: string) => void): { stop(): Promise<void> } {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() =>
      pool.query('VACUUM (ANALYZE) outbox').then(
        () => {},
        (error: unknown) => log(`soak: VACUUM (ANALYZE) outbox failed: ${String(error)}`),
      ),
    );
  }, 60_000);
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

export async function runSoak(options: { databaseUrl: string; mongoUrl: string; settings: SoakSettings; log?: (line: string) => void }): Promise<SoakResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const { settings } = options;
  const env = await openBenchEnv(options.databaseUrl, options.mongoUrl);
  const startedAt = new Date().toISOString();
  let relay: RelayChild | undefined;
  try {
    const sink = await sinkLimit(env, { events: settings.sinkProbeEvents, batchSize: 500, concurrency: 2 });
    const rate = settings.rate ?? Math.max(1, Math.round(sink.eventsPerSecond / 4));
    log(`soak: sink limit ${sink.eventsPerSecond} events/s; writer at ${rate} postings/s (${rate * 2} events/s) for ${settings.minutes} min`);
    const scratch = await env.scratch('soak', 24);
    try {
      const accounts = await createAccounts(scratch.pool, 1000);
      relay = await startRelay({ databaseUrl: scratch.databaseUrl, mongoUrl: scratch.mongoUrl, mongoDb: scratch.mongoDbName, id: 'bench-soak' });
      const pid = relay.pid;
      const rss: [number, number][] = [];
      let postings = 0;
      let errors = 0;
      let maxPending = 0;
      const inFlight = new Set<Promise<void>>();
      const maintenance = emulateAutovacuum(scratch.pool, log);
      const start = performance.now();
      const durationMs = settings.minutes * 60_000;
      let nextSample = 0;
      for (let i = 0; ; i++) {
        const due = start + (i * 1000) / rate;
        if (due - start >= durationMs) break;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
        const elapsed = (performance.now() - start) / 1000;
        if (elapsed >= nextSample) {
          nextSample += settings.sampleEverySeconds;
          const value = rssMiB(pid);
          if (value === undefined) throw new Error(`soak: the relay exited:\n${relay.output().slice(-2000)}`);
          rss.push([round(elapsed, 1), round(value, 1)]);
          const pending = await pendingCount(scratch.pool);
          maxPending = Math.max(maxPending, pending);
          if (rss.length % 6 === 0) log(`soak: ${Math.round(elapsed)} s, RSS ${value.toFixed(1)} MiB, pending ${pending}, postings ${postings}`);
        }
        // Open loop, bounded: a stalled database must not pile up unbounded promises.
        if (inFlight.size >= 64) {
          errors++;
          continue;
        }
        const p = postOne(scratch.pool, accounts, 2, 'soak').then(
          () => {
            postings++;
          },
          () => {
            errors++;
          },
        );
        const tracked = p.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      }
      await Promise.all(inFlight);
      await maintenance.stop();
      const seconds = (performance.now() - start) / 1000;
      const pendingAtEnd = await pendingCount(scratch.pool);
      const peak = peakRssMiB(pid) ?? 0;
      const values = rss.map(([, v]) => v);
      const tenth = Math.max(1, Math.floor(values.length / 10));
      const middle = Math.floor(values.length / 2);
      const warm = median(values.slice(middle, middle + tenth));
      const end = median(values.slice(-tenth));
      const growth = (end - warm) / warm;
      return {
        startedAt,
        settings,
        runsBuiltPackage: RUNS_BUILT_PACKAGE,
        nodeOptions: DEPLOYED_NODE_OPTIONS,
        sinkLimitEventsPerSecond: sink.eventsPerSecond,
        ratePostingsPerSecond: rate,
        achievedPostingsPerSecond: round(postings / seconds, 1),
        postings,
        writerErrors: errors,
        rss,
        peakRssMiB: round(peak, 1),
        warmMedianMiB: round(warm, 1),
        endMedianMiB: round(end, 1),
        growthPercent: round(growth * 100, 2),
        grew: end > warm * 1.05 + 2,
        slopeMiBPerHour: round(slope(rss.slice(middle).map(([t, v]) => [t / 3600, v])), 2),
        pendingAtEnd,
        maxPending,
      };
    } finally {
      await relay?.stop().catch(() => {});
      await scratch.drop();
    }
  } finally {
    await env.close();
  }
}

export function renderSoakMarkdown(r: SoakResult): string {
  const rows = r.rss.filter((_, i) => i % Math.max(1, Math.floor(r.rss.length / 20)) === 0 || i === r.rss.length - 1);
  return [
    `# Soak: relay RSS under a steady writer (${r.settings.minutes} min)`,
    '',
    `Started ${r.startedAt}. Relay: ${r.runsBuiltPackage ? 'the built package (dist/cli.js run)' : 'src/cli.ts run (type stripping: about 25 MiB more RSS than deployed)'}, NODE_OPTIONS=${r.nodeOptions || '(none)'}, MongoDB sink (FerretDB here). PostgreSQL's autovacuum, off on this test server, emulated: VACUUM (ANALYZE) outbox every 60 s.`,
    `Writer: ${r.ratePostingsPerSecond} postings/s (${r.ratePostingsPerSecond * 2} events/s) asked, ${r.achievedPostingsPerSecond} achieved, ${r.postings} postings, ${r.writerErrors} errors or skipped; sink limit measured first: ${r.sinkLimitEventsPerSecond} events/s.`,
    '',
    '| figure | value |',
    '| --- | --- |',
    `| RSS at mid-run (median of the 50–60 % tenth) | ${r.warmMedianMiB} MiB |`,
    `| RSS at the end (median of the last tenth) | ${r.endMedianMiB} MiB |`,
    `| growth | ${r.growthPercent} % — ${r.grew ? '**grew** (more than 5 % + 2 MiB)' : 'no growth (within 5 % + 2 MiB)'} |`,
    `| slope over the second half | ${r.slopeMiBPerHour} MiB/hour |`,
    `| peak RSS (VmHWM) | ${r.peakRssMiB} MiB |`,
    `| pending: max sampled / at end | ${r.maxPending} / ${r.pendingAtEnd} |`,
    '',
    '| seconds | RSS MiB |',
    '| --- | --- |',
    ...rows.map(([t, v]) => `| ${t} | ${v} |`),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { minutes: { type: 'string' }, rate: { type: 'string' }, tiny: { type: 'boolean' }, out: { type: 'string' } } });
  const databaseUrl = process.env.DATABASE_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!databaseUrl || !mongoUrl) {
    console.error('bench: DATABASE_URL and MONGO_URL are required (npm run bench sets them)');
    process.exit(2);
  }
  const minutes = values.minutes === undefined ? (values.tiny ? 0.5 : 30) : Number(values.minutes);
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (!(minutes > 0) || (rate !== undefined && !(rate > 0))) {
    console.error('bench: --minutes and --rate must be positive numbers');
    process.exit(2);
  }
  const settings: SoakSettings = { minutes, ...(rate ? { rate } : {}), sampleEverySeconds: values.tiny ? 2 : 10, sinkProbeEvents: values.tiny ? 1000 : 10_000 };
  const result = await runSoak({ databaseUrl, mongoUrl, settings });
  const outDir = values.out ?? fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const stamp = result.startedAt.replace(/[:.]/g, '-');
  writeFileSync(join(outDir, `soak-${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const markdown = renderSoakMarkdown(result);
  writeFileSync(join(outDir, 'soak-latest.md'), markdown);
  console.log(markdown);
  if (result.grew) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
