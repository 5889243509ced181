/**
 * Scenario 3: what the outbox costs the writer. postTransaction throughput at
 * a given concurrency for a fixed window, in four variants interleaved
 * A B C D, D C B A, … (so machine drift hits all of them alike):
 *   A none          — postings without metadata: no outbox row, no NOTIFY;
 *   O outbox off    — the same postings as B (metadata on the transaction
 *                     and the credit entry, content kept on the entity rows,
 *                     as PostgreSQL is the metadata's source of truth) but
 *                     without their outbox rows: what "outbox on vs off"
 *                     compares (B / O), the outbox's own cost;
 *   P payload outbox — the write before PostgreSQL kept the content (issue 12):
 *                     metadata only in the outbox payload, 2 rows, NOTIFY off
 *                     (bench/support/payloadPosting.ts) — "before" for B;
 *   B outbox        — metadata on the transaction and the credit entry (2
 *                     thin outbox rows, content on the entity rows), NOTIFY
 *                     trigger disabled;
 *   C relays busy   — as deployed while the relays are draining (which they
 *                     are whenever writers run near their limit):
 *                     outbox_wakeup says no relay waits, so the trigger reads
 *                     the flag and does not notify;
 *   D relay waiting — as deployed with an idle relay: the flag says a relay
 *                     waits, every commit notifies a connection LISTENing on
 *                     the channel (the old always-notify behaviour).
 * No relay drains during the windows; the outbox is truncated between them.
 * A B C D with P interleaved too: A P B C D, D C B P A, …
 *
 * Two figures per variant from the same windows: postings/s (wall clock), and
 * CPU per posting — the writers' PostgreSQL backends (the writer pool is
 * pinned: its connections are opened once and their pg_backend_pid() read) plus
 * this process. On a shared machine the first measures the neighbours as much
 * as the posting; the second is what a posting costs, whoever else runs.
 */
import pg from 'pg';
import { cpuUsed, perUnit, pinPool, type CpuPerUnit, type CpuSource, type CpuUse } from './support/backendCpu.ts';
import type { BenchEnv } from './support/benchEnv.ts';
import { createAccounts, postOne } from './support/ledgerFixture.ts';
import { median, round } from './support/stats.ts';

export type WriterVariant = 'none' | 'outboxOff' | 'payloadOutbox' | 'outbox' | 'notifyBusy' | 'notifyWaiting';
const VARIANTS: WriterVariant[] = ['none', 'outboxOff', 'payloadOutbox', 'outbox', 'notifyBusy', 'notifyWaiting'];

export interface WriterOverheadResult {
  concurrency: number;
  windowSeconds: number;
  rounds: number;
  /** postings/s per window, in run order. */
  windows: Record<WriterVariant, number[]>;
  median: Record<WriterVariant, number>;
  /** 1 − variant/none, on medians: the outbox and the metadata content together, against a bare posting. */
  costOutbox: number;
  /**
   * Outbox on vs off, same postings (metadata content on the entity rows in
   * both): 1 − B/O on medians, and the median over rounds of the paired ratio
   * (the two windows run back to back). Absent in runs before it existed.
   */
  costOutboxVsOff?: number;
  costOutboxVsOffPaired?: number;
  /** The same for C (NOTIFY trigger on, relays busy: as deployed under load). */
  costNotifyBusyVsOff?: number;
  costNotifyBusyVsOffPaired?: number;
  /** The same for the write before issue 12 (content in the payload only). */
  costPayloadOutbox: number;
  /** B / P on medians: > 1 means keeping the content in PostgreSQL (thin events) writes faster than before. */
  thinVsPayload: number;
  /**
   * Median over rounds of B / P within the round (the two windows run back to
   * back): steadier than the ratio of medians on a machine whose load swings
   * 3× between rounds.
   */
  thinVsPayloadPaired: number;
  /** As deployed under load: the NOTIFY trigger on, relays busy (it stays silent). */
  costNotifyBusy: number;
  /** As deployed with a relay idle: every commit notifies. */
  costNotifyWaiting: number;
  /** CPU per posting from the same windows; absent in runs before it existed, or when the pool could not stay pinned. */
  cpu?: WriterCpuResult;
  /** Why `cpu` is absent, when it was measured and found unusable. */
  cpuUnavailable?: string;
}

export interface WriterCpuResult {
  /** /proc/<pid>/schedstat (ns) or /proc/<pid>/stat (10 ms ticks). */
  source: CpuSource;
  /** The writers' PostgreSQL backends (one per connection of the pinned pool). */
  backends: number;
  /** Per variant, all its windows summed, then per posting (µs): backends, writer process, both. */
  perPosting: Record<WriterVariant, CpuPerUnit>;
  /** Total µs per posting of each window, in run order. */
  windowsUs: Record<WriterVariant, number[]>;
  /** B / O − 1 on total CPU per posting: the outbox rows' extra CPU, NOTIFY trigger off. */
  costOutboxVsOff: number;
  /** C / O − 1: as deployed under load (trigger on, relays busy). The writer-cost target's figure. */
  costNotifyBusyVsOff: number;
  /** Median over rounds of C / O − 1 within the round. */
  costNotifyBusyVsOffPaired: number;
  /** C / O − 1 on the backends' CPU alone (PostgreSQL's share of the cost). */
  backendCostNotifyBusyVsOff: number;
  /** D / O − 1: a relay waiting, every commit notifies. */
  costNotifyWaitingVsOff: number;
}

export async function writerOverhead(env: BenchEnv, options: { concurrency: number; windowSeconds: number; rounds: number }): Promise<WriterOverheadResult> {
  const scratch = await env.scratch(`writer${options.concurrency}`, 2);
  const listener = new pg.Client({ connectionString: scratch.databaseUrl, application_name: 'outbox-relay-bench-listener' });
  // The writers' own pool, pinned: exactly `concurrency` connections, opened
  // now and never closed for idleness, so their backends' CPU is all theirs.
  const writers = new pg.Pool({ connectionString: scratch.databaseUrl, max: options.concurrency, idleTimeoutMillis: 0, application_name: 'outbox-relay-bench-writer' });
  writers.on('error', () => {});
  writers.on('connect', (client) => client.on('error', () => {}));
  try {
    const accounts = await createAccounts(scratch.pool, 1000);
    await scratch.pool.query('VACUUM ANALYZE');
    listener.on('error', () => {});
    await listener.connect();
    await listener.query('LISTEN outbox');
    let notifications = 0;
    listener.on('notification', () => notifications++);
    const pinned = await pinPool(writers, options.concurrency);
    const windows: Record<WriterVariant, number[]> = { none: [], outboxOff: [], payloadOutbox: [], outbox: [], notifyBusy: [], notifyWaiting: [] };
    const cpuWindows: Record<WriterVariant, CpuUse[]> = { none: [], outboxOff: [], payloadOutbox: [], outbox: [], notifyBusy: [], notifyWaiting: [] };
    let cpuReadable = pinned.source !== undefined;
    // Warm-up, not recorded: every variant's code path once, so JIT compilation
    // and first-use costs land on no variant's window (the first window of round
    // 1 paid them: ~1.4× the writer process's CPU per posting of later windows).
    for (const variant of VARIANTS) {
      const end = performance.now() + options.windowSeconds * 250;
      await Promise.all(Array.from({ length: options.concurrency }, async () => {
        while (performance.now() < end) await postOne(writers, accounts, variant === 'none' ? 0 : 2, `warm${variant}`, { payloadEvents: variant === 'payloadOutbox', outbox: variant !== 'outboxOff' });
      }));
    }
    notifications = 0; // the checks below are about the measured windows
    for (let round_ = 0; round_ < options.rounds; round_++) {
      // What autovacuum would do (it is off on the shared test server): without
      // fresh statistics, the foreign-key checks' cached plans stay the Seq Scan
      // of `transaction` they got while it was empty, and each posting's check
      // reads the whole table: measured 1.0 → 2.3 ms of backend CPU per posting
      // over 9,500 postings on one connection, 44 % of it in that scan (perf),
      // back to 1.0 ms on a fresh connection. It was the "−15 % per round" drift.
      await scratch.pool.query('ANALYZE');
      // A B C D, then D C B A: whatever drifts within a scenario (the ledger
      // tables grow; the machine's load changes) would be charged to the later
      // variants in a fixed order; alternating cancels linear drift.
      const order = round_ % 2 === 0 ? VARIANTS : [...VARIANTS].reverse();
      for (const variant of order) {
        await scratch.pool.query('TRUNCATE outbox');
        const triggerOn = variant === 'notifyBusy' || variant === 'notifyWaiting';
        await scratch.pool.query(`ALTER TABLE outbox ${triggerOn ? 'ENABLE' : 'DISABLE'} TRIGGER outbox_notify`);
        await scratch.pool.query('UPDATE outbox_wakeup SET relay_waiting = $1', [variant === 'notifyWaiting']);
        const notifiedBefore = notifications;
        const events = variant === 'none' ? 0 : 2;
        const outbox = variant !== 'outboxOff';
        let count = 0;
        const end = performance.now() + options.windowSeconds * 1000;
        const start = performance.now();
        const cpuBefore = pinned.read();
        const worker = async () => {
          while (performance.now() < end) {
            await postOne(writers, accounts, events, `w${variant}`, { payloadEvents: variant === 'payloadOutbox', outbox });
            count++;
          }
        };
        await Promise.all(Array.from({ length: options.concurrency }, worker));
        const used = cpuUsed(cpuBefore, pinned.read(), count);
        windows[variant].push(round(count / ((performance.now() - start) / 1000), 1));
        if (used) cpuWindows[variant].push(used);
        else cpuReadable = false;
        if (variant === 'notifyBusy' && notifications !== notifiedBefore) throw new Error('writer overhead: writers notified while the flag said the relays were busy');
      }
    }
    await scratch.pool.query('ALTER TABLE outbox ENABLE TRIGGER outbox_notify');
    await scratch.pool.query('UPDATE outbox_wakeup SET relay_waiting = true');
    if (notifications === 0) throw new Error('writer overhead: the relay-waiting variant delivered no notification (trigger missing?)');
    const paired = (a: number[], b: number[]) => median(a.map((v, i) => v / (b[i] ?? Number.NaN)));
    const stillPinned = await pinned.unchanged();
    const cpuUnavailable = !cpuReadable ? 'backend CPU not readable (/proc of the PostgreSQL server not visible: another host or container?)' : !stillPinned ? 'the writer pool lost or replaced a connection during the run' : undefined;
    const med = { none: median(windows.none), outboxOff: median(windows.outboxOff), payloadOutbox: median(windows.payloadOutbox), outbox: median(windows.outbox), notifyBusy: median(windows.notifyBusy), notifyWaiting: median(windows.notifyWaiting) };
    return {
      concurrency: options.concurrency,
      windowSeconds: options.windowSeconds,
      rounds: options.rounds,
      windows,
      median: med,
      costOutbox: round(1 - med.outbox / med.none, 3),
      costOutboxVsOff: round(1 - med.outbox / med.outboxOff, 3),
      costOutboxVsOffPaired: round(1 - paired(windows.outbox, windows.outboxOff), 3),
      costNotifyBusyVsOff: round(1 - med.notifyBusy / med.outboxOff, 3),
      costNotifyBusyVsOffPaired: round(1 - paired(windows.notifyBusy, windows.outboxOff), 3),
      costPayloadOutbox: round(1 - med.payloadOutbox / med.none, 3),
      thinVsPayload: round(med.outbox / med.payloadOutbox, 3),
      thinVsPayloadPaired: round(median(windows.outbox.map((b, i) => b / (windows.payloadOutbox[i] ?? Number.NaN))), 3),
      costNotifyBusy: round(1 - med.notifyBusy / med.none, 3),
      costNotifyWaiting: round(1 - med.notifyWaiting / med.none, 3),
      ...(cpuUnavailable === undefined ? { cpu: writerCpu(pinned.source as CpuSource, pinned.pids.length, cpuWindows) } : { cpuUnavailable }),
    };
  } finally {
    await writers.end().catch(() => {});
    await listener.end().catch(() => {});
    await scratch.drop();
  }
}

function writerCpu(source: CpuSource, backends: number, windows: Record<WriterVariant, CpuUse[]>): WriterCpuResult {
  const per = (v: WriterVariant) => perUnit(windows[v]);
  const rounded = (c: CpuPerUnit): CpuPerUnit => ({ units: c.units, backendUs: round(c.backendUs, 1), clientUs: round(c.clientUs, 1), totalUs: round(c.totalUs, 1) });
  const perPosting = Object.fromEntries(VARIANTS.map((v) => [v, per(v)])) as Record<WriterVariant, CpuPerUnit>;
  const windowsUs = Object.fromEntries(VARIANTS.map((v) => [v, windows[v].map((w) => round(perUnit([w]).totalUs, 1))])) as Record<WriterVariant, number[]>;
  const off = perPosting.outboxOff;
  const cost = (v: WriterVariant) => round(perPosting[v].totalUs / off.totalUs - 1, 3);
  return {
    source,
    backends,
    perPosting: Object.fromEntries(VARIANTS.map((v) => [v, rounded(perPosting[v])])) as Record<WriterVariant, CpuPerUnit>,
    windowsUs,
    costOutboxVsOff: cost('outbox'),
    costNotifyBusyVsOff: cost('notifyBusy'),
    costNotifyBusyVsOffPaired: round(median(windows.notifyBusy.map((w, i) => perUnit([w]).totalUs / perUnit([windows.outboxOff[i] as CpuUse]).totalUs)) - 1, 3),
    backendCostNotifyBusyVsOff: round(perPosting.notifyBusy.backendUs / off.backendUs - 1, 3),
    costNotifyWaitingVsOff: cost('notifyWaiting'),
  };
}
