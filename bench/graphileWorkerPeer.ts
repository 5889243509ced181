/**
 * Peer baseline: graphile-worker draining the same backlog with the same
 * fenced upsert. Each event is one job (the writer would call
 * `graphile_worker.add_job` inside its own transaction, one job per event);
 * the backlog is added with that SQL function in one statement. The task
 * writes one document with `writeFencedUpserts` (the relay's own code).
 * Two configurations, one runner in this process, LISTEN on, pollInterval 1000:
 * - 'default': concurrency 10 (its default; one Postgres connection per
 *   concurrent job, each fetching its own job);
 * - 'best': the settings its performance page documents for throughput
 *   (https://worker.graphile.org/docs/performance): concurrentJobs 24,
 *   maxPoolSize 25, localQueue { size: 500 } (one query locks 500 jobs for
 *   the pool), completeJobBatchDelay 0 and failJobBatchDelay 0 (completions
 *   batched into one statement). A comparison is only honest against the peer
 *   at its best.
 * Task 'upsert' writes the fenced upsert; 'noop' does nothing (the peer's own
 * capacity, for the null-sink comparison). Its "batched jobs" (an array
 * payload merged under one job_key) would change what a job is (one event
 * per job, added by the writer in its transaction), so they are not used.
 * graphile-worker is a dev dependency that may be missing: then this returns
 * `{ installed: false }` and the report says so.
 */
import type { Collection } from 'mongodb';
import type { MetadataDocument } from '../src/sink/writeFencedUpserts.ts';
import type { Metadata } from '../src/types.ts';
import { writeFencedUpserts } from '../src/sink/writeFencedUpserts.ts';
import type { BenchEnv } from './support/benchEnv.ts';
import { cpuBetween, cpuSnapshot } from './support/procStats.ts';
import { round, sleep } from './support/stats.ts';
import type { ThroughputResult } from './sinkLimit.ts';

export type PeerProfile = 'default' | 'best';
export type PeerTask = 'upsert' | 'noop';
export type PeerResult = ({ installed: true; concurrency: number; version: string; profile: PeerProfile; task: PeerTask } & ThroughputResult) | { installed: false; reason: string };

/** What each profile passes to graphile-worker's run(). */
function runOptionsFor(profile: PeerProfile): Record<string, unknown> {
  if (profile === 'default') return { concurrency: 10 };
  return {
    concurrency: 24,
    maxPoolSize: 25,
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  };
}

interface JobPayload {
  id: string;
  version: number;
  eventId: string;
  metadata: Metadata;
}

export async function graphileWorkerPeer(env: BenchEnv, options: { events: number; profile?: PeerProfile; task?: PeerTask; timeoutMs?: number }): Promise<PeerResult> {
  const moduleName = 'graphile-worker';
  let gw: {
    run(options: Record<string, unknown>): Promise<{ stop(): Promise<void>; promise: Promise<void> }>;
    runMigrations(options: Record<string, unknown>): Promise<void>;
    Logger: new (factory: () => (level: string, message: string) => void) => unknown;
  };
  try {
    gw = await import(moduleName);
  } catch (error) {
    return { installed: false, reason: `graphile-worker is not installed (${(error as Error).message.split('\n')[0]}); npm install -D graphile-worker to compare` };
  }
  let version = 'unknown';
  try {
    // Its package.json is not exported; find it next to the resolved entry point.
    const { readFileSync } = await import('node:fs');
    const entry = import.meta.resolve(moduleName);
    const root = entry.slice(0, entry.lastIndexOf(`/node_modules/${moduleName}/`) + `/node_modules/${moduleName}/`.length);
    version = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { version: string }).version;
  } catch {
    // the version is decoration only
  }
  const profile = options.profile ?? 'default';
  const task = options.task ?? 'upsert';
  const runOptions = runOptionsFor(profile);
  const scratch = await env.scratch(`graphile${profile}${task}`, 4);
  try {
    const logger = new gw.Logger(() => () => {});
    await gw.runMigrations({ connectionString: scratch.databaseUrl, logger });
    // add_jobs, its batch function: one call for the whole backlog (add_job per
    // row took minutes for 50,000 jobs on this machine; set-up is not measured).
    await scratch.pool.query(
      `SELECT graphile_worker.add_jobs(array_agg(ROW('apply_metadata',
                json_build_object('id', 'bench-' || i, 'version', 1, 'eventId', gen_random_uuid(),
                                  'metadata', json_build_object('ref', 'INV-' || i, 'amount', (i % 997) + 1, 'note', 'bench event ' || i)),
                NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec))
         FROM generate_series(1, $1::int) i`,
      [options.events],
    );
    await scratch.mongoDb.createCollection('transaction_metadata').catch(() => {});
    const collection = scratch.mongoDb.collection<MetadataDocument>('transaction_metadata') as Collection<MetadataDocument>;
    const before = cpuSnapshot();
    const runner = await gw.run({
      connectionString: scratch.databaseUrl,
      ...runOptions,
      noHandleSignals: true,
      pollInterval: 1000,
      logger,
      taskList: {
        apply_metadata: async (payload: unknown) => {
          if (task === 'noop') return;
          const p = payload as JobPayload;
          let failure: string | undefined;
          await writeFencedUpserts(collection, [{ id: p.id, version: p.version, eventId: p.eventId, metadata: p.metadata }], (_, outcome) => {
            if (outcome.status === 'failed') failure = outcome.error;
          });
          if (failure) throw new Error(failure);
        },
      },
    });
    const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
    try {
      for (;;) {
        const { rows } = await scratch.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM graphile_worker.jobs');
        if ((rows[0]?.n ?? 0) === 0) break;
        if (Date.now() > deadline) throw new Error(`graphile-worker: ${rows[0]?.n} jobs left after the timeout`);
        await sleep(100);
      }
    } finally {
      await runner.stop();
      // runner.stop() can return while graphile-worker's own pool is still
      // closing its connections; dropping the database (WITH FORCE) under them
      // would terminate a client that no longer has an error listener, an
      // unhandled 'error' event. Wait (bounded) until only our pool is left.
      const closedBy = Date.now() + 10_000;
      while (Date.now() < closedBy) {
        const { rows } = await scratch.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name <> 'outbox-relay-bench'`,
        );
        if ((rows[0]?.n ?? 0) === 0) break;
        await sleep(50);
      }
    }
    const after = cpuSnapshot();
    const seconds = (after.at - before.at) / 1000;
    return { installed: true, version, concurrency: runOptions.concurrency as number, profile, task, events: options.events, seconds: round(seconds, 2), eventsPerSecond: round(options.events / seconds, 0), cpu: cpuBetween(before, after) };
  } finally {
    await scratch.drop();
  }
}
