/** Shared set-up for the rebuild tests: a ledger with metadata, and a comparison of MongoDB with PostgreSQL. */
import { createBalance } from '../../src/ledger/createBalance.ts';
import { postTransaction } from '../../src/ledger/postTransaction.ts';
import { updateOperationMetadata, updateTransactionMetadata } from '../../src/ledger/updateMetadata.ts';
import type { TestDatabases } from './testDatabases.ts';

export interface SeededLedger {
  transactionIds: string[];
  /** The operation of each posting that carries metadata. */
  operationIds: string[];
}

/**
 * `count` postings, each with metadata on the transaction and on its credit
 * operation, written by `concurrency` writers; then metadata updates on every
 * `updateEvery`-th transaction (to v2, some to v3) and operation (v2).
 */
export async function seedLedger(t: TestDatabases, options: { count: number; concurrency?: number; updateEvery?: number; tag?: string }): Promise<SeededLedger> {
  const tag = options.tag ?? 'seed';
  await createBalance(t.db, { account: `${tag}-world`, asset: 'EUR', allowNegative: true });
  for (let i = 0; i < 10; i++) await createBalance(t.db, { account: `${tag}-c${i}`, asset: 'EUR' });
  const transactionIds: string[] = new Array(options.count);
  const operationIds: string[] = new Array(options.count);
  let next = 0;
  const writer = async () => {
    for (;;) {
      const i = next++;
      if (i >= options.count) return;
      const result = await postTransaction(t.db, {
        idempotencyKey: `${tag}-${i}`,
        metadata: { invoice: `INV-${i}`, tags: ['drill', String(i % 7)], nested: { n: i } },
        entries: [
          { account: `${tag}-world`, asset: 'EUR', direction: 'debit', amount: String(100 + i) },
          { account: `${tag}-c${i % 10}`, asset: 'EUR', direction: 'credit', amount: String(100 + i), metadata: { line: i, note: `credit ${i}` } },
        ],
      });
      transactionIds[i] = result.transactionId;
      operationIds[i] = result.operationIds[1]!;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, writer));
  const every = options.updateEvery ?? 10;
  for (let i = 0; i < options.count; i += every) {
    await updateTransactionMetadata(t.db, transactionIds[i]!, { invoice: `INV-${i}`, paid: true });
    if (i % (every * 2) === 0) await updateTransactionMetadata(t.db, transactionIds[i]!, { invoice: `INV-${i}`, paid: true, refunded: i });
    await updateOperationMetadata(t.db, operationIds[i]!, { line: i, note: 'amended' });
  }
  return { transactionIds, operationIds };
}

/** Every entity with metadata whose MongoDB document is not PostgreSQL's newest version and content. */
export async function projectionDiffers(t: TestDatabases): Promise<string[]> {
  const wrong: string[] = [];
  for (const [type, table] of [['transaction', '"transaction"'], ['operation', 'operation']] as const) {
    const { rows } = await t.pool.query<{ id: string; version: number; metadata: unknown }>(`SELECT id::text AS id, metadata_version AS version, metadata FROM ${table} WHERE metadata_version > 0`);
    const docs = await t.mongoDb.collection<{ _id: string; version: number; metadata: unknown }>(`${type}_metadata`).find({}).toArray();
    const byId = new Map(docs.map((d) => [d._id, d]));
    for (const row of rows) {
      const doc = byId.get(row.id);
      if (!doc) wrong.push(`${type}/${row.id}: missing`);
      else if (doc.version !== row.version) wrong.push(`${type}/${row.id}: v${doc.version}, PostgreSQL v${row.version}`);
      else if (JSON.stringify(sortKeys(doc.metadata)) !== JSON.stringify(sortKeys(row.metadata))) wrong.push(`${type}/${row.id}: content differs at v${row.version}`);
    }
  }
  return wrong;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, sortKeys(v)]));
  return value;
}
