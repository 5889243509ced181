import { randomUUID } from 'node:crypto';
import { ObjectId } from 'mongodb';
import { beforeEach, describe, expect, it } from 'vitest';
import { reconcile } from '../../../src/reconcile/reconcile.ts';
import type { ReconcileOptions } from '../../../src/reconcile/reconcileTypes.ts';
import { insertEvents } from '../../helpers/outboxFixtures.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { deliverPending, expectOnly, resetDatabases, seedLedger, updateTransactionMetadata, type Ledger } from './reconcileFixtures.ts';

const t = useTestDatabases();
let ledger: Ledger;

beforeEach(async () => {
  await resetDatabases(t());
  ledger = await seedLedger(t());
  await deliverPending(t());
});


const txDocs = () => t().mongoDb.collection<{ _id: string; version: number; metadata: Record<string, unknown> }>('transaction_metadata');
const opDocs = () => t().mongoDb.collection<{ _id: string; version: number; metadata: Record<string, unknown> }>('operation_metadata');

// scan keeps its temp table in one transaction in poolMode 'transaction' (the default), in the session otherwise.
describe.each([
  ['keyset', 'transaction'],
  ['scan', 'transaction'],
  ['scan', 'session'],
] as const)('reconcile (metadata-sync strategy %s, pool mode %s) finds each kind of drift, and only that', (strategy, poolMode) => {
  const run = (options: ReconcileOptions = {}) => reconcile({ db: t().db, mongoDb: t().mongoDb }, { strategy, poolMode, ...options });

  it('a clean, fully delivered ledger is ok: every check runs and finds nothing', async () => {
    const report = await run();
    expectOnly(report, {});
    expect(report.checks['metadata-sync']).toMatchObject({ checked: 3, skippedInFlight: 0, samples: [] });
    expect(report.checks['orphan-documents']?.checked).toBe(3);
    expect(report.checks['orphan-transactions']?.checked).toBe(3);
    expect(report.checks.balances?.checked).toBe(3);
  });

  it('a deleted document is reported missing', async () => {
    await txDocs().deleteOne({ _id: ledger.withMetadata[0]! });
    const report = await run();
    expectOnly(report, { 'metadata-sync': 1 });
    expect(report.checks['metadata-sync']?.samples).toEqual([`transaction/${ledger.withMetadata[0]}: missing (expected v1)`]);
  });

  it('a document at a lower version than Postgres recorded is reported stale', async () => {
    await txDocs().updateOne({ _id: ledger.withMetadata[1]! }, { $set: { version: 1 } });
    const report = await run();
    expectOnly(report, { 'metadata-sync': 1 });
    expect(report.checks['metadata-sync']?.samples).toEqual([`transaction/${ledger.withMetadata[1]}: stale (v1, expected v2)`]);
  });

  it('a document with other content at the right version is reported mismatched; key order alone is not a difference', async () => {
    // Same content, keys in another order: not drift (hash of canonical JSON).
    const doc = await txDocs().findOne({ _id: ledger.withMetadata[1]! });
    const reordered = Object.fromEntries(Object.entries(doc!.metadata).reverse());
    await txDocs().updateOne({ _id: ledger.withMetadata[1]! }, { $set: { metadata: reordered } });
    expectOnly(await run(), {});
    await opDocs().updateOne({ _id: ledger.operationWithMetadata }, { $set: { 'metadata.note': 'tampered' } });
    const report = await run();
    expectOnly(report, { 'metadata-sync': 1 });
    expect(report.checks['metadata-sync']?.samples).toEqual([`operation/${ledger.operationWithMetadata}: mismatched content at v1`]);
  });

  it('a document whose entity does not exist is an orphan document', async () => {
    const orphan = randomUUID();
    await txDocs().insertOne({ _id: orphan, version: 1, metadata: { ghost: true } });
    const report = await run();
    expectOnly(report, { 'orphan-documents': 1 });
    expect(report.checks['orphan-documents']?.samples).toEqual([`transaction/${orphan}: orphan document (no such transaction)`]);
  });

  it('documents whose _id cannot be an entity id (not a uuid, upper-case, not a string) are orphans, without a cast error', async () => {
    const docs = t().mongoDb.collection<{ _id: unknown; version: number }>('operation_metadata');
    await docs.insertMany([{ _id: 'not-a-uuid', version: 1 }, { _id: ledger.operationWithMetadata.toUpperCase(), version: 1 }, { _id: new ObjectId(), version: 1 }, { _id: 42, version: 1 }]);
    const report = await run({ pageSize: 2 });
    expectOnly(report, { 'orphan-documents': 4 });
    expect(report.checks['orphan-documents']?.checked).toBe(7);
  });

  it('a transaction whose operations were deleted is an orphan transaction', async () => {
    // Delete the operations AND take their effect back out of the balances, so
    // that the one drift is "a transaction without operations".
    await t().pool.query(
      `WITH gone AS (DELETE FROM operation WHERE transaction_id = $1 RETURNING balance_id, direction, amount)
       UPDATE balance b SET available = b.available - g.net, version = b.version - g.n
         FROM (SELECT balance_id, sum(CASE WHEN direction = 'credit' THEN amount ELSE -amount END) AS net, count(*) AS n FROM gone GROUP BY balance_id) g
        WHERE b.id = g.balance_id`,
      [ledger.plain],
    );
    const report = await run();
    expectOnly(report, { 'orphan-transactions': 1 });
    expect(report.checks['orphan-transactions']?.samples).toEqual([`${ledger.plain}: transaction without operations`]);
  });

  it('an unbalanced transaction written with raw SQL fails double-entry, and (as it must) the asset no longer sums to zero', async () => {
    // The balances move with the operations, as a buggy writer would do. Then
    // each balance agrees with its operations, but money was created: every
    // balance of EUR sums to +50. Both findings are this one drift.
    const { rows } = await t().pool.query(`INSERT INTO "transaction" (idempotency_key, request_hash) VALUES ('raw', 'x') RETURNING id::text`);
    const id = rows[0].id as string;
    await t().pool.query(
      `WITH b AS (UPDATE balance SET available = available + 50, version = version + 1 WHERE account = 'alice' RETURNING id, available)
       INSERT INTO operation (transaction_id, balance_id, entry_index, account, asset, direction, amount, balance_before, balance_after)
       SELECT $1, b.id, 0, 'alice', 'EUR', 'credit', 50, b.available - 50, b.available FROM b`,
      [id],
    );
    const report = await run();
    expectOnly(report, { 'double-entry': 1, balances: 1 });
    expect(report.checks['double-entry']?.samples).toEqual([`${id}: EUR debits 0 ≠ credits 50`]);
    expect(report.checks.balances?.samples).toEqual(['asset/EUR: sum of balances 50 ≠ 0']);
  });

  it("a balance whose available was tampered disagrees with its operations, and its asset no longer sums to zero", async () => {
    const { rows } = await t().pool.query(`UPDATE balance SET available = available + 7 WHERE account = 'bob' RETURNING id::text`);
    const report = await run();
    expectOnly(report, { balances: 2 });
    expect(report.checks.balances?.samples).toEqual([`balance/${rows[0].id}: bob/EUR available 207 ≠ credits − debits 200`, 'asset/EUR: sum of balances 7 ≠ 0']);
  });

  it("a balance whose version was tampered disagrees with its operation count", async () => {
    const { rows } = await t().pool.query(`UPDATE balance SET version = version + 1 WHERE account = 'world' RETURNING id::text`);
    const report = await run();
    expectOnly(report, { balances: 1 });
    expect(report.checks.balances?.samples).toEqual([`balance/${rows[0].id}: world/EUR version 2 ≠ 1 operations`]);
  });

  it('a pending event older than the threshold is reported; its entity is in flight, so not drift', async () => {
    await updateTransactionMetadata(t().db, ledger.withMetadata[0]!, { purpose: 'late' });
    const { rows } = await t().pool.query(`UPDATE outbox SET created_at = now() - interval '10 minutes' RETURNING event_id::text`);
    expect(rows).toHaveLength(1);
    const report = await run({ pendingOlderThanSeconds: 300 });
    expectOnly(report, { 'outbox-health': 1 });
    expect(report.checks['outbox-health']?.samples[0]).toMatch(new RegExp(`^outbox/${rows[0].event_id}: pending for 60\\d s \\(transaction/${ledger.withMetadata[0]} v2\\)$`));
    expect(report.checks['metadata-sync']).toMatchObject({ skippedInFlight: 1, checked: 2 });
    // Under a higher threshold the same event is fine.
    expectOnly(await run({ pendingOlderThanSeconds: 3600 }), {});
  });

  it('a row still claimed after its lease ran out is reported', async () => {
    await updateTransactionMetadata(t().db, ledger.withMetadata[0]!, { purpose: 'claimed' });
    await t().pool.query(`UPDATE outbox SET claimed_by = 'crashed-relay', claimed_until = now() - interval '1 minute'`);
    const report = await run();
    expectOnly(report, { 'outbox-health': 1 });
    expect(report.checks['outbox-health']?.samples[0]).toMatch(/: held by crashed-relay 6\d s past its lease \(transaction\/.+ v2\)$/);
  });

  it('a dead event is reported', async () => {
    // A replay of a version already delivered, parked dead: MongoDB is in sync, only the outbox needs a look.
    await insertEvents(t().pool, [{ aggregateId: ledger.withMetadata[0]!, version: 1, metadata: { purpose: 'funding', tags: ['a', 'b'] } }]);
    await t().pool.query(`UPDATE outbox SET status = 'dead', dead_at = now(), attempts = 10, last_error = 'E11000 something'`);
    const report = await run();
    expectOnly(report, { 'outbox-health': 1 });
    expect(report.checks['outbox-health']?.samples[0]).toMatch(/: dead after 10 attempts: E11000 something \(transaction\/.+ v1\)$/);
  });

  it('an entity whose newest event is still pending is skipped as in flight, not reported', async () => {
    await updateTransactionMetadata(t().db, ledger.withMetadata[1]!, { invoice: 'INV-1', paid: false });
    await txDocs().deleteOne({ _id: ledger.withMetadata[1]! }); // even with its document gone entirely
    const report = await run();
    expectOnly(report, {});
    expect(report.checks['metadata-sync']).toMatchObject({ problems: 0, skippedInFlight: 1, checked: 2 });
  });

  it('pages through Postgres and MongoDB: a page size of 1 finds the same drift and checks the same count', async () => {
    await txDocs().deleteOne({ _id: ledger.withMetadata[0]! });
    await opDocs().updateOne({ _id: ledger.operationWithMetadata }, { $set: { version: 0 } });
    await txDocs().insertOne({ _id: randomUUID(), version: 1, metadata: {} });
    const report = await run({ pageSize: 1, sampleLimit: 1 });
    expectOnly(report, { 'metadata-sync': 2, 'orphan-documents': 1 });
    expect(report.checks['metadata-sync']).toMatchObject({ checked: 3, samples: [expect.stringMatching(/missing|stale/)] });
  });

  it('runs only the checks asked for', async () => {
    await txDocs().deleteOne({ _id: ledger.withMetadata[0]! });
    const report = await run({ checks: ['balances', 'double-entry'] });
    expect(Object.keys(report.checks).sort()).toEqual(['balances', 'double-entry']);
    expect(report.ok).toBe(true);
  });
});
