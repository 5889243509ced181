/**
 * The benchmark harness: every scenario and baseline in one run, side by side.
 *
 *   node bench/run.ts [--quick | --tiny] [--out <dir>] [--only a,b]
 *
 * Needs DATABASE_URL and MONGO_URL (scripts/bench.sh sets them). Creates its
 * own databases (`outbox_relay_bench_*`, Postgres and MongoDB) and drops them.
 * Writes <out>/<timestamp>.json, <out>/latest.md and <out>/latest.svg
 * (default out: bench/results).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backlogDrain, type BacklogDrainResult } from './backlogDrain.ts';
import { commitLatency, type LatencyResult } from './commitLatency.ts';
import { graphileWorkerPeer, type PeerResult } from './graphileWorkerPeer.ts';
import { naiveRelay } from './naiveRelay.ts';
import { sinkLimit } from './sinkLimit.ts';
import { sourceLimit } from './sourceLimit.ts';
import { openBenchEnv } from './support/benchEnv.ts';
import { renderMarkdown } from './support/markdown.ts';
import type { BenchMode, BenchResults, BenchSettings } from './support/results.ts';
import { renderSvg } from './support/svg.ts';
import { checkTargets } from './support/targets.ts';
import { writerOverhead, type WriterOverheadResult } from './writerOverhead.ts';

export const RESULTS_DIR = fileURLToPath(new URL('./results', import.meta.url));

export function settingsFor(mode: BenchMode): BenchSettings {
  const common = { batchSize: 500, relayConcurrency: 2, pollIntervalMs: 1000 };
  if (mode === 'tiny') {
    return { ...common, mode, drainEvents: 400, nullSinkEvents: 400, nullSinkConcurrency: 4, scaleOutEvents: 400, scaleOutRelays: [1, 2], sinkEvents: 400, naiveSeconds: 1, peerEvents: 100, peerNoopEvents: 200, latencyRates: [20], latencySeconds: 1, notifyTargetRate: 20, writerConcurrency: [1, 2], writerWindowSeconds: 0.5, writerRounds: 1 };
  }
  if (mode === 'quick') {
    // The drain and its sink and source limits run on the issue's 100,000-event
    // backlog (same data, and memory and claim latency must not grow with it); the
    // other scenarios on 10,000 to keep the run near ten minutes on FerretDB
    // (~900 events/s here). Scale-out compares 1 and 2 relays on 10,000.
    return { ...common, mode, drainEvents: 100_000, nullSinkEvents: 100_000, nullSinkConcurrency: 4, scaleOutEvents: 10_000, scaleOutRelays: [1, 2], sinkEvents: 100_000, naiveSeconds: 10, peerEvents: 5_000, peerNoopEvents: 20_000, latencyRates: [50, 200], latencySeconds: 10, notifyTargetRate: 200, writerConcurrency: [1, 8], writerWindowSeconds: 3, writerRounds: 4 };
  }
  return { ...common, mode, drainEvents: 1_000_000, nullSinkEvents: 1_000_000, nullSinkConcurrency: 4, scaleOutEvents: 200_000, scaleOutRelays: [1, 2, 4], sinkEvents: 200_000, naiveSeconds: 30, peerEvents: 50_000, peerNoopEvents: 200_000, latencyRates: [100, 500, 2000], latencySeconds: 30, notifyTargetRate: 500, writerConcurrency: [1, 8, 32], writerWindowSeconds: 5, writerRounds: 5 };
}

export interface RunOptions {
  mode: BenchMode;
  outDir: string;
  databaseUrl: string;
  mongoUrl: string;
  log?: (line: string) => void;
}

export async function runBench(options: RunOptions): Promise<{ results: BenchResults; files: { json: string; markdown: string; svg: string } }> {
  const log = options.log ?? ((line: string) => console.error(line));
  const s = settingsFor(options.mode);
  const started = new Date();
  const env = await openBenchEnv(options.databaseUrl, options.mongoUrl);
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      const t = performance.now();
      log(`bench: ${name} …`);
      try {
        const value = await fn();
        const figure = (value as { eventsPerSecond?: number; latency?: { p99: number }; median?: unknown }) ?? {};
        const summary = figure.eventsPerSecond !== undefined ? `${figure.eventsPerSecond} events/s` : figure.latency ? `p99 ${figure.latency.p99} ms` : figure.median ? JSON.stringify(figure.median) : '';
        log(`bench: ${name} done in ${((performance.now() - t) / 1000).toFixed(1)} s ${summary}`);
        return value;
      } catch (error) {
        // The Postgres server is shared: another engineer's test may terminate every
        // backend (57P01). That is not what we measure; run the scenario again once.
        const message = error instanceof Error ? error.message : String(error);
        if (attempt >= 2 || !/terminating connection|Connection terminated|ECONNRESET/i.test(message)) throw error;
        log(`bench: ${name} interrupted (${message}); running it again`);
      }
    }
  };
  try {
    const machine = await env.machine();
    log(`bench: ${options.mode} run on ${machine.cores} cores, ${machine.postgres}, ${machine.mongoCompatible}, Node ${machine.node}`);
    // Writer overhead first, each level after a CHECKPOINT: it measures commit
    // throughput, which on this machine's disk swings by 2× while a checkpoint
    // writes out what the drains below leave behind (seen: 561 vs 265 postings/s
    // in neighbouring windows of the same variant when it ran last).
    const writer: WriterOverheadResult[] = [];
    for (const concurrency of s.writerConcurrency) {
      await env.checkpoint();
      writer.push(await step(`writer overhead at concurrency ${concurrency}`, () => writerOverhead(env, { concurrency, windowSeconds: s.writerWindowSeconds, rounds: s.writerRounds })));
    }
    const sink = await step(`sink limit (${s.sinkEvents} events)`, () => sinkLimit(env, { events: s.sinkEvents, batchSize: s.batchSize, concurrency: s.relayConcurrency }));
    const source = await step(`source limit (${s.drainEvents} events)`, () => sourceLimit(env, { events: s.drainEvents, batchSize: s.batchSize, concurrency: s.relayConcurrency }));
    const drain = await step(`backlog drain, 1 relay (${s.drainEvents} events)`, () => backlogDrain(env, { events: s.drainEvents, relays: 1, batchSize: s.batchSize, concurrency: s.relayConcurrency }));
    const nullSinkEvents = s.nullSinkEvents ?? s.drainEvents;
    // The relay apart from the sink. With a sink that answers at once the relay
    // is bound by its round trips to PostgreSQL, not by CPU, at the default
    // concurrency of 2 (measured: 10.1k events/s at 2, 17.9k at 4, 9.4k at 8, where
    // claims start contending): so it runs sized for that sink, at
    // nullSinkConcurrency, as the peer runs at its best; the default is measured too.
    const nullSinkConcurrency = s.nullSinkConcurrency ?? 4;
    const nullSinkDrain = (nodeOptions?: string, concurrency = nullSinkConcurrency) =>
      backlogDrain(env, { events: nullSinkEvents, relays: 1, batchSize: s.batchSize, concurrency, sink: 'null', ...(nodeOptions !== undefined ? { nodeOptions } : {}) });
    const nullSink = await step(`null-sink drain, 1 relay, concurrency ${nullSinkConcurrency} (${nullSinkEvents} events)`, () => nullSinkDrain());
    // Where the relay's own CPU counts most, what the deployed V8 setting costs: the same drain with Node's defaults.
    const nullSinkNodeDefaults = await step(`null-sink drain, Node's default V8 settings (${nullSinkEvents} events)`, () => nullSinkDrain(''));
    const nullSinkDefaultConcurrency = await step(`null-sink drain, concurrency ${s.relayConcurrency} (${nullSinkEvents} events)`, () => nullSinkDrain(undefined, s.relayConcurrency));
    const scaleOut: BacklogDrainResult[] = [];
    for (const relays of s.scaleOutRelays) {
      if (relays === 1 && s.scaleOutEvents === s.drainEvents) {
        scaleOut.push(drain);
        continue;
      }
      scaleOut.push(await step(`scale-out, ${relays} relays (${s.scaleOutEvents} events)`, () => backlogDrain(env, { events: s.scaleOutEvents, relays, batchSize: s.batchSize, concurrency: s.relayConcurrency })));
    }
    const naive = await step(`naive relay (${s.naiveSeconds} s)`, () => naiveRelay(env, { seconds: s.naiveSeconds, backlog: Math.max(200, s.naiveSeconds * 300) }));
    // The peer is a comparison, not the product: its failure is reported, not fatal.
    // At its defaults and at its documented best, with the fenced upsert and with a no-op task.
    const peers: PeerResult[] = [];
    for (const [profile, task] of [['default', 'upsert'], ['best', 'upsert'], ['default', 'noop'], ['best', 'noop']] as const) {
      const events = task === 'noop' ? (s.peerNoopEvents ?? s.peerEvents) : s.peerEvents;
      const peerRun: PeerResult = await step(`graphile-worker peer, ${profile} settings, ${task} (${events} jobs)`, () => graphileWorkerPeer(env, { events, profile, task })).catch((error: unknown) => ({
        installed: false as const,
        reason: `graphile-worker (${profile}, ${task}) run failed: ${error instanceof Error ? error.message : String(error)}`,
      }));
      if (!peerRun.installed) log(`bench: ${peerRun.reason}`);
      peers.push(peerRun);
    }
    const peer = peers[0] as PeerResult;
    const latency: LatencyResult[] = [];
    const rates = [...s.latencyRates];
    if (options.mode === 'full') rates.push(Math.round(0.8 * drain.eventsPerSecond));
    for (const rate of rates) {
      for (const listen of [true, false]) {
        latency.push(await step(`latency ${listen ? 'NOTIFY' : 'poll'} at ${rate}/s`, () => commitLatency(env, { rate, seconds: s.latencySeconds, listen, pollIntervalMs: s.pollIntervalMs })));
      }
    }
    const finished = new Date();
    const partial = {
      startedAt: started.toISOString(),
      finishedAt: finished.toISOString(),
      durationSeconds: Math.round((finished.getTime() - started.getTime()) / 1000),
      machine,
      settings: s,
      sinkLimit: sink,
      sourceLimit: source,
      drain,
      scaleOut,
      naive,
      peer,
      peers,
      nullSink,
      nullSinkNodeDefaults,
      nullSinkDefaultConcurrency,
      latency,
      writer,
      targets: [],
    } satisfies BenchResults;
    const results: BenchResults = { ...partial, targets: checkTargets(partial) };
    mkdirSync(options.outDir, { recursive: true });
    const stamp = started.toISOString().replace(/[:.]/g, '-');
    const files = { json: join(options.outDir, `${stamp}.json`), markdown: join(options.outDir, 'latest.md'), svg: join(options.outDir, 'latest.svg') };
    writeFileSync(files.json, `${JSON.stringify(results, null, 2)}\n`);
    writeFileSync(files.markdown, renderMarkdown(results));
    writeFileSync(files.svg, renderSvg(results));
    return { results, files };
  } finally {
    await env.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { quick: { type: 'boolean' }, tiny: { type: 'boolean' }, full: { type: 'boolean' }, out: { type: 'string' } } });
  const mode: BenchMode = values.tiny ? 'tiny' : values.quick ? 'quick' : 'full';
  const databaseUrl = process.env.DATABASE_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!databaseUrl || !mongoUrl) {
    console.error('bench: DATABASE_URL and MONGO_URL are required (npm run bench sets them)');
    process.exit(2);
  }
  const { results, files } = await runBench({ mode, outDir: values.out ?? RESULTS_DIR, databaseUrl, mongoUrl });
  for (const t of results.targets) console.log(`${t.met === null ? 'n/a ' : t.met ? 'MET ' : 'MISS'}  ${t.target}: ${t.measured}${t.note ? ` (${t.note})` : ''}`);
  console.log(`\nwrote ${files.json}\n      ${files.markdown}\n      ${files.svg}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
