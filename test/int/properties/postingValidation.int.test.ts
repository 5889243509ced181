/**
 * Property: any posting request — valid or not, extreme amounts included —
 * either fails with a typed OutboxRelayError whose code is one the model
 * predicts, and changes nothing anywhere; or succeeds exactly when the model
 * says it must, with balances, balance versions, operations and outbox rows
 * matching a simple in-memory ledger.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { MAX_AMOUNT } from '../../../src/ledger/parseAmount.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import type { PostingRequest } from '../../../src/types.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();

const MIN_BIGINT = -MAX_AMOUNT - 1n;
const BALANCES = [
  { account: 'world', asset: 'EUR', allowNegative: true },
  { account: 'alice', asset: 'EUR', allowNegative: false },
  { account: 'bob', asset: 'EUR', allowNegative: false },
  { account: 'world', asset: 'USD', allowNegative: true },
  { account: 'alice', asset: 'USD', allowNegative: false },
] as const;

interface ModelBalance {
  available: bigint;
  version: number;
  allowNegative: boolean;
}
const model = new Map<string, ModelBalance>();
const key = (account: unknown, asset: unknown) => `${String(account)}/${String(asset)}`;
let expectedTransactions = 0;
let expectedOperations = 0;
let expectedEvents = 0;

beforeAll(async () => {
  for (const b of BALANCES) {
    await createBalance(t().db, b);
    model.set(key(b.account, b.asset), { available: 0n, version: 0, allowNegative: b.allowNegative });
  }
});

const knownAccount = fc.constantFrom('world', 'alice', 'bob');
const account = fc.oneof({ weight: 8, arbitrary: knownAccount }, { weight: 1, arbitrary: fc.constantFrom('ghost', '', 'alice ') });
const asset = fc.oneof({ weight: 8, arbitrary: fc.constantFrom('EUR', 'USD') }, { weight: 1, arbitrary: fc.constantFrom('GBP', '') });
const direction = fc.oneof({ weight: 10, arbitrary: fc.constantFrom('debit', 'credit') }, { weight: 1, arbitrary: fc.constantFrom('DEBIT', 'sideways', '') });
const validAmount = fc.oneof(fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 1n, max: MAX_AMOUNT }), fc.constant(MAX_AMOUNT));
const amount: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: validAmount },
  { weight: 4, arbitrary: validAmount.map((a) => a.toString()) },
  { weight: 1, arbitrary: fc.bigInt({ min: -5n, max: 0n }) },
  { weight: 1, arbitrary: fc.bigInt({ min: MAX_AMOUNT + 1n, max: MAX_AMOUNT * 4n }) },
  { weight: 1, arbitrary: fc.constantFrom(' 5', '5.0', '0x10', '1e3', '-1', '0', '007', '', '1'.repeat(40), '9223372036854775808') },
  { weight: 1, arbitrary: fc.constantFrom(5, 0.1, Number.MAX_SAFE_INTEGER, Infinity, Number.NaN, -0, null, undefined, true, {}) },
);
const entry = fc.record({ account, asset, direction, amount }, { requiredKeys: ['account', 'asset', 'direction'] });
/** A balanced pair (most requests should get past validation to exercise the ledger). */
const source = fc.oneof({ weight: 4, arbitrary: fc.constant('world') }, { weight: 1, arbitrary: knownAccount });
const balanced = fc.tuple(source, knownAccount, fc.constantFrom('EUR', 'USD'), fc.oneof({ weight: 4, arbitrary: fc.bigInt({ min: 1n, max: 1000n }) }, { weight: 1, arbitrary: validAmount })).map(([from, to, a, amt]) => [
  { account: from, asset: a, direction: 'debit', amount: amt },
  { account: to, asset: a, direction: 'credit', amount: amt.toString() },
]);
const entries = fc.oneof(
  { weight: 5, arbitrary: fc.array(balanced, { minLength: 1, maxLength: 3 }).map((pairs) => pairs.flat()) },
  { weight: 3, arbitrary: fc.array(entry, { minLength: 0, maxLength: 5 }) },
  { weight: 2, arbitrary: fc.tuple(fc.array(balanced, { minLength: 1, maxLength: 2 }), fc.array(entry, { maxLength: 2 })).map(([p, e]) => [...p.flat(), ...e]) },
);
const withMetadata = fc.boolean();

/** What the model says: the set of error codes the request may fail with (empty: it must succeed). */
function predict(entriesIn: readonly Record<string, unknown>[]): { codes: Set<string>; after?: Map<string, ModelBalance> } {
  const codes = new Set<string>();
  if (entriesIn.length < 2) codes.add('INVALID_REQUEST');
  const parsed: { account: string; asset: string; direction: string; amount: bigint }[] = [];
  for (const e of entriesIn) {
    if (typeof e.account !== 'string' || e.account === '' || typeof e.asset !== 'string' || e.asset === '' || (e.direction !== 'debit' && e.direction !== 'credit')) {
      codes.add('INVALID_REQUEST');
      continue;
    }
    let a: bigint | undefined;
    if (typeof e.amount === 'bigint') a = e.amount;
    else if (typeof e.amount === 'string' && /^[1-9][0-9]*$/.test(e.amount)) a = e.amount.length > 19 ? MAX_AMOUNT + 1n : BigInt(e.amount);
    if (a === undefined || a < 1n) {
      codes.add('INVALID_AMOUNT');
      continue;
    }
    if (a > MAX_AMOUNT) {
      codes.add('AMOUNT_OUT_OF_RANGE');
      continue;
    }
    parsed.push({ account: e.account, asset: e.asset, direction: e.direction, amount: a });
  }
  if (codes.size > 0) return { codes };
  const sums = new Map<string, bigint>();
  for (const p of parsed) sums.set(p.asset, (sums.get(p.asset) ?? 0n) + (p.direction === 'debit' ? p.amount : -p.amount));
  if ([...sums.values()].some((s) => s !== 0n)) return { codes: new Set(['UNBALANCED_ENTRIES']) };
  if (parsed.some((p) => !model.has(key(p.account, p.asset)))) return { codes: new Set(['UNKNOWN_BALANCE']) };
  const after = new Map([...model].map(([k, v]) => [k, { ...v }]));
  for (const p of parsed) {
    const b = after.get(key(p.account, p.asset)) as ModelBalance;
    const next = p.direction === 'debit' ? b.available - p.amount : b.available + p.amount;
    // The first failing entry decides; the ledger checks range before funds.
    if (next > MAX_AMOUNT || next < MIN_BIGINT) return { codes: new Set(['AMOUNT_OUT_OF_RANGE']) };
    if (next < 0n && !b.allowNegative) return { codes: new Set(['INSUFFICIENT_FUNDS']) };
    b.available = next;
    b.version += 1;
  }
  return { codes, after };
}

async function snapshot() {
  const { rows } = await t().pool.query(`
    SELECT (SELECT count(*)::int FROM "transaction") AS transactions, (SELECT count(*)::int FROM operation) AS operations,
           (SELECT count(*)::int FROM outbox) AS events,
           (SELECT coalesce(sum(amount), 0)::text FROM operation) AS amount_sum,
           (SELECT json_agg(json_build_object('k', account || '/' || asset, 'available', available::text, 'version', version) ORDER BY account, asset) FROM balance) AS balances`);
  return rows[0] as { transactions: number; operations: number; events: number; amount_sum: string; balances: { k: string; available: string; version: number }[] };
}

describe('posting validation (property)', () => {
  it('a typed error and no change anywhere, or a balanced posting that matches the in-memory ledger', async () => {
    let n = 0;
    let refused = 0;
    let posted = 0;
    await fc.assert(
      fc.asyncProperty(entries, withMetadata, async (entriesIn, meta) => {
        const request = { idempotencyKey: `prop-${process.pid}-${n++}-${Math.random()}`, entries: entriesIn, ...(meta ? { metadata: { n } } : {}) } as unknown as PostingRequest;
        const prediction = predict(entriesIn as Record<string, unknown>[]);
        const before = await snapshot();
        let error: unknown;
        try {
          await postTransaction(t().db, request);
        } catch (e) {
          error = e;
        }
        const after = await snapshot();
        if (error !== undefined) {
          expect(error, String(error)).toBeInstanceOf(OutboxRelayError);
          expect([...prediction.codes], `got ${(error as OutboxRelayError).code}: ${(error as Error).message}`).toContain((error as OutboxRelayError).code);
          expect(after).toEqual(before);
          refused++;
          return;
        }
        expect(prediction.codes.size, `succeeded although the model expected ${[...prediction.codes].join('/')}`).toBe(0);
        for (const [k, v] of prediction.after ?? []) model.set(k, v);
        posted++;
        expectedTransactions++;
        expectedOperations += entriesIn.length;
        expectedEvents += meta ? 1 : 0;
        expect(after.transactions).toBe(expectedTransactions);
        expect(after.operations).toBe(expectedOperations);
        expect(after.events).toBe(expectedEvents);
        expect(after.balances).toEqual(
          [...model].map(([k, v]) => ({ k, available: v.available.toString(), version: v.version })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0)),
        );
        // Double entry per asset: the sum of all balances of an asset is zero.
        const perAsset = new Map<string, bigint>();
        for (const b of after.balances) perAsset.set(b.k.split('/')[1] as string, (perAsset.get(b.k.split('/')[1] as string) ?? 0n) + BigInt(b.available));
        expect(perAsset.size).toBeGreaterThan(0);
        for (const sum of perAsset.values()) expect(sum).toBe(0n);
      }),
      { numRuns: 300, seed: process.env.FC_SEED ? Number(process.env.FC_SEED) : undefined },
    );
    // The generators must exercise both sides of the property.
    expect(posted).toBeGreaterThan(30);
    expect(refused).toBeGreaterThan(30);
  });
});
