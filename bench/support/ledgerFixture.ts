/** Accounts for the writer scenarios: many balances that may go negative, so postings rarely contend. */
import type pg from 'pg';
import { postTransactionWith } from '../../src/ledger/postTransaction.ts';
import type { DbLike } from '../../src/db/toSqlDb.ts';
import type { PostingRequest } from '../../src/types.ts';
import { postWithPayloadEvents } from './payloadPosting.ts';

export async function createAccounts(pool: pg.Pool, count: number): Promise<string[]> {
  // Bulk SQL instead of createBalance × n: set-up time is not what is measured.
  await pool.query(`INSERT INTO balance (account, asset, allow_negative) SELECT 'acct-' || i, 'EUR', true FROM generate_series(0, $1::int - 1) i`, [count]);
  return Array.from({ length: count }, (_, i) => `acct-${i}`);
}

let sequence = 0;

/**
 * One posting between two random accounts. `events`: 0 (no metadata, no
 * outbox row), 1 (metadata on the transaction) or 2 (also on the credit entry).
 */
export async function postOne(db: DbLike, accounts: readonly string[], events: 0 | 1 | 2, tag: string, options: { payloadEvents?: boolean; outbox?: boolean } = {}): Promise<string> {
  const a = Math.floor(Math.random() * accounts.length);
  let b = Math.floor(Math.random() * (accounts.length - 1));
  if (b >= a) b++;
  const n = sequence++;
  const request = {
    idempotencyKey: `${tag}-${process.pid}-${n}`,
    description: 'bench posting',
    ...(events > 0 ? { metadata: { ref: `INV-${n}`, channel: 'bench', tags: ['a', 'b'] } } : {}),
    entries: [
      { account: accounts[a] as string, asset: 'EUR', direction: 'debit', amount: '100' },
      { account: accounts[b] as string, asset: 'EUR', direction: 'credit', amount: '100', ...(events > 1 ? { metadata: { note: `credit ${n}` } } : {}) },
    ],
  } satisfies PostingRequest;
  // The write as it was before PostgreSQL kept the content (writer-overhead "before").
  if (options.payloadEvents) return postWithPayloadEvents(db, request);
  // outbox: false — the same posting, metadata content included, without its outbox rows (writer overhead's "outbox off").
  return (await postTransactionWith(db, request, {}, { outbox: options.outbox ?? true })).transactionId;
}
