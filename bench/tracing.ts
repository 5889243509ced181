/**
 * Tracing costs, side by side in one run (`npm run bench -- --tracing [--tiny]`):
 *
 * 1. Writer overhead: postTransaction throughput (2 outbox rows per posting)
 *    with no OpenTelemetry SDK registered (`off`: the API's no-op, nothing
 *    stored) against an SDK registered in the writer with every posting inside
 *    an active span (`on`: the context is captured and stored in trace_context),
 *    windows interleaved off/on, on/off, … so machine drift hits both alike.
 * 2. The relay process: start time (spawn → "relay started") and resident
 *    memory after start, with tracing off (no SDK module loaded) against
 *    OTEL_TRACES_EXPORTER=otlp over http/protobuf (the default) and http/json,
 *    started in rotating order.
 *
 * Writes bench/results/tracing-<stamp>.json and tracing-latest.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';
import { createDb } from '../src/db/client.ts';
import { openBenchEnv, type BenchEnv } from './support/benchEnv.ts';
import { createAccounts, postOne } from './support/ledgerFixture.ts';
import { peakRssMiB } from './support/procStats.ts';
import { startRelay } from './support/relayProcesses.ts';
import { median, round, sleep } from './support/stats.ts';

export interface TracingBenchSettings {
  writerConcurrency: number;
  writerWindowSeconds: number;
  writerRounds: number;
  relayStarts: number;
}

export const TRACING_SETTINGS: Record<'tiny' | 'quick', TracingBenchSettings> = {
  tiny: { writerConcurrency: 2, writerWindowSeconds: 0.5, writerRounds: 1, relayStarts: 1 },
  quick: { writerConcurrency: 4, writerWindowSeconds: 3, writerRounds: 6, relayStarts: 5 },
};

type RelayVariant = 'off' | 'otlpProtobuf' | 'otlpJson';
const RELAY_VARIANTS: RelayVariant[] = ['off', 'otlpProtobuf', 'otlpJson'];

export interface TracingBenchResult {
  settings: TracingBenchSettings;
  writer: {
    /** postings/s per window, in run order. */
    windows: { off: number[]; on: number[] };
    median: { off: number; on: number };
    /** This process's CPU ms per posting in each window: what the writer itself pays, less sensitive to a busy machine than throughput. */
    cpuMsPerPosting: { off: number[]; on: number[] };
    medianCpuMsPerPosting: { off: number; on: number };
    /** on / off, on medians (1 = no cost). */
    ratio: number;
    /** Rows that stored a trace context in the `on` windows (must be > 0) and in `off` (must be 0). */
    tracedRows: { off: number; on: number };
  };
  relay: Record<RelayVariant, { startMs: number[]; rssMiB: number[]; medianStartMs: number; medianRssMiB: number }>;
  /**
   * loadTracing alone in a fresh process (the relay modules already loaded):
   * the time it takes and the resident memory it adds. The SDK's own share of
   * the relay's start, without the network waits that make the start noisy.
   */
  loadTracing: Record<RelayVariant, { ms: number[]; rssMiB: number[]; medianMs: number; medianRssMiB: number }>;
  /** medians, traced ÷ off */
  relayRatios: { startOtlpProtobuf: number; startOtlpJson: number; rssOtlpProtobuf: number; rssOtlpJson: number };
}

/** Spans go nowhere: the writer pays for making and batching them, as with a real exporter, minus the network. */
const discard: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };

async function writerOverhead(env: BenchEnv, s: TracingBenchSettings): Promise<TracingBenchResult['writer']> {
  const scratch = await env.scratch('tracing-writer', s.writerConcurrency + 2);
  const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: discard })] });
  const tracer = provider.getTracer('bench-writer');
  const contextManager = new AsyncLocalStorageContextManager();
  try {
    const accounts = await createAccounts(scratch.pool, 1000);
    await scratch.pool.query('VACUUM ANALYZE');
    await scratch.pool.query('ALTER TABLE outbox DISABLE TRIGGER outbox_notify');
    const db = createDb(scratch.pool);
    const windows = { off: [] as number[], on: [] as number[] };
    const cpuMsPerPosting = { off: [] as number[], on: [] as number[] };
    const tracedRows = { off: 0, on: 0 };
    for (let r = 0; r < s.writerRounds; r++) {
      for (const variant of r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        await scratch.pool.query('TRUNCATE outbox');
        if (variant === 'on') {
          context.setGlobalContextManager(contextManager.enable());
          trace.setGlobalTracerProvider(provider);
        }
        const post = variant === 'on' ? () => tracer.startActiveSpan('POST /payments', (span) => postOne(db, accounts, 2, 'tr').finally(() => span.end())) : () => postOne(db, accounts, 2, 'tr');
        let count = 0;
        const cpuBefore = process.cpuUsage();
        const start = performance.now();
        const end = start + s.writerWindowSeconds * 1000;
        await Promise.all(
          Array.from({ length: s.writerConcurrency }, async () => {
            while (performance.now() < end) {
              await post();
              count++;
            }
          }),
        );
        windows[variant].push(round(count / ((performance.now() - start) / 1000), 1));
        const cpu = process.cpuUsage(cpuBefore);
        cpuMsPerPosting[variant].push(round((cpu.user + cpu.system) / 1000 / Math.max(1, count), 3));
        if (variant === 'on') {
          trace.disable();
          context.disable();
        }
        const { rows } = await scratch.pool.query<{ n: number }>('SELECT count(trace_context)::int AS n FROM outbox');
        tracedRows[variant] += rows[0]?.n ?? 0;
      }
    }
    if (tracedRows.on === 0 || tracedRows.off !== 0) throw new Error(`tracing bench: trace_context rows off=${tracedRows.off} on=${tracedRows.on}; the variants did not do what they say`);
    const med = { off: median(windows.off), on: median(windows.on) };
    return { windows, median: med, ratio: round(med.on / med.off, 3), cpuMsPerPosting, medianCpuMsPerPosting: { off: median(cpuMsPerPosting.off), on: median(cpuMsPerPosting.on) }, tracedRows };
  } finally {
    await provider.shutdown();
    await scratch.drop();
  }
}

async function relayFootprint(env: BenchEnv, s: TracingBenchSettings): Promise<TracingBenchResult['relay']> {
  const scratch = await env.scratch('tracing-relay', 2);
  const out = Object.fromEntries(RELAY_VARIANTS.map((v) => [v, { startMs: [] as number[], rssMiB: [] as number[] }])) as Record<RelayVariant, { startMs: number[]; rssMiB: number[] }>;
  // A closed loopback port: nothing is pending, so no span is exported anyway.
  const otlp = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
  const envFor: Record<RelayVariant, Record<string, string>> = { off: {}, otlpProtobuf: { ...otlp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, otlpJson: { ...otlp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } };
  try {
    for (let i = 0; i < s.relayStarts; i++) {
      // Rotate the order, so a slower first start (cold file cache) is shared.
      const order = [...RELAY_VARIANTS.slice(i % 3), ...RELAY_VARIANTS.slice(0, i % 3)];
      for (const variant of order) {
        const started = performance.now();
        const relay = await startRelay({ databaseUrl: scratch.databaseUrl, mongoUrl: scratch.mongoUrl, mongoDb: scratch.mongoDbName, id: `tracing-${variant}-${i}`, env: envFor[variant] });
        out[variant].startMs.push(round(performance.now() - started, 0));
        await sleep(1000); // let start-up garbage settle
        out[variant].rssMiB.push(round(peakRssMiB(relay.pid) ?? 0, 1));
        if (variant !== 'off' && !relay.output().includes('tracing on')) throw new Error(`tracing bench: relay ${variant} did not turn tracing on`);
        await relay.stop();
      }
    }
    return Object.fromEntries(RELAY_VARIANTS.map((v) => [v, { ...out[v], medianStartMs: median(out[v].startMs), medianRssMiB: median(out[v].rssMiB) }])) as TracingBenchResult['relay'];
  } finally {
    await scratch.drop();
  }
}

const LOAD_TRACING = fileURLToPath(new URL('../src/tracing/loadTracing.ts', import.meta.url));
const RELAY_MODULE = fileURLToPath(new URL('../src/relay/relay.ts', import.meta.url));

function loadTracingCost(s: TracingBenchSettings): TracingBenchResult['loadTracing'] {
  const otlp = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
  const envFor: Record<RelayVariant, Record<string, string>> = { off: {}, otlpProtobuf: { ...otlp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }, otlpJson: { ...otlp, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' } };
  const script = `
    await import(${JSON.stringify(RELAY_MODULE)});
    const { loadTracing } = await import(${JSON.stringify(LOAD_TRACING)});
    globalThis.gc?.();
    const rss0 = process.memoryUsage.rss();
    const t0 = performance.now();
    const tracing = await loadTracing(process.env);
    const ms = performance.now() - t0;
    const rss = process.memoryUsage.rss() - rss0;
    await tracing?.shutdown();
    console.log(JSON.stringify({ ms, rss }));`;
  const clean = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('OTEL_')));
  const out = Object.fromEntries(RELAY_VARIANTS.map((v) => [v, { ms: [] as number[], rssMiB: [] as number[] }])) as Record<RelayVariant, { ms: number[]; rssMiB: number[] }>;
  for (let i = 0; i < Math.max(3, s.relayStarts); i++) {
    for (const variant of RELAY_VARIANTS) {
      const line = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', env: { ...clean, ...envFor[variant] } }).trim().split('\n').pop() ?? '{}';
      const { ms, rss } = JSON.parse(line) as { ms: number; rss: number };
      out[variant].ms.push(round(ms, 1));
      out[variant].rssMiB.push(round(rss / 1024 / 1024, 1));
    }
  }
  return Object.fromEntries(RELAY_VARIANTS.map((v) => [v, { ...out[v], medianMs: median(out[v].ms), medianRssMiB: median(out[v].rssMiB) }])) as TracingBenchResult['loadTracing'];
}

export async function runTracingBench(options: { databaseUrl: string; mongoUrl: string; settings: TracingBenchSettings; log?: (line: string) => void }): Promise<TracingBenchResult> {
  const log = options.log ?? ((line: string) => console.error(line));
  const env = await openBenchEnv(options.databaseUrl, options.mongoUrl);
  try {
    await env.checkpoint();
    log('bench tracing: writer overhead, off vs on …');
    const writer = await writerOverhead(env, options.settings);
    log(`bench tracing: writer ${writer.median.off} vs ${writer.median.on} postings/s (on/off ${writer.ratio})`);
    log('bench tracing: relay start and RSS, SDK loaded vs not …');
    const relay = await relayFootprint(env, options.settings);
    log('bench tracing: loadTracing alone, off vs on …');
    const loadTracing = loadTracingCost(options.settings);
    const ratio = (a: number, b: number) => round(a / b, 3);
    return {
      settings: options.settings,
      writer,
      relay,
      loadTracing,
      relayRatios: {
        startOtlpProtobuf: ratio(relay.otlpProtobuf.medianStartMs, relay.off.medianStartMs),
        startOtlpJson: ratio(relay.otlpJson.medianStartMs, relay.off.medianStartMs),
        rssOtlpProtobuf: ratio(relay.otlpProtobuf.medianRssMiB, relay.off.medianRssMiB),
        rssOtlpJson: ratio(relay.otlpJson.medianRssMiB, relay.off.medianRssMiB),
      },
    };
  } finally {
    await env.close();
  }
}

export function renderTracingMarkdown(r: TracingBenchResult, when: string): string {
  const lines = [
    `# Tracing costs (${when})`,
    '',
    `Writer: postTransaction with 2 outbox rows, concurrency ${r.settings.writerConcurrency}, ${r.settings.writerRounds} rounds of ${r.settings.writerWindowSeconds} s windows per variant, interleaved.`,
    '',
    '| writer | postings/s (median) | windows | writer CPU ms per posting (median) | per window |',
    '| --- | --- | --- | --- | --- |',
    `| no SDK (tracing off) | ${r.writer.median.off} | ${r.writer.windows.off.join(', ')} | ${r.writer.medianCpuMsPerPosting.off} | ${r.writer.cpuMsPerPosting.off.join(', ')} |`,
    `| SDK registered, posting inside a span (context stored) | ${r.writer.median.on} | ${r.writer.windows.on.join(', ')} | ${r.writer.medianCpuMsPerPosting.on} | ${r.writer.cpuMsPerPosting.on.join(', ')} |`,
    `| **on / off** | **${r.writer.ratio}** | | **${round(r.writer.medianCpuMsPerPosting.on / r.writer.medianCpuMsPerPosting.off, 3)}** | |`,
    '',
    `Relay process, ${r.settings.relayStarts} starts per variant (spawn → "relay started"; resident memory 1 s after start).`,
    '',
    '| relay | start ms (median) | RSS MiB (median) | start ms | RSS MiB |',
    '| --- | --- | --- | --- | --- |',
    ...RELAY_VARIANTS.map((v) => `| ${v === 'off' ? 'tracing off (no SDK loaded)' : v === 'otlpProtobuf' ? 'OTLP http/protobuf' : 'OTLP http/json'} | ${r.relay[v].medianStartMs} | ${r.relay[v].medianRssMiB} | ${r.relay[v].startMs.join(', ')} | ${r.relay[v].rssMiB.join(', ')} |`),
    `| **ratios to off** | protobuf ${r.relayRatios.startOtlpProtobuf}, json ${r.relayRatios.startOtlpJson} | protobuf ${r.relayRatios.rssOtlpProtobuf}, json ${r.relayRatios.rssOtlpJson} | | |`,
    '',
    'loadTracing alone in a fresh process after the relay modules loaded (what the SDK adds to a start, without its network waits):',
    '',
    '| OTEL_* | ms (median) | RSS added MiB (median) | ms | MiB |',
    '| --- | --- | --- | --- | --- |',
    ...RELAY_VARIANTS.map((v) => `| ${v === 'off' ? 'unset (off)' : v === 'otlpProtobuf' ? 'otlp, http/protobuf' : 'otlp, http/json'} | ${r.loadTracing[v].medianMs} | ${r.loadTracing[v].medianRssMiB} | ${r.loadTracing[v].ms.join(', ')} | ${r.loadTracing[v].rssMiB.join(', ')} |`),
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { tiny: { type: 'boolean' }, quick: { type: 'boolean' }, out: { type: 'string' } } });
  const databaseUrl = process.env.DATABASE_URL;
  const mongoUrl = process.env.MONGO_URL;
  if (!databaseUrl || !mongoUrl) {
    console.error('bench: DATABASE_URL and MONGO_URL are required (npm run bench sets them)');
    process.exit(2);
  }
  const settings = TRACING_SETTINGS[values.tiny ? 'tiny' : 'quick'];
  const started = new Date();
  const result = await runTracingBench({ databaseUrl, mongoUrl, settings });
  const outDir = values.out ?? fileURLToPath(new URL('./results', import.meta.url));
  mkdirSync(outDir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, '-');
  writeFileSync(join(outDir, `tracing-${stamp}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const markdown = renderTracingMarkdown(result, started.toISOString());
  writeFileSync(join(outDir, 'tracing-latest.md'), markdown);
  console.log(markdown);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
}
