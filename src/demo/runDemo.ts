/**
 * The main job: the relay and a demo writer side by side against the same
 * databases, with progress and lag every two seconds and a summary at the end
 * (Ctrl-C, or --duration).
 */
import type { RelayConfig } from '../config.ts';
import { createPool } from '../db/pool.ts';
import { poolDb } from '../db/toSqlDb.ts';
import { runMigrations } from '../db/migrate.ts';
import type { Logger } from '../logger.ts';
import { readLag } from '../outbox/readLag.ts';
import { createRelay } from '../relay/relay.ts';
import { ensureDemoAccounts, startDemoWriter } from './demoWriter.ts';

export interface DemoOptions {
  ratePerSecond: number;
  durationSeconds?: number;
  customers: number;
  /** Trace in-process and print a sample of traces at the end (see demoTracing.ts). */
  trace?: boolean;
}

export interface DemoSummary {
  posted: number;
  metadataUpdates: number;
  writerErrors: number;
  delivered: number;
  pending: number;
  dead: number;
  oldestPendingSeconds: number | null;
}

export async function runDemo(config: RelayConfig, options: DemoOptions, logger: Logger, out: (line: string) => void = console.log): Promise<DemoSummary> {
  await runMigrations(config.databaseUrl);
  const pool = createPool(config.databaseUrl, { max: 10, applicationName: 'outbox-relay-demo-writer' });
  const db = poolDb(pool);
  // Loaded only with --trace: the SDK stays out of a plain demo.
  const tracing = options.trace ? (await import('./demoTracing.ts')).startDemoTracing() : undefined;
  const relay = createRelay(config, { logger, ...(tracing ? { tracer: tracing.tracer } : {}) });
  try {
    const accounts = await ensureDemoAccounts(db, options.customers);
    await relay.start();
    out(`demo: relay ${relay.id} running${relay.opsUrl ? `, metrics at ${relay.opsUrl}/metrics` : ''}; writing ${options.ratePerSecond} postings/s — Ctrl-C to stop`);
    const writer = startDemoWriter(db, { ratePerSecond: options.ratePerSecond, accounts, ...(tracing ? { tracer: tracing.tracer } : {}) });
    const delivered = async () => (await relay.metrics.delivered.get()).values.reduce((sum: number, v: { value: number }) => sum + v.value, 0);
    const progress = setInterval(() => {
      readLag(db).then(
        async (lag) => out(`posted ${writer.stats.posted}  delivered ${await delivered()}  pending ${lag.pendingCount}  oldest ${lag.oldestPendingSeconds === null ? '-' : `${lag.oldestPendingSeconds.toFixed(2)} s`}  dead ${lag.deadCount}  relays ${lag.relaysAlive}${writer.stats.errors ? `  writer errors ${writer.stats.errors}` : ''}`),
        (error: unknown) => out(`lag unavailable: ${(error as Error).message}`),
      );
    }, 2000);
    await new Promise<void>((resolve) => {
      const finish = () => resolve();
      process.once('SIGINT', finish);
      process.once('SIGTERM', finish);
      if (options.durationSeconds) setTimeout(finish, options.durationSeconds * 1000).unref();
    });
    writer.stop();
    await writer.done;
    out('demo: writer stopped; letting the relay catch up (up to 30 s)…');
    const deadline = Date.now() + 30_000;
    let lag = await readLag(db);
    while (lag.pendingCount > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      lag = await readLag(db);
    }
    clearInterval(progress);
    const summary: DemoSummary = {
      posted: writer.stats.posted,
      metadataUpdates: writer.stats.metadataUpdates,
      writerErrors: writer.stats.errors,
      delivered: await delivered(),
      pending: lag.pendingCount,
      dead: lag.deadCount,
      oldestPendingSeconds: lag.oldestPendingSeconds,
    };
    out(
      `summary: posted ${summary.posted} transactions (+${summary.metadataUpdates} metadata updates), delivered ${summary.delivered} events, ` +
        `pending ${summary.pending}, dead ${summary.dead}, writer errors ${summary.writerErrors}${writer.stats.lastError ? ` (last: ${writer.stats.lastError})` : ''}`,
    );
    if (tracing) {
      const lines = tracing.report(5);
      out(lines.length > 0 ? `traces (writer span → relay event span, same trace id):\n  ${lines.join('\n  ')}` : 'traces: no posting has a finished relay span yet');
    }
    return summary;
  } finally {
    await relay.stop();
    await pool.end();
    await tracing?.shutdown();
  }
}
