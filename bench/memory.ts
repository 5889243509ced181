/**
 * Relay memory, side by side: resident memory at start (just after "relay
 * started", before any event), idle (5 s later), the peak (VmHWM) through a
 * backlog drain and 10 s after it, for several relay variants (V8 settings,
 * sinks, builds) in one run, with each variant's drain rate, CPU per 1,000
 * events and garbage collections.
 *
 *   npm run bench -- --memory [--events 100000] [--variants '<json>'] [--out <dir>]
 *
 * A variant: { name, sink?: 'mongo' | 'null', nodeOptions?, concurrency?,
 * env?, cli?, nullSinkScript?, payloadItems?, events? }. `cli` / `nullSinkScript`
 * run another build (say, the commit before a change: `git worktree add`,
 * build it, point here at its dist/cli.js and bench/support/nullSinkRelay.mjs).
 * `payloadItems`: each event's metadata is an array of that many small objects
 * (10,000: about 200 KB of JSON) instead of the usual ~80 bytes. Each relay
 * process has bench/support/memoryProbe.mjs preloaded (process.memoryUsage()
 * peaks and GC counts per phase; about 1 MiB of its own).
 * Writes <out>/memory-<timestamp>.json and memory-latest.md.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { RESULTS_DIR } from './run.ts';
import { openBenchEnv } from './support/benchEnv.ts';
import { cpuBetween, cpuSnapshot, peakRssMiB, rssMiB } from './support/procStats.ts';
import { DEPLOYED_NODE_OPTIONS, NULL_SINK_RELAY, RUNS_BUILT_PACKAGE, startRelay } from './support/relayProcesses.ts';
import { anyPending, seedBacklog } from './support/seed.ts';
import { round, sleep } from './support/stats.ts';

const PROBE = fileURLToPath(new URL('./support/memoryProbe.mjs', import.meta.url));

export interface MemoryVariant {
  name: string;
  sink?: 'mongo' | 'null';
  nodeOptions?: string;
  concurrency?: number;
  env?: Record<string, string>;
  cli?: string;
  nullSinkScript?: string;
  payloadItems?: number;
  events?: number;
}

export interface MemoryResult {
  name: string;
  variant: MemoryVariant;
  nodeOptions: string;
  events: number;
  /** The relay ran out of memory or exited during the drain. */
  crashed: boolean;
  output?: string;
  startMiB?: number;
  idleMiB?: number;
  peakMiB?: number;
  afterMiB?: number;
  eventsPerSecond?: number;
  cpuMsPer1000?: number;
  /** process.memoryUsage() peaks per phase (MiB) and GC counts per phase, from the probe. */
  probe?: { peaks: Record<string, Record<string, number>>; collections: Record<string, Record<string, { count: number; ms: number }>> };
}

const BIG_SEED = `
INSERT INTO outbox (event_id, aggregate_type, aggregate_id, version, event_type, payload)
SELECT gen_random_uuid(), 'transaction', 'big-' || i, 1, 'metadata.upserted',
       jsonb_build_object('metadata', jsonb_build_object('items', (SELECT jsonb_agg(jsonb_build_object('k', g + i, 'v', 'x')) FROM generate_series(1, $2::int) g)))
  FROM generate_series(1, $1::int) i`;

export async function measureMemory(databaseUrl: string, mongoUrl: string, variants: readonly MemoryVariant[], defaultEvents: number, log: (line: string) => void): Promise<MemoryResult[]> {
  const env = await openBenchEnv(databaseUrl, mongoUrl);
  const probeDir = join(tmpdir(), `outbox-relay-memory-${process.pid}`);
  mkdirSync(probeDir, { recursive: true });
  const results: MemoryResult[] = [];
  try {
    for (const v of variants) {
      const events = v.events ?? defaultEvents;
      const nodeOptions = v.nodeOptions ?? DEPLOYED_NODE_OPTIONS;
      const probeOut = join(probeDir, `${results.length}.json`);
      const scratch = await env.scratch(`mem${results.length}`);
      try {
        const script = v.sink === 'null' ? (v.nullSinkScript ?? NULL_SINK_RELAY) : v.cli;
        const relay = await startRelay({
          databaseUrl: scratch.databaseUrl,
          mongoUrl: scratch.mongoUrl,
          mongoDb: scratch.mongoDbName,
          id: `bench-memory-${results.length}`,
          concurrency: v.concurrency ?? 2,
          ...(script ? { script, args: v.sink === 'null' ? [] : ['run'] } : {}),
          env: { MEMORY_PROBE_OUT: probeOut, ...v.env },
          nodeOptions: `${nodeOptions} --import ${PROBE}`.trim(),
        });
        try {
          const startMiB = rssMiB(relay.pid) ?? Number.NaN;
          await sleep(5000);
          const idleMiB = rssMiB(relay.pid) ?? Number.NaN;
          process.kill(relay.pid, 'SIGWINCH');
          const client = await scratch.pool.connect();
          let before;
          let t0: number;
          try {
            await client.query('BEGIN');
            if (v.payloadItems) await client.query(BIG_SEED, [events, v.payloadItems]);
            else await seedBacklog(client, events);
            await client.query('ANALYZE outbox');
            before = cpuSnapshot([relay.pid]);
            await client.query('COMMIT');
            t0 = performance.now();
          } finally {
            client.release();
          }
          let crashed = false;
          while (await anyPending(scratch.pool)) {
            if (relay.child.exitCode !== null || relay.child.signalCode !== null) {
              crashed = true;
              break;
            }
            await sleep(50);
          }
          if (crashed) {
            results.push({ name: v.name, variant: v, nodeOptions, events, crashed, output: relay.output().slice(-1500) });
            log(`bench memory: ${v.name}: the relay exited during the drain`);
            continue;
          }
          const seconds = (performance.now() - t0) / 1000;
          const cpu = cpuBetween(before, cpuSnapshot([relay.pid]));
          const peakMiB = peakRssMiB(relay.pid) ?? Number.NaN;
          process.kill(relay.pid, 'SIGWINCH');
          await sleep(10_000);
          const afterMiB = rssMiB(relay.pid) ?? Number.NaN;
          process.kill(relay.pid, 'SIGUSR2');
          await sleep(300);
          const probe = JSON.parse(readFileSync(probeOut, 'utf8')) as MemoryResult['probe'];
          const result: MemoryResult = {
            name: v.name,
            variant: v,
            nodeOptions,
            events,
            crashed,
            startMiB: round(startMiB, 1),
            idleMiB: round(idleMiB, 1),
            peakMiB: round(peakMiB, 1),
            afterMiB: round(afterMiB, 1),
            eventsPerSecond: round(events / seconds, 0),
            cpuMsPer1000: round((cpu.relayCpuSeconds / events) * 1_000_000, 1),
            ...(probe ? { probe } : {}),
          };
          results.push(result);
          log(`bench memory: ${v.name}: start ${result.startMiB}, idle ${result.idleMiB}, peak ${result.peakMiB}, after ${result.afterMiB} MiB; ${result.eventsPerSecond} events/s, ${result.cpuMsPer1000} CPU ms per 1,000`);
        } finally {
          await relay.stop();
        }
      } finally {
        await scratch.drop();
      }
    }
  } finally {
    await env.close();
    rmSync(probeDir, { recursive: true, force: true });
  }
  return results;
}

export function renderMemory(startedAt: string, results: readonly MemoryResult[]): string {
  const lines = [
    `# Relay memory, side by side (${startedAt})`,
    '',
    'RSS (MiB): at start (before any event), idle 5 s later, peak (VmHWM) through the drain, 10 s after it. Heap: process.memoryUsage() peak during the drain. One run, one machine: compare rows with each other.',
    '',
    '| variant | sink | NODE_OPTIONS | events | start | idle | peak | after | heapUsed / heapTotal / external | events/s | relay CPU ms per 1,000 | GCs minor / major during the drain |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of results) {
    const sink = r.variant.sink ?? 'mongo';
    const head = `| ${r.name} | ${sink}${r.variant.payloadItems ? `, ${r.variant.payloadItems}-item payloads` : ''} | \`${r.nodeOptions || '(none)'}\` | ${r.events}`;
    if (r.crashed) {
      lines.push(`${head} | — | — | **exited** | — | — | — | — | — |`);
      continue;
    }
    const heap = r.probe?.peaks.drain;
    const gc = r.probe?.collections.drain;
    lines.push(`${head} | ${r.startMiB} | ${r.idleMiB} | ${r.peakMiB} | ${r.afterMiB} | ${heap ? `${heap.heapUsed} / ${heap.heapTotal} / ${heap.external}` : '—'} | ${r.eventsPerSecond} | ${r.cpuMsPer1000} | ${gc ? `${gc.minor?.count ?? 0} / ${gc.major?.count ?? 0}` : '—'} |`);
  }
  return `${lines.join('\n')}\n`;
}

const DEFAULT_VARIANTS: MemoryVariant[] = [
  { name: 'deployed', sink: 'null', concurrency: 4 },
  { name: 'previous V8 setting', sink: 'null', concurrency: 4, nodeOptions: '--max-semi-space-size=2' },
  { name: 'deployed', sink: 'mongo' },
  { name: 'previous V8 setting', sink: 'mongo', nodeOptions: '--max-semi-space-size=2' },
];

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { events: { type: 'string' }, variants: { type: 'string' }, out: { type: 'string' } } });
  const databaseUrl = process.env.DATABASE_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!databaseUrl || !mongoUrl) {
    console.error('bench memory: DATABASE_URL and MONGO_URL are required (npm run bench sets them)');
    process.exit(2);
  }
  if (!RUNS_BUILT_PACKAGE) console.error('bench memory: relays run from src/ (Node type stripping adds ~25 MiB): run through `npm run bench -- --memory`');
  const variants = values.variants ? (JSON.parse(values.variants) as MemoryVariant[]) : DEFAULT_VARIANTS;
  const startedAt = new Date().toISOString();
  const results = await measureMemory(databaseUrl, mongoUrl, variants, Number(values.events ?? 100_000), (line) => console.error(line));
  const outDir = values.out ?? RESULTS_DIR;
  mkdirSync(outDir, { recursive: true });
  const json = join(outDir, `memory-${startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(json, `${JSON.stringify({ startedAt, runsBuiltPackage: RUNS_BUILT_PACKAGE, results }, null, 2)}\n`);
  const markdown = renderMemory(startedAt, results);
  writeFileSync(join(outDir, 'memory-latest.md'), markdown);
  console.log(markdown);
  console.log(`wrote ${json}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(`bench memory: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
