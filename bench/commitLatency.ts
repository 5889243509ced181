/**
 * Scenario 2: commit-to-applied latency. An open-loop writer posts at a fixed
 * rate (one metadata event per posting) while one relay process runs. The
 * writer records when each COMMIT returned; the relay stamps `updatedAt` on
 * the document when it applies it (same machine clock). Latency =
 * updatedAt − commit returned, per transaction. Open loop: postings are
 * started on schedule whether or not earlier ones finished, so a slow system
 * shows up as latency, not as a lower offered rate.
 */
import type { BenchEnv } from './support/benchEnv.ts';
import { createAccounts, postOne } from './support/ledgerFixture.ts';
import { startRelay, type RelayChild } from './support/relayProcesses.ts';
import { pendingCount } from './support/seed.ts';
import { distribution, round, sleep, type Distribution } from './support/stats.ts';

export interface LatencyResult {
  mode: 'notify' | 'poll';
  pollIntervalMs: number;
  targetRate: number;
  achievedRate: number;
  seconds: number;
  postings: number;
  writerErrors: number;
  /** ms, commit returned → document applied. */
  latency: Distribution;
  /** ms, how long postTransaction took (writer side). */
  commitLatency: Distribution;
  /** Sorted latencies, down-sampled, for the chart. */
  sample: number[];
}

export async function commitLatency(env: BenchEnv, options: { rate: number; seconds: number; listen: boolean; pollIntervalMs?: number }): Promise<LatencyResult> {
  const pollIntervalMs = options.pollIntervalMs ?? 1000;
  const scratch = await env.scratch(`lat${options.listen ? 'n' : 'p'}${options.rate}`, 24);
  let relay: RelayChild | undefined;
  try {
    const accounts = await createAccounts(scratch.pool, 1000);
    relay = await startRelay({ databaseUrl: scratch.databaseUrl, mongoUrl: scratch.mongoUrl, mongoDb: scratch.mongoDbName, listen: options.listen, pollIntervalMs, id: 'bench-latency' });
    await sleep(300);
    const committedAt = new Map<string, number>();
    const commitTimes: number[] = [];
    let errors = 0;
    const inFlight = new Set<Promise<void>>();
    const total = Math.round(options.rate * options.seconds);
    const start = performance.now();
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / options.rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const began = performance.now();
      const p = postOne(scratch.pool, accounts, 1, 'lat').then(
        (id) => {
          committedAt.set(id, Date.now());
          commitTimes.push(performance.now() - began);
        },
        () => {
          errors++;
        },
      );
      const tracked = p.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    }
    await Promise.all(inFlight);
    const writeSeconds = (performance.now() - start) / 1000;
    const deadline = Date.now() + 120_000;
    while ((await pendingCount(scratch.pool)) > 0) {
      if (Date.now() > deadline) throw new Error('latency: the relay did not catch up within 120 s');
      await sleep(100);
    }
    const docs = await scratch.mongoDb.collection<{ _id: string; updatedAt: Date }>('transaction_metadata').find({}, { projection: { updatedAt: 1 } }).toArray();
    const latencies: number[] = [];
    for (const doc of docs) {
      const at = committedAt.get(doc._id);
      if (at !== undefined) latencies.push(doc.updatedAt.getTime() - at);
    }
    if (latencies.length < committedAt.size) throw new Error(`latency: ${committedAt.size - latencies.length} committed postings have no document`);
    const sorted = [...latencies].sort((a, b) => a - b);
    const step = Math.max(1, Math.floor(sorted.length / 400));
    return {
      mode: options.listen ? 'notify' : 'poll',
      pollIntervalMs,
      targetRate: options.rate,
      achievedRate: round(committedAt.size / writeSeconds, 1),
      seconds: round(writeSeconds, 2),
      postings: committedAt.size,
      writerErrors: errors,
      latency: distribution(latencies),
      commitLatency: distribution(commitTimes),
      sample: sorted.filter((_, i) => i % step === 0),
    };
  } finally {
    await relay?.stop();
    await scratch.drop();
  }
}
