import { describe, expect, it } from 'vitest';
import { InsufficientFundsError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import type { PostingEntry } from '../../../src/types.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();

const WRITERS = 8;
const POSTINGS_PER_WRITER = 200;
const ASSETS = ['EUR', 'USD'];
const ACCOUNTS = ['fund', ...Array.from({ length: 9 }, (_, i) => `acct-${i}`)];

// Seeded, so a failure can be replayed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x ^= x + Math.imul(x ^ (x >>> 7), 61 | x);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function randomEntries(random: () => number): PostingEntry[] {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const asset = pick(ASSETS);
  // Half the postings draw on the funding account; the rest move money between
  // non-negative accounts and may be refused for insufficient funds.
  const from = random() < 0.5 ? ['fund'] : [pick(ACCOUNTS.slice(1)), pick(ACCOUNTS.slice(1))];
  const to = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(ACCOUNTS.slice(1)));
  const credits = to.map((account) => ({ account, amount: BigInt(1 + Math.floor(random() * 1_000)) }));
  const total = credits.reduce((sum, c) => sum + c.amount, 0n);
  const first = from.length === 1 ? total : total / 2n;
  const debits = from.length === 1 ? [{ account: from[0]!, amount: total }] : [{ account: from[0]!, amount: first }, { account: from[1]!, amount: total - first }];
  const entries: PostingEntry[] = [
    ...debits.filter((d) => d.amount > 0n).map((d) => ({ account: d.account, asset, direction: 'debit' as const, amount: d.amount })),
    ...credits.map((c) => ({ account: c.account, asset, direction: 'credit' as const, amount: c.amount.toString(), ...(random() < 0.3 ? { metadata: { n: Number(c.amount) } } : {}) })),
  ];
  // Shuffle so lock order cannot follow entry order by accident.
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [entries[i], entries[j]] = [entries[j]!, entries[i]!];
  }
  return entries;
}

describe('concurrent postings', () => {
  it(`${WRITERS} writers × ${POSTINGS_PER_WRITER} random postings over ${ACCOUNTS.length} accounts: no deadlock, money conserved, balances and versions exact`, async () => {
    for (const asset of ASSETS) {
      for (const account of ACCOUNTS) await createBalance(t().db, { account, asset, allowNegative: account === 'fund' });
    }
    const expected = new Map<string, bigint>();
    let posted = 0;
    let refused = 0;
    const writer = async (w: number) => {
      const random = rng(1_000 + w);
      for (let i = 0; i < POSTINGS_PER_WRITER; i++) {
        const entries = randomEntries(random);
        try {
          // maxRetries 0: a deadlock would surface as DATABASE_ERROR instead of being retried away.
          const result = await postTransaction(t().db, { idempotencyKey: `w${w}-${i}`, entries }, { maxRetries: 0 });
          expect(result.created).toBe(true);
          posted++;
          for (const e of entries) {
            const key = `${e.account}/${e.asset}`;
            const delta = e.direction === 'credit' ? BigInt(e.amount) : -BigInt(e.amount);
            expected.set(key, (expected.get(key) ?? 0n) + delta);
          }
        } catch (error) {
          // The one expected refusal; anything else fails the test.
          if (!(error instanceof InsufficientFundsError)) throw error;
          expect(error.code).toBe('INSUFFICIENT_FUNDS');
          refused++;
        }
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
    expect(posted + refused).toBe(WRITERS * POSTINGS_PER_WRITER);
    expect(posted).toBeGreaterThan(WRITERS * POSTINGS_PER_WRITER * 0.5);

    const { rows } = await t().pool.query(`
      SELECT b.account, b.asset, b.available::text AS available, b.version::int AS version, count(o.id)::int AS operations
      FROM balance b LEFT JOIN operation o ON o.balance_id = b.id GROUP BY b.id`);
    expect(rows).toHaveLength(ASSETS.length * ACCOUNTS.length);
    for (const row of rows) {
      expect(BigInt(row.available), `${row.account}/${row.asset}`).toBe(expected.get(`${row.account}/${row.asset}`) ?? 0n);
      expect(row.version, `${row.account}/${row.asset} version`).toBe(row.operations);
      if (row.account !== 'fund') expect(BigInt(row.available)).toBeGreaterThanOrEqual(0n);
    }
    const conservation = await t().pool.query(`SELECT asset, sum(available)::text AS total FROM balance GROUP BY asset`);
    expect(conservation.rows.map((r) => r.asset).sort()).toEqual([...ASSETS].sort());
    for (const row of conservation.rows) expect(row.total).toBe('0');
    const counts = await t().pool.query(`SELECT (SELECT count(*)::int FROM "transaction") AS transactions`);
    expect(counts.rows[0].transactions).toBe(posted);
    // Each operation's before/after chain is consistent per balance.
    const chain = await t().pool.query(`
      SELECT count(*)::int AS broken FROM operation
      WHERE balance_after <> balance_before + CASE direction WHEN 'credit' THEN amount ELSE -amount END`);
    expect(chain.rows[0].broken).toBe(0);
  });
});
