/** Shared set-up for the reconcile integration tests (not a test file itself). */
import { expect } from 'vitest';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { updateOperationMetadata, updateTransactionMetadata } from '../../../src/ledger/updateMetadata.ts';
import { CHECK_NAMES, type CheckName, type ReconcileReport } from '../../../src/reconcile/reconcileTypes.ts';
import { resolveThinEvents } from '../../../src/relay/resolveThinEvents.ts';
import type { Metadata } from '../../../src/types.ts';
import type { TestDatabases } from '../../helpers/testDatabases.ts';

export interface Ledger {
  /** Transactions carrying metadata (the second is at metadata version 2). */
  withMetadata: string[];
  /** A transaction and its operations with no metadata at all. */
  plain: string;
  /** An operation carrying metadata. */
  operationWithMetadata: string;
}

/** Empty both databases (tests in a file share them). */
export async function resetDatabases(t: TestDatabases): Promise<void> {
  await t.pool.query(`TRUNCATE balance, "transaction", operation, outbox, outbox_delivered, outbox_relay`);
  await Promise.all(['transaction_metadata', 'operation_metadata'].map((name) => t.mongoDb.collection(name).deleteMany({})));
}

/**
 * A small real ledger through the writer API: three balances, three postings
 * (two with transaction metadata, one with operation metadata too, one with
 * none), and one metadata update so a version-2 entity exists.
 */
export async function seedLedger(t: TestDatabases): Promise<Ledger> {
  await createBalance(t.db, { account: 'world', asset: 'EUR', allowNegative: true });
  await createBalance(t.db, { account: 'alice', asset: 'EUR' });
  await createBalance(t.db, { account: 'bob', asset: 'EUR' });
  const first = await postTransaction(t.db, {
    idempotencyKey: 'fund-alice',
    metadata: { purpose: 'funding', tags: ['a', 'b'] },
    entries: [
      { account: 'world', asset: 'EUR', direction: 'debit', amount: '1000' },
      { account: 'alice', asset: 'EUR', direction: 'credit', amount: '1000', metadata: { note: 'welcome' } },
    ],
  });
  const second = await postTransaction(t.db, {
    idempotencyKey: 'alice-pays-bob',
    metadata: { invoice: 'INV-1' },
    entries: [
      { account: 'alice', asset: 'EUR', direction: 'debit', amount: '300' },
      { account: 'bob', asset: 'EUR', direction: 'credit', amount: '300' },
    ],
  });
  const plain = await postTransaction(t.db, {
    idempotencyKey: 'bob-pays-alice',
    entries: [
      { account: 'bob', asset: 'EUR', direction: 'debit', amount: '100' },
      { account: 'alice', asset: 'EUR', direction: 'credit', amount: '100' },
    ],
  });
  await updateTransactionMetadata(t.db, second.transactionId, { invoice: 'INV-1', paid: true, nested: { z: 1, a: [1, 2] } });
  return { withMetadata: [first.transactionId, second.transactionId], plain: plain.transactionId, operationWithMetadata: first.operationIds[1]! };
}

/**
 * Deliver every pending event the way the relay does (fenced upsert, then
 * move the row to outbox_delivered), without starting one: detection tests
 * need a clean, synced state fast and deterministically. The repair test
 * runs the real relay.
 */
export async function deliverPending(t: TestDatabases): Promise<number> {
  const pending = await t.pool.query<{ id: string; event_id: string; aggregate_type: string; aggregate_id: string; version: number; payload: { metadata: Metadata } | null }>(
    `SELECT id, event_id::text, aggregate_type, aggregate_id, version, payload FROM outbox WHERE status = 'pending' ORDER BY id`,
  );
  // Thin events get their content from PostgreSQL, as the relay's do.
  const { ready } = await resolveThinEvents(t.db, pending.rows.map((r) => ({ id: Number(r.id), eventId: r.event_id, aggregateType: r.aggregate_type, aggregateId: r.aggregate_id, version: r.version, eventType: 'metadata.upserted', payload: r.payload, createdAt: new Date(), attempts: 0 })));
  const rows = ready.map((e) => ({ id: e.id, event_id: e.eventId, aggregate_type: e.aggregateType, aggregate_id: e.aggregateId, version: e.version, payload: e.payload }));
  for (const r of rows) {
    try {
      await t.mongoDb
        .collection<{ _id: string }>(`${r.aggregate_type}_metadata`)
        .updateOne({ _id: r.aggregate_id, version: { $lt: r.version } }, { $set: { metadata: r.payload.metadata, version: r.version, eventId: r.event_id, updatedAt: new Date() } }, { upsert: true });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 11000) throw error;
    }
  }
  await t.pool.query(`
    WITH moved AS (DELETE FROM outbox WHERE id = ANY($1::bigint[]) RETURNING *)
    INSERT INTO outbox_delivered (id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, last_error, delivered_by)
    SELECT id, event_id, aggregate_type, aggregate_id, version, event_type, payload, created_at, attempts, last_error, 'test-delivery' FROM moved`,
    [rows.map((r) => r.id)],
  );
  return rows.length;
}

/** The report found exactly `expected` problems per check, and none anywhere else. */
export function expectOnly(report: ReconcileReport, expected: Partial<Record<CheckName, number>>): void {
  const problems = Object.fromEntries(CHECK_NAMES.map((name) => [name, report.checks[name]?.problems]));
  expect(problems).toEqual(Object.fromEntries(CHECK_NAMES.map((name) => [name, expected[name] ?? 0])));
  expect(report.ok).toBe(Object.values(expected).every((n) => n === 0));
}

export { updateOperationMetadata, updateTransactionMetadata };
