/**
 * The relay's periodic tasks as they run inside a started relay (not called
 * by hand): pruning on its timer, pruning racing `reconcile --repair`, and
 * periodic reconciliation shared by two relays through the advisory lock and
 * recorded in reconcile_run.
 */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { RECONCILE_LOCK_KEY } from '../../../src/reconcile/runReconcileExclusive.ts';
import { reconcile } from '../../../src/reconcile/reconcile.ts';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { insertEvents, outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
let relays: Relay[] = [];

beforeEach(async () => {
  await t().pool.query(`TRUNCATE balance, "transaction", operation, outbox, outbox_delivered, outbox_relay, reconcile_run`);
  await Promise.all(['transaction_metadata', 'operation_metadata'].map((name) => t().mongoDb.collection(name).deleteMany({})));
});
afterEach(async () => {
  await Promise.all(relays.map((r) => r.stop()));
  relays = [];
});

function captureLog(level: 'info' | 'debug' = 'info'): { logger: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { logger: pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

async function startRelay(overrides: Parameters<typeof testRelayConfig>[1], logger?: pino.Logger): Promise<Relay> {
  const relay = createRelay(testRelayConfig(t(), overrides), logger ? { logger } : {});
  relays.push(relay);
  await relay.start();
  return relay;
}

const delivered = async (): Promise<number> => (await t().pool.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_delivered')).rows[0]!.n;

describe('pruning on the relay’s timer', () => {
  it('deletes delivered rows past the retention on its own, and keeps the recent ones', async () => {
    // Delivered three hours ago (retention: one hour), as a relay would have recorded them.
    await t().pool.query(
      `INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, delivered_at, delivered_by)
       SELECT 1000000 + n, gen_random_uuid(), 'transaction', 'old-' || n, 1, 'metadata.upserted', '{"metadata":{}}', now() - interval '3 hours', now() - interval '3 hours', 'an-old-relay'
         FROM generate_series(1, 30) AS n`,
    );
    const log = captureLog();
    await startRelay({ relayId: 'pruning-relay', retentionHours: 1, pruneIntervalMs: 1000 }, log.logger);
    await insertEvents(t().pool, Array.from({ length: 10 }, (_, i) => ({ aggregateId: `fresh-${i}`, version: 1, metadata: { i } })));

    await waitFor(async () => (await t().pool.query(`SELECT 1 FROM outbox_delivered WHERE delivered_by = 'an-old-relay'`)).rowCount === 0, { message: 'the old rows pruned' });
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { message: 'the fresh events delivered' });
    const { rows } = await t().pool.query<{ aggregate_id: string }>('SELECT aggregate_id FROM outbox_delivered ORDER BY id');
    expect(rows.map((r) => r.aggregate_id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `fresh-${i}`).sort());
    expect(log.lines.filter((l) => l.msg === 'pruned delivered events').map((l) => l.deleted)).toEqual([30]);
  });
});

describe('pruning racing reconcile --repair', () => {
  // Retention 0 and a one-second timer: delivered payloads vanish around the
  // time the repair reads them. Whatever the interleaving, a drifted document
  // is either restored through the outbox or reported unrepairable and left
  // as it was (never deleted without an event to restore it).
  it('every drifted document ends restored or reported and untouched, round after round, while the relay prunes', async () => {
    await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
    await createBalance(t().db, { account: 'alice', asset: 'EUR' });
    const log = captureLog();
    await startRelay({ relayId: 'prune-race-relay', retentionHours: 0, pruneIntervalMs: 1000 }, log.logger);
    const docs = t().mongoDb.collection<{ _id: string; version: number; metadata: Record<string, unknown> }>('transaction_metadata');
    const reported = new Set<string>();
    let restored = 0;

    for (let round = 0; round < 4; round++) {
      const ids: string[] = [];
      for (let i = 0; i < 10; i++) {
        const posted = await postTransaction(t().db, {
          idempotencyKey: `race-${round}-${i}`,
          metadata: { round, i },
          entries: [
            { account: 'world', asset: 'EUR', direction: 'debit', amount: '1' },
            { account: 'alice', asset: 'EUR', direction: 'credit', amount: '1' },
          ],
        });
        ids.push(posted.transactionId);
      }
      await waitFor(async () => (await docs.countDocuments({ _id: { $in: ids } })) === ids.length, { message: `round ${round} delivered` });
      // Same version, other content: "mismatched", which repair fixes by delete + fresh event.
      await docs.updateMany({ _id: { $in: ids } }, { $set: { metadata: { tampered: round } } });

      const report = await reconcile({ db: t().db, mongoDb: t().mongoDb }, { checks: ['metadata-sync'], repair: true, sampleLimit: 1000 });
      const sync = report.checks['metadata-sync']!;
      const unrepairable = new Set(sync.unrepairable!.map((line) => line.slice('transaction/'.length, line.indexOf(':'))));
      const roundReported = ids.filter((id) => unrepairable.has(id));
      const roundRestored = ids.filter((id) => !unrepairable.has(id));
      expect(sync.repaired, `round ${round}`).toBe(roundRestored.length);
      for (const id of roundReported) reported.add(id);
      restored += roundRestored.length;

      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { message: `round ${round} repairs delivered` });
      for (const id of roundRestored) expect(await docs.findOne({ _id: id }), id).toMatchObject({ version: 1, metadata: { round, i: ids.indexOf(id) } });
      for (const id of roundReported) expect(await docs.findOne({ _id: id }), id).toMatchObject({ version: 1, metadata: { tampered: round } });
    }

    // What is left is exactly what was reported; pruning kept going through it all.
    const final = await reconcile({ db: t().db, mongoDb: t().mongoDb }, { checks: ['metadata-sync'], sampleLimit: 1000 });
    expect(final.checks['metadata-sync']!.problems).toBe(reported.size);
    expect(restored + reported.size).toBe(40);
    await waitFor(async () => (await delivered()) === 0, { message: 'every delivered row pruned' });
    expect(log.lines.some((l) => l.msg === 'pruned delivered events')).toBe(true);
    console.info(`prune racing repair: ${restored} of 40 restored, ${reported.size} reported unrepairable (payload pruned first)`);
  }, 180_000);
});

describe('periodic reconcile', () => {
  it('two relays: one reconciles at a time (the advisory lock), each run recorded in reconcile_run, drift recorded as not ok', async () => {
    const everyMs = 1000;
    const [a, b] = [await startRelay({ relayId: 'reconciling-a', reconcileEveryMs: everyMs }), await startRelay({ relayId: 'reconciling-b', reconcileEveryMs: everyMs })];
    const runs = async () =>
      (await t().pool.query<{ id: number; started_at: Date; finished_at: Date; ok: boolean; problems: Record<string, number>; ran_by: string }>('SELECT * FROM reconcile_run ORDER BY id')).rows;

    await waitFor(async () => (await runs()).length >= 4, { message: 'four periodic runs' });
    const clean = await runs();
    expect(clean.every((r) => r.ok && ['reconciling-a', 'reconciling-b'].includes(r.ran_by))).toBe(true);
    expect(clean[0]!.problems).toMatchObject({ 'metadata-sync': 0, 'outbox-health': 0 });

    // While someone else holds the lock, neither relay reconciles, though both timers fire.
    const holder = await t().pool.connect();
    try {
      // Taken between two runs: a relay may be reconciling right now (it holds the lock for the run).
      await waitFor(async () => (await holder.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [RECONCILE_LOCK_KEY.toString()])).rows[0]!.ok, {
        intervalMs: 20,
        message: 'the reconcile lock between two runs',
      });
      const { rows: [held] } = await holder.query<{ at: Date }>('SELECT clock_timestamp() AS at');
      const countAtHold = (await runs()).length;
      await waitFor(async () => (await t().pool.query(`SELECT clock_timestamp() > $1::timestamptz + $2 * interval '1 millisecond' AS past`, [held!.at, everyMs * 4])).rows[0].past, { message: 'four intervals passing' });
      const during = await runs();
      expect(during.filter((r) => r.started_at > held!.at)).toEqual([]);
      // At most the run that released the lock just before we took it, recording itself.
      expect(during.length - countAtHold).toBeLessThanOrEqual(1);
    } finally {
      await holder.query('SELECT pg_advisory_unlock($1::bigint)', [RECONCILE_LOCK_KEY.toString()]).catch(() => {});
      holder.release();
    }

    // Drift: a document lost from MongoDB is found and recorded by the next run.
    await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
    await createBalance(t().db, { account: 'alice', asset: 'EUR' });
    const posted = await postTransaction(t().db, {
      idempotencyKey: 'periodic-drift',
      metadata: { drift: true },
      entries: [
        { account: 'world', asset: 'EUR', direction: 'debit', amount: '1' },
        { account: 'alice', asset: 'EUR', direction: 'credit', amount: '1' },
      ],
    });
    const docs = t().mongoDb.collection('transaction_metadata');
    await waitFor(() => docs.findOne({ _id: posted.transactionId as never }), { message: 'posting delivered' });
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0);
    await docs.deleteOne({ _id: posted.transactionId as never });
    const { rows: [lost] } = await t().pool.query<{ at: Date }>('SELECT clock_timestamp() AS at');
    const drifted = await waitFor(async () => (await runs()).find((r) => r.started_at > lost!.at), { message: 'a run after the drift' });
    expect(drifted).toMatchObject({ ok: false, problems: { 'metadata-sync': 1 } });

    // Recorded runs never overlap: the lock admits one relay at a time.
    const all = await runs();
    expect(new Set(all.map((r) => r.ran_by)).size).toBeGreaterThanOrEqual(1);
    for (const [i, run] of all.entries()) {
      expect(run.finished_at.getTime()).toBeGreaterThanOrEqual(run.started_at.getTime());
      const next = all[i + 1];
      if (next) expect(next.started_at.getTime(), `run ${next.id} started before run ${run.id} finished`).toBeGreaterThanOrEqual(run.finished_at.getTime());
    }
    // The relay that ran publishes the outcome on its own /metrics.
    const lastOk = await Promise.all([a, b].map(async (r) => (await r.metrics.reconcileLastOk.get()).values[0]?.value));
    expect(lastOk).toContain(0);
  }, 180_000);
});
