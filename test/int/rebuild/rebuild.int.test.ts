import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../src/errors.ts';
import { updateOperationMetadata, updateTransactionMetadata } from '../../../src/ledger/updateMetadata.ts';
import { enqueue } from '../../../src/outbox/enqueue.ts';
import { rebuild } from '../../../src/rebuild/rebuild.ts';
import type { RebuildProgress } from '../../../src/rebuild/rebuildTypes.ts';
import { createRelay } from '../../../src/relay/relay.ts';
import { outboxCounts } from '../../helpers/outboxFixtures.ts';
import { projectionDiffers, seedLedger, type SeededLedger } from '../../helpers/rebuildFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';

const t = useTestDatabases();
const deps = () => ({ db: t().db, mongoDb: t().mongoDb });

async function drain(): Promise<void> {
  const relay = createRelay(testRelayConfig(t(), { batchSize: 200 }));
  await relay.start();
  try {
    await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 120_000, message: 'outbox drained' });
  } finally {
    await relay.stop();
  }
}

async function dropCollections(): Promise<void> {
  for (const name of ['transaction_metadata', 'operation_metadata', 'invoice_metadata']) await t().mongoDb.collection(name).drop().catch(() => {});
}

let ledger: SeededLedger;

describe('rebuild (library)', () => {
  it('runs while a writer keeps updating the same entities and a relay drains: the final documents are PostgreSQL\'s newest versions, never an older one', async () => {
    ledger = await seedLedger(t(), { count: 300, tag: 'conc' });
    await drain();
    await dropCollections();

    const relay = createRelay(testRelayConfig(t(), { batchSize: 50 }));
    await relay.start();
    let writing = true;
    let updates = 0;
    const writer = (async () => {
      // Random entities, transactions and operations alike, as fast as one writer goes.
      while (writing) {
        const i = Math.floor(Math.random() * ledger.transactionIds.length);
        if (updates % 2 === 0) await updateTransactionMetadata(t().db, ledger.transactionIds[i]!, { invoice: `INV-${i}`, update: updates });
        else await updateOperationMetadata(t().db, ledger.operationIds[i]!, { line: i, update: updates });
        updates++;
      }
    })();
    try {
      const progress: RebuildProgress[] = [];
      const report = await rebuild(deps(), {}, { batchSize: 50, onProgress: (p) => progress.push(p) });
      expect(report).toMatchObject({ status: 'complete', done: 600, total: 600, failed: 0 });
      expect(report.written + report.handedToRelays).toBe(600);
      expect(progress.length).toBeGreaterThanOrEqual(12);
    } finally {
      writing = false;
      await writer;
    }
    expect(updates).toBeGreaterThan(20);
    try {
      await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 120_000, message: 'relay drained the writer\'s events' });
    } finally {
      await relay.stop();
    }
    expect(await projectionDiffers(t())).toEqual([]);
    expect((await outboxCounts(t().pool)).dead).toBe(0);
  });

  it('rebuilds only what the filter names: --type, --since, ids', async () => {
    await dropCollections();
    const ops = await rebuild(deps(), { types: ['operation'] });
    expect(ops).toMatchObject({ status: 'complete', done: 300, written: 300 });
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments()).toBe(0);
    expect(await t().mongoDb.collection('operation_metadata').countDocuments()).toBe(300);

    const cut = new Date();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await updateTransactionMetadata(t().db, ledger.transactionIds[5]!, { invoice: 'INV-5', late: true });
    await t().pool.query('DELETE FROM outbox'); // the writer's own event, so only the rebuild can write it
    const since = await rebuild(deps(), { since: cut });
    expect(since).toMatchObject({ status: 'complete', done: 1, written: 1 });
    expect(await t().mongoDb.collection('transaction_metadata').findOne({ _id: ledger.transactionIds[5] as never })).toMatchObject({ metadata: { invoice: 'INV-5', late: true } });

    const ids = await rebuild(deps(), { ids: [{ aggregateType: 'transaction', aggregateId: ledger.transactionIds[7]!.toUpperCase() }, { aggregateType: 'transaction', aggregateId: 'not-a-uuid' }] });
    expect(ids).toMatchObject({ status: 'complete', done: 1, total: 1 });
    expect(await t().mongoDb.collection('transaction_metadata').countDocuments()).toBe(2);
  });

  it('entities enqueued with keepContent survive pruning and are rebuilt; older enqueues never replace newer content', async () => {
    await enqueue(t().db, { aggregateType: 'invoice', aggregateId: 'inv-1', version: 2, payload: { metadata: { total: 20 } } }, { keepContent: true });
    await enqueue(t().db, { aggregateType: 'invoice', aggregateId: 'inv-1', version: 1, payload: { metadata: { total: 10 } } }, { keepContent: true });
    const { rows } = await t().pool.query(`SELECT version, metadata FROM entity_metadata WHERE aggregate_id = 'inv-1'`);
    expect(rows).toEqual([{ version: 2, metadata: { total: 20 } }]);
    expect((await t().pool.query(`SELECT count(*)::int AS n FROM outbox WHERE aggregate_type = 'invoice' AND payload IS NULL`)).rows[0].n).toBe(2);
    await expect(enqueue(t().db, { aggregateType: 'transaction', aggregateId: 'x', version: 1, payload: { metadata: {} } }, { keepContent: true })).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await drain();
    expect(await t().mongoDb.collection('invoice_metadata').findOne({ _id: 'inv-1' as never })).toMatchObject({ version: 2, metadata: { total: 20 } });
    await t().pool.query('DELETE FROM outbox_delivered');
    await t().mongoDb.collection('invoice_metadata').drop();
    const report = await rebuild(deps(), { types: ['invoice'] });
    expect(report).toMatchObject({ status: 'complete', done: 1, written: 1 });
    expect(await t().mongoDb.collection('invoice_metadata').findOne({ _id: 'inv-1' as never })).toMatchObject({ version: 2, metadata: { total: 20 } });
  });

  it('never overwrites a newer document, and bad options throw INVALID_REBUILD before anything is written', async () => {
    const id = ledger.transactionIds[9]!;
    await t().mongoDb.collection('transaction_metadata').updateOne({ _id: id as never }, { $set: { version: 99, metadata: { newer: true } } }, { upsert: true });
    await rebuild(deps(), { ids: [{ aggregateType: 'transaction', aggregateId: id }] });
    expect(await t().mongoDb.collection('transaction_metadata').findOne({ _id: id as never })).toMatchObject({ version: 99, metadata: { newer: true } });

    const runs = (await t().pool.query('SELECT count(*)::int AS n FROM rebuild_run')).rows[0].n;
    for (const [filter, options] of [
      [{ types: ['Bad Type'] }, {}],
      [{ since: new Date('nope') }, {}],
      [{ ids: [{ aggregateType: 'transaction' }] }, {}],
      [{}, { batchSize: 0 }],
      [{}, { ratePerSecond: -1 }],
      [{}, { leaseMs: 10 }],
    ] as const) {
      await expect(rebuild(deps(), filter as never, options as never)).rejects.toBeInstanceOf(ValidationError);
    }
    expect((await t().pool.query('SELECT count(*)::int AS n FROM rebuild_run')).rows[0].n).toBe(runs);
  });

  it('--rate holds the average rate down', async () => {
    const started = performance.now();
    const report = await rebuild(deps(), { types: ['operation'] }, { batchSize: 50, ratePerSecond: 500, restart: true });
    expect(report.done).toBe(300);
    // 300 entities at 500/s: the last batch is due at 0.5 s; the sleeps before it add up to at least that.
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
  });
});
