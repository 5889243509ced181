/**
 * Baseline "naive relay": what a first attempt looks like. Poll; in one
 * transaction claim ONE row with SKIP LOCKED, write it with one fenced
 * `updateOne` upsert while the transaction stays open, move it to
 * outbox_delivered, commit. One event per round trip, one loop.
 * Runs for a fixed time over a backlog and reports events/s.
 */
import type { BenchEnv } from './support/benchEnv.ts';
import { cpuBetween, cpuSnapshot } from './support/procStats.ts';
import { seedBacklog } from './support/seed.ts';
import { round, sleep } from './support/stats.ts';
import type { ThroughputResult } from './sinkLimit.ts';

export async function naiveRelay(env: BenchEnv, options: { seconds: number; backlog: number; pollMs?: number }): Promise<ThroughputResult> {
  const scratch = await env.scratch('naive', 2);
  try {
    await seedBacklog(scratch.pool, options.backlog);
    await scratch.pool.query('ANALYZE outbox');
    const collection = scratch.mongoDb.collection<{ _id: string; version: number; metadata: unknown; eventId: string; updatedAt: Date }>('transaction_metadata');
    await scratch.mongoDb.createCollection('transaction_metadata').catch(() => {});
    const client = await scratch.pool.connect();
    let done = 0;
    const before = cpuSnapshot();
    const end = performance.now() + options.seconds * 1000;
    try {
      while (performance.now() < end) {
        await client.query('BEGIN');
        const { rows } = await client.query<{ id: string; event_id: string; aggregate_id: string; version: number; payload: { metadata: unknown } }>(
          `SELECT id, event_id, aggregate_id, version, payload FROM outbox WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED`,
        );
        const row = rows[0];
        if (!row) {
          await client.query('COMMIT');
          await sleep(options.pollMs ?? 1000);
          continue;
        }
        try {
          await collection.updateOne(
            { _id: row.aggregate_id, version: { $lt: row.version } },
            { $set: { metadata: row.payload.metadata, version: row.version, eventId: row.event_id, updatedAt: new Date() } },
            { upsert: true },
          );
        } catch (error) {
          if ((error as { code?: unknown }).code !== 11000) throw error; // duplicate: a newer version is there
        }
        await client.query(
          `WITH moved AS (DELETE FROM outbox WHERE id = $1 RETURNING *)
           INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, last_error, delivered_by)
           SELECT id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, last_error, 'naive' FROM moved`,
          [row.id],
        );
        await client.query('COMMIT');
        done++;
      }
    } finally {
      client.release();
    }
    const after = cpuSnapshot();
    const seconds = (after.at - before.at) / 1000;
    return { events: done, seconds: round(seconds, 2), eventsPerSecond: round(done / seconds, 1), cpu: cpuBetween(before, after) };
  } finally {
    await scratch.drop();
  }
}
