/**
 * Rebuild throughput: `outbox-relay rebuild` (the CLI, a child process, so its
 * peak RSS is its own) re-projecting N transactions whose MongoDB documents
 * are gone, next to the sink limit (the same fenced bulk upserts with events
 * built in memory, no Postgres) on the same N in the same run: the rebuild
 * cannot go faster than the sink, and the ratio says what its claim, content
 * read and mark-delivered cost on top.
 *
 *   node bench/rebuildThroughput.ts [entities=100000] [sinkEvents=entities]   (DATABASE_URL, MONGO_URL)
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openBenchEnv, type BenchEnv } from './support/benchEnv.ts';
import { peakRssMiB } from './support/procStats.ts';
import { round } from './support/stats.ts';
import { sinkLimit, type ThroughputResult } from './sinkLimit.ts';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));

export interface RebuildThroughputResult {
  entities: number;
  seconds: number;
  entitiesPerSecond: number;
  peakRssMiB: number;
  /** The rebuild's final report line. */
  report: Record<string, unknown>;
}

export async function rebuildThroughput(env: BenchEnv, options: { entities: number; batchSize?: number }): Promise<RebuildThroughputResult> {
  const scratch = await env.scratch('rebuild', 4);
  try {
    // N transactions with metadata content at v1, as postTransaction leaves them (no operations: rebuild reads only the content).
    await scratch.pool.query(
      `INSERT INTO "transaction" (idempotency_key, request_hash, metadata_version, metadata_hash, metadata)
       SELECT 'bench-' || i, 'h', 1, md5(i::text), jsonb_build_object('ref', 'INV-' || i, 'amount', (i % 997) + 1, 'note', 'bench event ' || i)
         FROM generate_series(1, $1::int) i`,
      [options.entities],
    );
    await scratch.pool.query('VACUUM ANALYZE "transaction"');
    const child = spawn(process.execPath, [CLI, 'rebuild', '--json', '--batch-size', String(options.batchSize ?? 500), '--type', 'transaction'], {
      env: { PATH: process.env.PATH, DATABASE_URL: scratch.databaseUrl, MONGO_URL: scratch.mongoUrl, MONGO_DB: scratch.mongoDbName, OUTBOX_RELAY_LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    let peak = 0;
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const sampler = setInterval(() => {
      const rss = child.pid ? peakRssMiB(child.pid) : undefined;
      if (rss !== undefined) peak = Math.max(peak, rss);
    }, 100);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearInterval(sampler);
    const lines = out.split('\n').filter((l) => l.startsWith('{'));
    const report = JSON.parse(lines.at(-1) ?? '{}') as Record<string, unknown>;
    if (code !== 0 || report.status !== 'complete') throw new Error(`rebuild exited ${code}: ${lines.at(-1)}`);
    const seconds = Number(report.seconds);
    return { entities: options.entities, seconds, entitiesPerSecond: round(options.entities / seconds, 0), peakRssMiB: round(peak, 1), report };
  } finally {
    await scratch.drop();
  }
}

async function main(): Promise<void> {
  const entities = Number(process.argv[2] ?? 100_000);
  const sinkEvents = Number(process.argv[3] ?? entities);
  const env = await openBenchEnv(process.env.DATABASE_URL!, process.env.MONGO_URL!);
  try {
    // The sink limit at the rebuild's shape (one batch of 500 at a time), before and after the
    // rebuild (the machine's load drifts), and at the relay's (2 batches at once).
    const sinkBefore: ThroughputResult = await sinkLimit(env, { events: sinkEvents, batchSize: 500, concurrency: 1 });
    const rebuilt = await rebuildThroughput(env, { entities });
    const sinkAfter: ThroughputResult = await sinkLimit(env, { events: sinkEvents, batchSize: 500, concurrency: 1 });
    const sink2: ThroughputResult = await sinkLimit(env, { events: sinkEvents, batchSize: 500, concurrency: 2 });
    const sink1 = (sinkBefore.eventsPerSecond + sinkAfter.eventsPerSecond) / 2;
    console.log(JSON.stringify({ rebuild: rebuilt, sinkLimitConcurrency1: [sinkBefore, sinkAfter], sinkLimitConcurrency2: sink2, rebuildVsSink1: round(rebuilt.entitiesPerSecond / sink1, 2), rebuildVsSink2: round(rebuilt.entitiesPerSecond / sink2.eventsPerSecond, 2) }));
  } finally {
    await env.close();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
