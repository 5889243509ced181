/**
 * `npm run bench:medians [-- <result.json> …]`: the issue's targets are medians
 * of several runs, so this reads bench results (by default every JSON in
 * bench/results/ of the newest run's mode and format) and writes
 * bench/results/medians.md: each figure and ratio per run, and its median.
 * Ratios are taken within each run (side by side) before the median.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RESULTS_DIR } from './run.ts';
import type { BenchResults } from './support/results.ts';
import { median, relayCpuMsPer1000, round } from './support/stats.ts';
import { peerRun } from './support/targets.ts';

interface Figure {
  name: string;
  unit: string;
  /** undefined when the run did not measure it */
  value: (r: BenchResults) => number | undefined;
}

const latencyP99 = (r: BenchResults, mode: 'notify' | 'poll', rate: number) => r.latency.find((l) => l.mode === mode && l.targetRate === rate)?.latency.p99;
const writerAt = (r: BenchResults, concurrency: number) => r.writer.find((w) => w.concurrency === concurrency);
const scaleOut = (r: BenchResults, relays: number) => r.scaleOut.find((s) => s.relays === relays)?.eventsPerSecond ?? (relays === 1 ? r.drain.eventsPerSecond : undefined);

const FIGURES: Figure[] = [
  { name: 'drain, 1 relay', unit: 'events/s', value: (r) => r.drain.eventsPerSecond },
  { name: 'sink limit', unit: 'events/s', value: (r) => r.sinkLimit.eventsPerSecond },
  { name: 'source limit', unit: 'events/s', value: (r) => r.sourceLimit.eventsPerSecond },
  { name: 'naive relay', unit: 'events/s', value: (r) => r.naive.eventsPerSecond },
  { name: 'graphile-worker peer', unit: 'events/s', value: (r) => (r.peer.installed ? r.peer.eventsPerSecond : undefined) },
  { name: 'drain / min(sink, source) (target ≥ 0.7)', unit: '×', value: (r) => r.drain.eventsPerSecond / Math.min(r.sinkLimit.eventsPerSecond, r.sourceLimit.eventsPerSecond) },
  { name: 'drain / naive (target ≥ 10)', unit: '×', value: (r) => r.drain.eventsPerSecond / r.naive.eventsPerSecond },
  { name: 'drain / graphile-worker (target ≥ 1.5)', unit: '×', value: (r) => (r.peer.installed ? r.drain.eventsPerSecond / r.peer.eventsPerSecond : undefined) },
  { name: 'sink limit / naive (ceiling of drain / naive on this sink)', unit: '×', value: (r) => r.sinkLimit.eventsPerSecond / r.naive.eventsPerSecond },
  { name: 'sink limit / graphile-worker (ceiling of drain / peer)', unit: '×', value: (r) => (r.peer.installed ? r.sinkLimit.eventsPerSecond / r.peer.eventsPerSecond : undefined) },
  { name: '2 relays / 1 relay, same backlog (target ≥ 1.6)', unit: '×', value: (r) => { const two = scaleOut(r, 2); const one = scaleOut(r, 1); return two === undefined || one === undefined ? undefined : two / one; } },
  { name: 'NOTIFY p99 at 50 postings/s', unit: 'ms', value: (r) => latencyP99(r, 'notify', 50) },
  { name: 'NOTIFY p99 at 200 postings/s', unit: 'ms', value: (r) => latencyP99(r, 'notify', 200) },
  { name: 'polling (1 s) p99 at 50 postings/s (target ≤ 1,050)', unit: 'ms', value: (r) => latencyP99(r, 'poll', 50) },
  { name: 'writer cost at concurrency 8: outbox rows', unit: '%', value: (r) => { const w = writerAt(r, 8); return w && w.costOutbox * 100; } },
  { name: 'writer cost at concurrency 8: outbox + NOTIFY, relays busy (target ≤ 15)', unit: '%', value: (r) => { const w = writerAt(r, 8); return w && w.costNotifyBusy * 100; } },
  { name: 'writer cost at concurrency 8: outbox + NOTIFY, a relay waiting', unit: '%', value: (r) => { const w = writerAt(r, 8); return w && w.costNotifyWaiting * 100; } },
  { name: 'relay peak RSS (target ≤ 150 MiB)', unit: 'MiB', value: (r) => r.drain.peakRssMiB },
  { name: 'drain / sink limit (target ≥ 0.9)', unit: '×', value: (r) => r.drain.eventsPerSecond / r.sinkLimit.eventsPerSecond },
  { name: 'null-sink relay (target ≥ 30,000)', unit: 'events/s', value: (r) => r.nullSink?.eventsPerSecond },
  { name: 'null-sink relay at the default concurrency (2)', unit: 'events/s', value: (r) => r.nullSinkDefaultConcurrency?.eventsPerSecond },
  { name: 'null-sink relay peak RSS', unit: 'MiB', value: (r) => r.nullSink?.peakRssMiB },
  { name: 'null-sink relay, Node defaults / deployed V8 setting: throughput', unit: '×', value: (r) => r.nullSink && r.nullSinkNodeDefaults && r.nullSinkNodeDefaults.eventsPerSecond / r.nullSink.eventsPerSecond },
  { name: 'null-sink relay peak RSS with Node defaults', unit: 'MiB', value: (r) => r.nullSinkNodeDefaults?.peakRssMiB },
  // In ms: ~0.012 CPU s showed as 0 at one decimal in every run.
  { name: 'null-sink relay CPU per 1,000 events', unit: 'CPU ms', value: (r) => r.nullSink && relayCpuMsPer1000(r.nullSink) },
  { name: 'relay CPU per 1,000 events, drain (MongoDB sink)', unit: 'CPU ms', value: (r) => relayCpuMsPer1000(r.drain) },
  { name: 'graphile-worker best settings, upsert', unit: 'events/s', value: (r) => peerRun(r, 'best', 'upsert')?.eventsPerSecond },
  { name: 'graphile-worker default settings, no-op', unit: 'events/s', value: (r) => peerRun(r, 'default', 'noop')?.eventsPerSecond },
  { name: 'graphile-worker best settings, no-op', unit: 'events/s', value: (r) => peerRun(r, 'best', 'noop')?.eventsPerSecond },
  { name: 'drain / graphile-worker at its best (target ≥ 1.5)', unit: '×', value: (r) => { const p = peerRun(r, 'best', 'upsert'); return p && r.drain.eventsPerSecond / p.eventsPerSecond; } },
  { name: 'null-sink relay / graphile-worker no-op at its best (target ≥ 1.5)', unit: '×', value: (r) => { const p = peerRun(r, 'best', 'noop'); return p && r.nullSink && r.nullSink.eventsPerSecond / p.eventsPerSecond; } },
  { name: 'writer cost at concurrency 8: postings/s, outbox on vs off, relays busy (wall clock: the neighbours\' load too)', unit: '%', value: (r) => { const w = writerAt(r, 8); return w?.costNotifyBusyVsOff === undefined ? undefined : w.costNotifyBusyVsOff * 100; } },
  { name: 'writer cost at concurrency 8: outbox on vs off, paired rounds', unit: '%', value: (r) => { const w = writerAt(r, 8); return w?.costNotifyBusyVsOffPaired === undefined ? undefined : w.costNotifyBusyVsOffPaired * 100; } },
  { name: 'writer CPU per posting at concurrency 8, outbox off', unit: 'µs', value: (r) => writerAt(r, 8)?.cpu?.perPosting.outboxOff.totalUs },
  { name: 'writer CPU per posting at concurrency 8, outbox on (NOTIFY trigger on, relays busy)', unit: 'µs', value: (r) => writerAt(r, 8)?.cpu?.perPosting.notifyBusy.totalUs },
  { name: 'writer cost at concurrency 8: CPU per posting, outbox on vs off, relays busy (target ≤ 10)', unit: '%', value: (r) => { const c = writerAt(r, 8)?.cpu; return c && c.costNotifyBusyVsOff * 100; } },
  { name: 'writer cost at concurrency 8: CPU per posting, outbox rows alone (no trigger)', unit: '%', value: (r) => { const c = writerAt(r, 8)?.cpu; return c && c.costOutboxVsOff * 100; } },
  { name: 'claim latency end / start (target ≤ 2)', unit: '×', value: (r) => r.drain.claimEnd.executionMs / r.drain.claimStart.executionMs },
];

function defaultFiles(): string[] {
  // Main runs only (named by their timestamp): soak-*.json and writer-*.json have other shapes.
  const all = readdirSync(RESULTS_DIR)
    .filter((f) => /^\d.*\.json$/.test(f))
    .sort()
    .map((f) => join(RESULTS_DIR, f));
  const parsed = all.map((file) => ({ file, r: JSON.parse(readFileSync(file, 'utf8')) as BenchResults }));
  const newest = parsed.at(-1);
  if (!newest) return [];
  // Same mode, and the current format (writer variants with and without a waiting relay).
  return parsed.filter(({ r }) => r.settings.mode === newest.r.settings.mode && r.writer.every((w) => 'costNotifyBusy' in w)).map(({ file }) => file);
}

/**
 * A figure to `digits` decimals, but never a measured non-zero value shown as
 * 0: below 1 it keeps two significant digits (0.012 stays 0.012).
 */
export function formatFigure(v: number, digits: number): string {
  const rounded = round(v, digits);
  return rounded === 0 && v !== 0 ? String(Number(v.toPrecision(2))) : String(rounded);
}

/** The medians table as markdown (exported for the harness test and its unit test). */
export function renderMedians(runs: readonly BenchResults[]): string {
  const lines = [
    `# Medians of ${runs.length} ${runs[0]?.settings.mode ?? ''} benchmark runs`,
    '',
    `Runs: ${runs.map((r) => r.startedAt).join(', ')}. Each ratio is taken within its run (both sides measured minutes apart on the same machine), then the median across runs.`,
    '',
    `| figure | ${runs.map((_, i) => `run ${i + 1}`).join(' | ')} | median |`,
    `| --- | ${runs.map(() => '---').join(' | ')} | --- |`,
  ];
  for (const figure of FIGURES) {
    const values = runs.map((r) => figure.value(r));
    const present = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
    const show = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : formatFigure(v, figure.unit === '×' ? 2 : 1));
    lines.push(`| ${figure.name} (${figure.unit}) | ${values.map(show).join(' | ')} | **${present.length ? show(median(present)) : '–'}** |`);
  }
  return `${lines.join('\n')}\n`;
}

function main(): void {
  const files = process.argv.slice(2).length ? process.argv.slice(2) : defaultFiles();
  if (files.length === 0) {
    console.error('bench:medians: no result files (run `npm run bench -- --quick` first)');
    process.exit(2);
  }
  const markdown = renderMedians(files.map((file) => JSON.parse(readFileSync(file, 'utf8')) as BenchResults));
  const out = join(RESULTS_DIR, 'medians.md');
  writeFileSync(out, markdown);
  console.log(markdown);
  console.error(`wrote ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) main();
