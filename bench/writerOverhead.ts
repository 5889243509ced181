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
 */
import pg from 'pg';
import { createDb } from '../src/db/client.ts';
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
}

export async function writerOverhead(env: BenchEnv, options: { concurrency: number; windowSeconds: number; rounds: number }): Promise<WriterOverheadResult> {
  const scratch = await env.scratch(`writer${options.concurrency}`, options.concurrency + 2);
  const listener = new pg.Client({ connectionString: scratch.databaseUrl, application_name: 'outbox-relay-bench-listener' });
  try {
    const accounts = await createAccounts(scratch.pool, 1000);
    await scratch.pool.query('VACUUM ANALYZE');
    listener.on('error', () => {});
    await listener.connect();
    await listener.query('LISTEN outbox');
    let notifications = 0;
    listener.on('notification', () => notifications++);
    const db = createDb(scratch.pool);
    const windows: Record<WriterVariant, number[]> = { none: [], outboxOff: [], payloadOutbox: [], outbox: [], notifyBusy: [], notifyWaiting: [] };
    for (let round_ = 0; round_ < options.rounds; round_++) {
      // A B C D, then D C B A: the ledger tables grow and throughput drifts down
      // within a scenario (measured: −15 % per round), so a fixed order would
      // charge the drift to the later variants; alternating cancels linear drift.
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
        const worker = async () => {
          while (performance.now() < end) {
            await postOne(db, accounts, events, `w${variant}`, { payloadEvents: variant === 'payloadOutbox', outbox });
            count++;
          }
        };
        await Promise.all(Array.from({ length: options.concurrency }, worker));
        windows[variant].push(round(count / ((performance.now() - start) / 1000), 1));
        if (variant === 'notifyBusy' && notifications !== notifiedBefore) throw new Error('writer overhead: writers notified while the flag said the relays were busy');
      }
    }
    await scratch.pool.query('ALTER TABLE outbox ENABLE TRIGGER outbox_notify');
    await scratch.pool.query('UPDATE outbox_wakeup SET relay_waiting = true');
    if (notifications === 0) throw new Error('writer overhead: the relay-waiting variant delivered no notification (trigger missing?)');
    const paired = (a: number[], b: number[]) => median(a.map((v, i) => v / (b[i] ?? Number.NaN)));
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
    };
  } finally {
    await listener.end().catch(() => {});
    await scratch.drop();
  }
}
