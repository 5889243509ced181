import { beforeAll, describe, expect, it } from 'vitest';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { updateOperationMetadata, updateTransactionMetadata } from '../../../src/ledger/updateMetadata.ts';
import { metadataHash } from '../../../src/metadata/metadataHash.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { expectRefusedWithoutTrace } from './ledgerFixtures.ts';

const t = useTestDatabases();

beforeAll(async () => {
  await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
  await createBalance(t().db, { account: 'alice', asset: 'EUR' });
  await createBalance(t().db, { account: 'bob', asset: 'EUR' });
});

async function balanceOf(account: string, asset = 'EUR') {
  const { rows } = await t().pool.query('SELECT available::text, version::int FROM balance WHERE account = $1 AND asset = $2', [account, asset]);
  return rows[0] as { available: string; version: number };
}

describe('postTransaction', () => {
  it('moves money (a debit takes out, a credit puts in), records before/after per operation, returns ids in entry order', async () => {
    const result = await postTransaction(t().db, {
      idempotencyKey: 'fund-alice',
      description: 'funding',
      entries: [
        { account: 'world', asset: 'EUR', direction: 'debit', amount: '1000' },
        { account: 'alice', asset: 'EUR', direction: 'credit', amount: 1000n },
      ],
    });
    expect(result.created).toBe(true);
    expect(result.operationIds).toHaveLength(2);
    expect(await balanceOf('world')).toEqual({ available: '-1000', version: 1 });
    expect(await balanceOf('alice')).toEqual({ available: '1000', version: 1 });
    const ops = await t().pool.query(
      'SELECT id, entry_index, account, direction, amount::text, balance_before::text, balance_after::text, metadata_version, metadata_hash FROM operation WHERE transaction_id = $1 ORDER BY entry_index',
      [result.transactionId],
    );
    expect(ops.rows.map((r) => r.id)).toEqual(result.operationIds);
    expect(ops.rows.map((r) => [r.account, r.direction, r.amount, r.balance_before, r.balance_after, r.metadata_version, r.metadata_hash])).toEqual([
      ['world', 'debit', '1000', '0', '-1000', 0, null],
      ['alice', 'credit', '1000', '0', '1000', 0, null],
    ]);
    const tx = await t().pool.query('SELECT description, metadata_version, metadata_hash, status FROM "transaction" WHERE id = $1', [result.transactionId]);
    expect(tx.rows[0]).toEqual({ description: 'funding', metadata_version: 0, metadata_hash: null, status: 'posted' });
    // No metadata anywhere: no outbox event.
    expect((await t().pool.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n).toBe(0);
  });

  it('bumps a balance version once per operation applied to it, not once per posting', async () => {
    const before = await balanceOf('alice');
    await postTransaction(t().db, {
      idempotencyKey: 'alice-three-ops',
      entries: [
        { account: 'alice', asset: 'EUR', direction: 'debit', amount: '10' },
        { account: 'alice', asset: 'EUR', direction: 'debit', amount: '5' },
        { account: 'alice', asset: 'EUR', direction: 'credit', amount: '1' },
        { account: 'bob', asset: 'EUR', direction: 'credit', amount: '14' },
      ],
    });
    const after = await balanceOf('alice');
    expect(after.version).toBe(before.version + 3);
    expect(BigInt(after.available)).toBe(BigInt(before.available) - 14n);
    const { rows } = await t().pool.query(`SELECT b.version::int AS version, count(o.id)::int AS ops FROM balance b LEFT JOIN operation o ON o.balance_id = b.id GROUP BY b.id`);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    for (const row of rows) expect(row.version).toBe(row.ops);
  });

  it('writes one thin outbox event per entity with metadata (version 1, no payload) and keeps the content on the entity row, none for the others', async () => {
    const result = await postTransaction(t().db, {
      idempotencyKey: 'with-metadata',
      metadata: { invoice: 'INV-1', tags: ['a', 'b'] },
      entries: [
        { account: 'alice', asset: 'EUR', direction: 'debit', amount: '3', metadata: { line: 1 } },
        { account: 'bob', asset: 'EUR', direction: 'credit', amount: '2' },
        { account: 'bob', asset: 'EUR', direction: 'credit', amount: '1', metadata: { line: 3 } },
      ],
    });
    const { rows } = await t().pool.query(
      `SELECT aggregate_type, aggregate_id, version, event_type, payload, status, attempts FROM outbox WHERE aggregate_id = ANY($1) ORDER BY id`,
      [[result.transactionId, ...result.operationIds]],
    );
    const [op0, , op2] = result.operationIds;
    expect(rows).toEqual([
      { aggregate_type: 'transaction', aggregate_id: result.transactionId, version: 1, event_type: 'metadata.upserted', payload: null, status: 'pending', attempts: 0 },
      { aggregate_type: 'operation', aggregate_id: op0, version: 1, event_type: 'metadata.upserted', payload: null, status: 'pending', attempts: 0 },
      { aggregate_type: 'operation', aggregate_id: op2, version: 1, event_type: 'metadata.upserted', payload: null, status: 'pending', attempts: 0 },
    ]);
    const tx = await t().pool.query('SELECT metadata_version, metadata_hash, metadata FROM "transaction" WHERE id = $1', [result.transactionId]);
    expect(tx.rows[0]).toEqual({ metadata_version: 1, metadata_hash: metadataHash({ tags: ['a', 'b'], invoice: 'INV-1' }), metadata: { invoice: 'INV-1', tags: ['a', 'b'] } });
    const ops = await t().pool.query('SELECT metadata_version, metadata_hash, metadata FROM operation WHERE transaction_id = $1 ORDER BY entry_index', [result.transactionId]);
    expect(ops.rows).toEqual([
      { metadata_version: 1, metadata_hash: metadataHash({ line: 1 }), metadata: { line: 1 } },
      { metadata_version: 0, metadata_hash: null, metadata: null },
      { metadata_version: 1, metadata_hash: metadataHash({ line: 3 }), metadata: { line: 3 } },
    ]);
    const eventIds = await t().pool.query('SELECT count(DISTINCT event_id)::int AS n FROM outbox');
    expect(eventIds.rows[0].n).toBe((await t().pool.query('SELECT count(*)::int AS n FROM outbox')).rows[0].n);

    // updateTransactionMetadata: version 2, new hash, its own event; the operation's does the same independently.
    expect(await updateTransactionMetadata(t().db, result.transactionId, { invoice: 'INV-1b' })).toEqual({ version: 2 });
    expect(await updateTransactionMetadata(t().db, result.transactionId.toUpperCase(), { invoice: 'INV-1c' })).toEqual({ version: 3 });
    expect(await updateOperationMetadata(t().db, op0!, { line: 'one' })).toEqual({ version: 2 });
    const events = await t().pool.query(`SELECT aggregate_type, aggregate_id, version, payload FROM outbox WHERE aggregate_id = ANY($1) AND version > 1 ORDER BY id`, [[result.transactionId, op0]]);
    expect(events.rows).toEqual([
      { aggregate_type: 'transaction', aggregate_id: result.transactionId, version: 2, payload: null },
      { aggregate_type: 'transaction', aggregate_id: result.transactionId, version: 3, payload: null },
      { aggregate_type: 'operation', aggregate_id: op0, version: 2, payload: null },
    ]);
    const after = await t().pool.query('SELECT metadata_version, metadata_hash, metadata FROM "transaction" WHERE id = $1', [result.transactionId]);
    expect(after.rows[0]).toEqual({ metadata_version: 3, metadata_hash: metadataHash({ invoice: 'INV-1c' }), metadata: { invoice: 'INV-1c' } });
    const op = await t().pool.query('SELECT metadata_version, metadata FROM operation WHERE id = $1', [op0]);
    expect(op.rows[0]).toEqual({ metadata_version: 2, metadata: { line: 'one' } });
  });

  it('updateMetadata answers UNKNOWN_TRANSACTION / UNKNOWN_OPERATION for unknown ids and non-UUIDs, INVALID_METADATA for bad metadata, writing nothing', async () => {
    const pool = t().pool;
    await expectRefusedWithoutTrace(pool, 'UNKNOWN_TRANSACTION', () => updateTransactionMetadata(t().db, '00000000-0000-4000-8000-000000000000', { a: 1 }));
    await expectRefusedWithoutTrace(pool, 'UNKNOWN_TRANSACTION', () => updateTransactionMetadata(t().db, "x'; DROP TABLE balance; --", { a: 1 }));
    await expectRefusedWithoutTrace(pool, 'UNKNOWN_OPERATION', () => updateOperationMetadata(t().db, '00000000-0000-4000-8000-000000000000', { a: 1 }));
    const { rows } = await pool.query('SELECT id FROM "transaction" LIMIT 1');
    await expectRefusedWithoutTrace(pool, 'INVALID_METADATA', () => updateTransactionMetadata(t().db, rows[0].id, { $set: 1 }));
  });

  it('stores account names and descriptions with quotes, SQL, newlines and unicode verbatim', async () => {
    const names = ["O'Brien \"the\" \\ bank", "'; DROP TABLE balance; --", 'line1\nline2\r\n\ttab', 'ünïcødé 🏦 中文 \u200b', 'NULL', '{a,b}', '  spaced  '];
    for (const account of names) await createBalance(t().db, { account, asset: 'ÉUR"' });
    await createBalance(t().db, { account: 'world', asset: 'ÉUR"', allowNegative: true });
    const description = "desc with 'quotes', \"double\", $1, \\x00-ish \n newline, 🌍 and '; DROP TABLE balance; --";
    const result = await postTransaction(t().db, {
      idempotencyKey: "key'; DROP TABLE \"transaction\"; --",
      description,
      entries: [
        { account: 'world', asset: 'ÉUR"', direction: 'debit', amount: String(names.length) },
        ...names.map((account) => ({ account, asset: 'ÉUR"', direction: 'credit' as const, amount: '1' })),
      ],
    });
    const ops = await t().pool.query('SELECT account, asset FROM operation WHERE transaction_id = $1 ORDER BY entry_index', [result.transactionId]);
    expect(ops.rows.map((r) => r.account)).toEqual(['world', ...names]);
    expect(new Set(ops.rows.map((r) => r.asset))).toEqual(new Set(['ÉUR"']));
    const tx = await t().pool.query('SELECT description, idempotency_key FROM "transaction" WHERE id = $1', [result.transactionId]);
    expect(tx.rows[0]).toEqual({ description, idempotency_key: "key'; DROP TABLE \"transaction\"; --" });
    const balances = await t().pool.query(`SELECT account, available::text FROM balance WHERE asset = 'ÉUR"' AND account <> 'world' ORDER BY account`);
    expect(balances.rows.map((r) => r.account).sort()).toEqual([...names].sort());
    for (const row of balances.rows) expect(row.available).toBe('1');
  });

  it('posts the maximum of 10,000 entries in one transaction (one array per column, no parameter limit)', async () => {
    await createBalance(t().db, { account: 'big-source', asset: 'PTS', allowNegative: true });
    await createBalance(t().db, { account: 'big-sink', asset: 'PTS' });
    const entries = Array.from({ length: 10_000 }, (_, i) => ({
      account: i % 2 === 0 ? 'big-source' : 'big-sink',
      asset: 'PTS',
      direction: i % 2 === 0 ? ('debit' as const) : ('credit' as const),
      amount: String((i >> 1) + 1),
      metadata: { i },
    }));
    const result = await postTransaction(t().db, { idempotencyKey: 'big', metadata: { big: true }, entries });
    expect(result.operationIds).toHaveLength(10_000);
    const sink = await balanceOf('big-sink', 'PTS');
    expect(sink).toEqual({ available: String((5000 * 5001) / 2), version: 5000 });
    const outbox = await t().pool.query(`SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = ANY($1)`, [[result.transactionId, ...result.operationIds]]);
    expect(outbox.rows[0].n).toBe(10_001);
    const last = await t().pool.query('SELECT entry_index, balance_after::text FROM operation WHERE id = $1', [result.operationIds[9_999]]);
    expect(last.rows[0]).toEqual({ entry_index: 9_999, balance_after: String((5000 * 5001) / 2) });
  });
});
