/**
 * Scenario 3: what the outbox costs the writer. postTransaction throughput at
 * a given concurrency for a fixed window, in three variants interleaved
 * A B C A B C … (so machine drift hits all three alike):
 *   A none     — postings without metadata: no outbox row, no NOTIFY;
 *   B outbox   — metadata on the transaction and the credit entry (2 outbox
 *                rows), NOTIFY trigger disabled;
 *   C notify   — the same with the statement-level NOTIFY trigger, and a
 *                connection LISTENing on the channel (an idle relay).
 * No relay drains during the windows; the outbox is truncated between them.
 */
import pg from 'pg';
import { createDb } from '../src/db/client.ts';
import type { BenchEnv } from './support/benchEnv.ts';
import { createAccounts, postOne } from './support/ledgerFixture.ts';
import { median, round } from './support/stats.ts';

export type WriterVariant = 'none' | 'outbox' | 'notify';
const VARIANTS: WriterVariant[] = ['none', 'outbox', 'notify'];

export interface WriterOverheadResult {
  concurrency: number;
  windowSeconds: number;
  rounds: number;
  /** postings/s per window, in run order. */
  windows: Record<WriterVariant, number[]>;
  median: Record<WriterVariant, number>;
  /** 1 − variant/none, on medians. */
  costOutbox: number;
  costNotify: number;
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
    const windows: Record<WriterVariant, number[]> = { none: [], outbox: [], notify: [] };
    for (let round_ = 0; round_ < options.rounds; round_++) {
      for (const variant of VARIANTS) {
        await scratch.pool.query('TRUNCATE outbox');
        await scratch.pool.query(`ALTER TABLE outbox ${variant === 'notify' ? 'ENABLE' : 'DISABLE'} TRIGGER outbox_notify`);
        const events = variant === 'none' ? 0 : 2;
        let count = 0;
        const end = performance.now() + options.windowSeconds * 1000;
        const start = performance.now();
        const worker = async () => {
          while (performance.now() < end) {
            await postOne(db, accounts, events, `w${variant}`);
            count++;
          }
        };
        await Promise.all(Array.from({ length: options.concurrency }, worker));
        windows[variant].push(round(count / ((performance.now() - start) / 1000), 1));
      }
    }
    await scratch.pool.query('ALTER TABLE outbox ENABLE TRIGGER outbox_notify');
    if (notifications === 0) throw new Error('writer overhead: the NOTIFY variant delivered no notification (trigger missing?)');
    const med = { none: median(windows.none), outbox: median(windows.outbox), notify: median(windows.notify) };
    return {
      concurrency: options.concurrency,
      windowSeconds: options.windowSeconds,
      rounds: options.rounds,
      windows,
      median: med,
      costOutbox: round(1 - med.outbox / med.none, 3),
      costNotify: round(1 - med.notify / med.none, 3),
    };
  } finally {
    await listener.end().catch(() => {});
    await scratch.drop();
  }
}
