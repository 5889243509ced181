/**
 * Scenario 1 (and 4, scale-out): a backlog of N events committed with one bulk
 * INSERT, drained by `relays` separate relay processes (batch 500, concurrency 2).
 *
 * The relays start first on an empty outbox, so process start-up is not
 * counted; the backlog is inserted in one transaction, the claim probe and
 * dead-tuple count run inside it just before COMMIT (full backlog, nothing
 * drained yet), and the clock starts when COMMIT returns (its NOTIFY wakes the
 * relays).
 */
import type { BenchEnv } from './support/benchEnv.ts';
import { probeClaim, type ClaimProbe } from './support/claimProbe.ts';
import { cpuBetween, cpuSnapshot, peakRssMiB, type CpuBreakdown } from './support/procStats.ts';
import { DEPLOYED_NODE_OPTIONS, NULL_SINK_RELAY, startRelay, type RelayChild } from './support/relayProcesses.ts';
import { anyPending, deadTuples, pendingCount, seedBacklog } from './support/seed.ts';
import { relayCpuMsPer1000, round, sleep } from './support/stats.ts';

export interface BacklogDrainResult {
  /** The relay processes' NODE_OPTIONS ('' : Node's defaults); absent in older runs. */
  nodeOptions?: string;
  events: number;
  relays: number;
  batchSize: number;
  concurrency: number;
  seconds: number;
  eventsPerSecond: number;
  peakRssMiB: number;
  /** Relay CPU seconds per 1,000 events, rounded to 3 decimals (a null-sink drain's ~0.01 s shows 2 digits at most: read cpuMsPer1000). */
  cpuSecondsPer1000: number;
  /** Relay CPU milliseconds per 1,000 events (absent in older runs: relayCpuMsPer1000 computes it from `cpu`). */
  cpuMsPer1000?: number;
  claimStart: ClaimProbe;
  claimEnd: ClaimProbe;
  deadTuplesStart: number;
  deadTuplesEnd: number;
  documents: number;
  cpu: CpuBreakdown;
}

export interface BacklogDrainOptions {
  events: number;
  relays?: number;
  batchSize?: number;
  concurrency?: number;
  timeoutMs?: number;
  /**
   * 'null': the relay process acknowledges every event at once
   * (bench/support/nullSinkRelay.mjs): what the relay itself can do, apart
   * from the sink. Default 'mongo' (the product: FerretDB here).
   */
  sink?: 'mongo' | 'null';
  /** More relay environment (e.g. a batch-size setting under test). */
  relayEnv?: Record<string, string>;
  /** The relay's NODE_OPTIONS (default: as deployed, DEPLOYED_NODE_OPTIONS; '' for Node's defaults). */
  nodeOptions?: string;
}

export async function backlogDrain(env: BenchEnv, options: BacklogDrainOptions): Promise<BacklogDrainResult> {
  const relays = options.relays ?? 1;
  const batchSize = options.batchSize ?? 500;
  const concurrency = options.concurrency ?? 2;
  const nullSink = options.sink === 'null';
  const scratch = await env.scratch(`drain${relays}${nullSink ? 'null' : ''}`);
  const children: RelayChild[] = [];
  try {
    for (let i = 0; i < relays; i++) {
      children.push(
        await startRelay({
          databaseUrl: scratch.databaseUrl,
          mongoUrl: scratch.mongoUrl,
          mongoDb: scratch.mongoDbName,
          batchSize,
          concurrency,
          id: `bench-relay-${i}`,
          ...(nullSink ? { script: NULL_SINK_RELAY } : {}),
          ...(options.relayEnv ? { env: options.relayEnv } : {}),
          ...(options.nodeOptions !== undefined ? { nodeOptions: options.nodeOptions } : {}),
        }),
      );
    }
    await sleep(500); // let the start-up catch-up drain find nothing and settle
    const client = await scratch.pool.connect();
    let claimStart: ClaimProbe;
    let deadTuplesStart: number;
    let before;
    let t0: number;
    try {
      await client.query('BEGIN');
      await seedBacklog(client, options.events);
      // Without statistics the planner sorts a bitmap scan instead of walking
      // outbox_pending_idx, evaluating pg_try_advisory_xact_lock on EVERY pending
      // row (20,000 rows: "out of shared memory"). ANALYZE inside this transaction
      // sees our own rows; the stats commit with them, as autoanalyze would provide.
      await client.query('ANALYZE outbox');
      claimStart = await probeClaim(client, { batchSize, insideTransaction: true });
      deadTuplesStart = (await deadTuples(scratch.pool)).dead;
      before = cpuSnapshot(children.map((c) => c.pid));
      await client.query('COMMIT');
      t0 = performance.now();
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
    const deadline = Date.now() + (options.timeoutMs ?? 30 * 60_000);
    for (;;) {
      if (!(await anyPending(scratch.pool))) break;
      if (Date.now() > deadline) throw new Error(`backlog drain: ${await pendingCount(scratch.pool)} events still pending after the timeout`);
      for (const c of children) if (c.child.exitCode !== null) throw new Error(`relay ${c.pid} exited:\n${c.output().slice(-2000)}`);
      await sleep(50);
    }
    const seconds = (performance.now() - t0) / 1000;
    const after = cpuSnapshot(children.map((c) => c.pid));
    const peak = Math.max(...children.map((c) => peakRssMiB(c.pid) ?? 0));
    const { rows } = await scratch.pool.query<{ dead: number }>(`SELECT count(*)::int AS dead FROM outbox WHERE status = 'dead'`);
    if ((rows[0]?.dead ?? 0) > 0) throw new Error(`backlog drain: ${rows[0]?.dead} events went dead`);
    for (const c of children) await c.stop();
    children.length = 0;
    await sleep(1100); // statistics are flushed to pg_stat at most once a second
    const deadTuplesEnd = (await deadTuples(scratch.pool)).dead;
    const probeClient = await scratch.pool.connect();
    let claimEnd: ClaimProbe;
    try {
      claimEnd = await probeClaim(probeClient, { batchSize });
    } finally {
      probeClient.release();
    }
    // The null sink keeps nothing: count what PostgreSQL recorded as delivered instead.
    const documents = nullSink
      ? Number((await scratch.pool.query<{ n: string }>('SELECT count(*) AS n FROM outbox_delivered')).rows[0]?.n ?? 0)
      : await scratch.mongoDb.collection('transaction_metadata').estimatedDocumentCount();
    const cpu = cpuBetween(before, after);
    return {
      nodeOptions: options.nodeOptions ?? DEPLOYED_NODE_OPTIONS,
      events: options.events,
      relays,
      batchSize,
      concurrency,
      seconds: round(seconds, 2),
      eventsPerSecond: round(options.events / seconds, 0),
      peakRssMiB: round(peak, 1),
      cpuSecondsPer1000: round((cpu.relayCpuSeconds / options.events) * 1000, 3),
      cpuMsPer1000: round(relayCpuMsPer1000({ events: options.events, cpu }), 2),
      claimStart,
      claimEnd,
      deadTuplesStart,
      deadTuplesEnd,
      documents,
      cpu,
    };
  } finally {
    for (const c of children) await c.stop().catch(() => {});
    await scratch.drop();
  }
}
