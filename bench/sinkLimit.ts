/**
 * Baseline "sink limit": the relay's own fenced bulk upserts
 * (`createMongoSink(db).apply`), same batch size and concurrency, events built
 * in memory: no Postgres at all. The relay cannot drain faster than this.
 */
import { randomUUID } from 'node:crypto';
import { createMongoSink } from '../src/sink/mongoSink.ts';
import type { SinkEvent } from '../src/sink/metadataSink.ts';
import type { BenchEnv } from './support/benchEnv.ts';
import { cpuBetween, cpuSnapshot, type CpuBreakdown } from './support/procStats.ts';
import { benchMetadata } from './support/seed.ts';
import { round } from './support/stats.ts';

export interface ThroughputResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
  cpu: CpuBreakdown;
  note?: string;
}

export async function sinkLimit(env: BenchEnv, options: { events: number; batchSize?: number; concurrency?: number }): Promise<ThroughputResult> {
  const batchSize = options.batchSize ?? 500;
  const concurrency = options.concurrency ?? 2;
  const mongoDb = env.mongo.db(`outbox_relay_bench_${env.runId}_sink`);
  await mongoDb.dropDatabase().catch(() => {});
  try {
    const sink = createMongoSink(mongoDb);
    await sink.prepare(['transaction']);
    const events: SinkEvent[] = Array.from({ length: options.events }, (_, i) => ({
      eventId: randomUUID(),
      aggregateType: 'transaction',
      aggregateId: `bench-${i + 1}`,
      version: 1,
      payload: { metadata: benchMetadata(i + 1) },
    }));
    let next = 0;
    const before = cpuSnapshot();
    const worker = async () => {
      for (;;) {
        const start = next;
        if (start >= events.length) return;
        next += batchSize;
        const result = await sink.apply(events.slice(start, start + batchSize));
        if (!result.ok) throw result.error;
        for (const outcome of result.outcomes.values()) if (outcome.status !== 'applied') throw new Error(`sink baseline: ${outcome.error}`);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const after = cpuSnapshot();
    const seconds = (after.at - before.at) / 1000;
    return { events: options.events, seconds: round(seconds, 2), eventsPerSecond: round(options.events / seconds, 0), cpu: cpuBetween(before, after) };
  } finally {
    await mongoDb.dropDatabase().catch(() => {});
  }
}
