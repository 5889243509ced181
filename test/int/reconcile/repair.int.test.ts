import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRelay, type Relay } from '../../../src/relay/relay.ts';
import { reconcile } from '../../../src/reconcile/reconcile.ts';
import type { ReconcileOptions } from '../../../src/reconcile/reconcileTypes.ts';
import { outboxCounts } from '../../helpers/outboxFixtures.ts';
import { testRelayConfig } from '../../helpers/relayConfig.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { waitFor } from '../../helpers/waitFor.ts';
import { expectOnly, resetDatabases, seedLedger, type Ledger } from './reconcileFixtures.ts';

const t = useTestDatabases();
let ledger: Ledger;
let relay: Relay | undefined;

/** Run a real relay until the outbox has nothing pending, then stop it. */
async function drainWithRelay(): Promise<void> {
  relay = createRelay(testRelayConfig(t()));
  await relay.start();
  await waitFor(async () => (await outboxCounts(t().pool)).pending === 0, { timeoutMs: 30_000, message: 'outbox drained' });
  await relay.stop();
  relay = undefined;
}

beforeEach(async () => {
  await resetDatabases(t());
  ledger = await seedLedger(t());
  await drainWithRelay();
});
afterEach(async () => {
  await relay?.stop();
  relay = undefined;
});

const run = (options: ReconcileOptions = {}) => reconcile({ db: t().db, mongoDb: t().mongoDb }, options);
type Doc = { _id: string; version: number; metadata: Record<string, unknown>; eventId: string };
const txDocs = () => t().mongoDb.collection<Doc>('transaction_metadata');
const opDocs = () => t().mongoDb.collection<Doc>('operation_metadata');

describe('reconcile --repair', () => {
  it('re-enqueues missing, stale and mismatched metadata through the outbox; after the relay ran, reconcile is clean and a second repair enqueues nothing', async () => {
    const before = { tx0: await txDocs().findOne({ _id: ledger.withMetadata[0]! }), tx1: await txDocs().findOne({ _id: ledger.withMetadata[1]! }), op: await opDocs().findOne({ _id: ledger.operationWithMetadata }) };
    const ledgerRows = async () => (await t().pool.query(`SELECT (SELECT json_agg(b ORDER BY id) FROM balance b) AS b, (SELECT json_agg(x ORDER BY id) FROM "transaction" x) AS t, (SELECT json_agg(o ORDER BY id) FROM operation o) AS o`)).rows[0];
    const ledgerBefore = await ledgerRows();

    await txDocs().deleteOne({ _id: ledger.withMetadata[0]! }); // missing
    await txDocs().updateOne({ _id: ledger.withMetadata[1]! }, { $set: { version: 1, metadata: { invoice: 'INV-1' } } }); // stale
    await opDocs().updateOne({ _id: ledger.operationWithMetadata }, { $set: { metadata: { note: 'tampered' } } }); // mismatched at the same version

    const first = await run({ repair: true });
    expectOnly(first, { 'metadata-sync': 3 });
    expect(first.checks['metadata-sync']).toMatchObject({ repaired: 3, unrepairable: [], needsRepairAhead: [] });
    expect(first.checks['metadata-sync']?.samples.sort()).toEqual(
      [
        `transaction/${ledger.withMetadata[0]}: missing (expected v1)`,
        `transaction/${ledger.withMetadata[1]}: stale (v1, expected v2)`,
        `operation/${ledger.operationWithMetadata}: mismatched content at v1`,
      ].sort(),
    );
    // Fresh events, at the versions Postgres holds; the mismatched document was deleted so the event can land.
    const { rows: queued } = await t().pool.query(`SELECT aggregate_type, aggregate_id, version FROM outbox WHERE status = 'pending' ORDER BY aggregate_type, aggregate_id`);
    expect(queued).toHaveLength(3);
    expect(await opDocs().findOne({ _id: ledger.operationWithMetadata })).toBeNull();
    // Entities with a repair event pending are in flight: a repair right now enqueues nothing more.
    const meanwhile = await run({ repair: true });
    expect(meanwhile.checks['metadata-sync']).toMatchObject({ problems: 0, skippedInFlight: 3, repaired: 0 });

    await drainWithRelay();
    const after = await run();
    expectOnly(after, {});
    const again = await run({ repair: true });
    expectOnly(again, {});
    expect(again.checks['metadata-sync']?.repaired).toBe(0);
    expect((await outboxCounts(t().pool)).pending).toBe(0);

    // Content back as it was (new event ids), and the ledger never touched.
    for (const [doc, was] of [[await txDocs().findOne({ _id: ledger.withMetadata[0]! }), before.tx0], [await txDocs().findOne({ _id: ledger.withMetadata[1]! }), before.tx1], [await opDocs().findOne({ _id: ledger.operationWithMetadata }), before.op]] as const) {
      expect(doc).toMatchObject({ version: was!.version, metadata: was!.metadata });
      expect(doc!.eventId).not.toBe(was!.eventId);
    }
    expect(await ledgerRows()).toEqual(ledgerBefore);
  });

  it('repairs from PostgreSQL at any age: with every delivered row pruned, a lost collection comes back', async () => {
    await t().pool.query('DELETE FROM outbox_delivered'); // pruned, retention 0
    await txDocs().drop();
    await opDocs().deleteMany({});
    const report = await run({ repair: true });
    expectOnly(report, { 'metadata-sync': 3 });
    expect(report.checks['metadata-sync']).toMatchObject({ repaired: 3, unrepairable: [], needsRepairAhead: [] });
    await drainWithRelay();
    expectOnly(await run(), {});
    expect(await txDocs().findOne({ _id: ledger.withMetadata[1]! })).toMatchObject({ version: 2, metadata: { invoice: 'INV-1', paid: true, nested: { z: 1, a: [1, 2] } } });
  });

  it('a document ahead of PostgreSQL is reported with what to do, left alone by --repair, and reset to PostgreSQL only with repairAhead', async () => {
    const id = ledger.withMetadata[0]!;
    const original = await txDocs().findOne({ _id: id });
    await txDocs().updateOne({ _id: id }, { $set: { version: 7, metadata: { from: 'the future' } } });
    const held = await run({ repair: true });
    expectOnly(held, { 'metadata-sync': 1 });
    expect(held.checks['metadata-sync']?.samples).toEqual([expect.stringMatching(new RegExp(`^transaction/${id}: ahead \\(v7, Postgres has v1; .*--repair-ahead`))]);
    expect(held.checks['metadata-sync']).toMatchObject({ repaired: 0, unrepairable: [], needsRepairAhead: [expect.stringMatching(new RegExp(`^transaction/${id}: MongoDB holds v7, PostgreSQL only v1 .*--repair-ahead`))] });
    expect(await txDocs().findOne({ _id: id })).toMatchObject({ version: 7 });
    expect((await outboxCounts(t().pool)).pending).toBe(0);
    await expect(run({ repairAhead: true })).rejects.toThrow(/repairAhead needs repair/);

    const reset = await run({ repair: true, repairAhead: true });
    expect(reset.checks['metadata-sync']).toMatchObject({ problems: 1, repaired: 1, needsRepairAhead: [] });
    await drainWithRelay();
    expectOnly(await run(), {});
    expect(await txDocs().findOne({ _id: id })).toMatchObject({ version: 1, metadata: original!.metadata });
  });

  it('drift of an entity whose content PostgreSQL lacks (pruned before the upgrade) is unrepairable; metadata-content reports it and fills it from a MongoDB document with the recorded hash', async () => {
    const [lost, kept] = [ledger.operationWithMetadata, ledger.withMetadata[1]!];
    await t().pool.query('UPDATE operation SET metadata = NULL WHERE id = $1', [lost]);
    await t().pool.query('UPDATE "transaction" SET metadata = NULL WHERE id = $1', [kept]);
    await opDocs().updateOne({ _id: lost }, { $set: { metadata: { note: 'tampered' } } });
    const report = await run({ repair: true });
    expectOnly(report, { 'metadata-sync': 1, 'metadata-content': 2 });
    expect(report.checks['metadata-sync']).toMatchObject({ repaired: 0, unrepairable: [expect.stringMatching(new RegExp(`^operation/${lost}: mismatched; PostgreSQL holds no content for v1`))] });
    // The tampered document proves nothing: only the transaction, whose document hashes to the recorded hash, is filled.
    expect(report.checks['metadata-content']).toMatchObject({ repaired: 1, unrepairable: [expect.stringContaining(`operation/${lost}: no MongoDB document at v1 with the recorded hash`)] });
    expect(await opDocs().findOne({ _id: lost })).toMatchObject({ metadata: { note: 'tampered' } });
    expect((await outboxCounts(t().pool)).pending).toBe(0);
    const { rows } = await t().pool.query('SELECT metadata FROM "transaction" WHERE id = $1', [kept]);
    expect(rows[0].metadata).toEqual({ invoice: 'INV-1', paid: true, nested: { z: 1, a: [1, 2] } });
    expectOnly(await run(), { 'metadata-sync': 1, 'metadata-content': 1 });
  });

  it('uses PostgreSQL content only where it matches the recorded hash', async () => {
    await txDocs().deleteOne({ _id: ledger.withMetadata[0]! });
    await t().pool.query(`UPDATE "transaction" SET metadata = '{"purpose":"forged"}' WHERE id = $1`, [ledger.withMetadata[0]]);
    const report = await run({ repair: true });
    expect(report.checks['metadata-sync']).toMatchObject({ problems: 1, repaired: 0, unrepairable: [expect.stringContaining(`transaction/${ledger.withMetadata[0]}: missing; PostgreSQL's content at v1 does not match its recorded hash`)] });
  });
});
