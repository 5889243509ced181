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
    expect(first.checks['metadata-sync']).toMatchObject({ repaired: 3, unrepairable: [] });
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

  it('drift whose payload is no longer retained is listed as unrepairable, and nothing is deleted or enqueued for it', async () => {
    await opDocs().updateOne({ _id: ledger.operationWithMetadata }, { $set: { metadata: { note: 'tampered' } } });
    await t().pool.query(`DELETE FROM outbox_delivered WHERE aggregate_type = 'operation'`); // pruned
    const report = await run({ repair: true });
    expectOnly(report, { 'metadata-sync': 1 });
    expect(report.checks['metadata-sync']).toMatchObject({ repaired: 0, unrepairable: [expect.stringMatching(new RegExp(`^operation/${ledger.operationWithMetadata}: mismatched; no retained payload at v1`))] });
    expect(await opDocs().findOne({ _id: ledger.operationWithMetadata })).toMatchObject({ metadata: { note: 'tampered' } });
    expect((await outboxCounts(t().pool)).pending).toBe(0);
  });

  it('uses only a retained payload whose hash matches what Postgres recorded', async () => {
    await txDocs().deleteOne({ _id: ledger.withMetadata[0]! });
    // The only retained v1 payload of this entity no longer matches the recorded hash.
    await t().pool.query(`UPDATE outbox_delivered SET payload = '{"metadata":{"purpose":"forged"}}' WHERE aggregate_id = $1`, [ledger.withMetadata[0]]);
    const report = await run({ repair: true });
    expect(report.checks['metadata-sync']).toMatchObject({ problems: 1, repaired: 0, unrepairable: [expect.stringContaining(`transaction/${ledger.withMetadata[0]}: missing; no retained payload`)] });
  });
});
