/**
 * Baseline "source limit": claimBatch + markDelivered in a loop with no sink,
 * same batch size and concurrency as the relay. The relay cannot drain faster
 * than Postgres lets it claim and retire rows.
 */
import { claimBatch } from '../src/outbox/claimBatch.ts';
import { markDelivered } from '../src/outbox/markDelivered.ts';
import type { BenchEnv } from './support/benchEnv.ts';
import { cpuBetween, cpuSnapshot } from './support/procStats.ts';
import { seedBacklog } from './support/seed.ts';
import { round } from './support/stats.ts';
import type { ThroughputResult } from './sinkLimit.ts';

export async function sourceLimit(env: BenchEnv, options: { events: number; batchSize?: number; concurrency?: number }): Promise<ThroughputResult> {
  const batchSize = options.batchSize ?? 500;
  const concurrency = options.concurrency ?? 2;
  const scratch = await env.scratch('source', concurrency + 2);
  try {
    await seedBacklog(scratch.pool, options.events);
    await scratch.pool.query('ANALYZE outbox');
    let done = 0;
    const before = cpuSnapshot();
    const worker = async (n: number) => {
      const relayId = `bench-source-${n}`;
      for (;;) {
        const batch = await claimBatch(scratch.db, { relayId, batchSize, leaseMs: 30_000 });
        if (batch.length === 0) return;
        const { delivered } = await markDelivered(scratch.db, { relayId, ids: batch.map((e) => e.id) });
        done += delivered.length;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, n) => worker(n)));
    const after = cpuSnapshot();
    if (done !== options.events) throw new Error(`source baseline: delivered ${done} of ${options.events}`);
    const seconds = (after.at - before.at) / 1000;
    return { events: done, seconds: round(seconds, 2), eventsPerSecond: round(done / seconds, 0), cpu: cpuBetween(before, after) };
  } finally {
    await scratch.drop();
  }
}
