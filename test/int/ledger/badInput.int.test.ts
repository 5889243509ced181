import { beforeAll, describe, expect, it } from 'vitest';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { MAX_AMOUNT } from '../../../src/ledger/parseAmount.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import { MAX_METADATA_BYTES } from '../../../src/metadata/validateMetadata.ts';
import type { PostingEntry, PostingRequest } from '../../../src/types.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { expectRefusedWithoutTrace } from './ledgerFixtures.ts';

const t = useTestDatabases();

const debit = (account: string, amount: PostingEntry['amount'], asset = 'EUR'): PostingEntry => ({ account, asset, direction: 'debit', amount });
const credit = (account: string, amount: PostingEntry['amount'], asset = 'EUR'): PostingEntry => ({ account, asset, direction: 'credit', amount });
const request = (entries: PostingEntry[], extra: Partial<PostingRequest> = {}): PostingRequest => ({ idempotencyKey: `k-${Math.random()}`, entries, ...extra });

function deep(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

beforeAll(async () => {
  await createBalance(t().db, { account: 'world', asset: 'EUR', allowNegative: true });
  await createBalance(t().db, { account: 'alice', asset: 'EUR' });
  await createBalance(t().db, { account: 'bob', asset: 'EUR' });
  await postTransaction(t().db, request([debit('world', '100'), credit('alice', '100')]));
});

describe('bad input to postTransaction writes nothing and answers with a typed code', () => {
  const post = (req: unknown) => () => postTransaction(t().db, req as PostingRequest);

  it('fewer than 2 entries → INVALID_REQUEST', async () => {
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', post(request([debit('alice', '1')])));
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', post(request([])));
  });

  it('unbalanced entries → UNBALANCED_ENTRIES naming the asset and both sums', async () => {
    const error = await expectRefusedWithoutTrace(t().pool, 'UNBALANCED_ENTRIES', post(request([debit('alice', '10'), credit('bob', '9')])));
    expect(error.message).toMatch(/"EUR".*10.*9/);
  });

  it.each([
    ['a JS number', 5],
    ['zero', '0'],
    ['zero bigint', 0n],
    ['a negative', '-5'],
    ['a negative bigint', -5n],
    ['-0', '-0'],
    ['a fraction 5.0', '5.0'],
    ['a fraction 0.1', '0.1'],
    ['a leading space', ' 5'],
    ['hex', '0x10'],
    ['an exponent', '1e3'],
    ['leading zeros', '05'],
    ['empty', ''],
  ])('amount as %s → INVALID_AMOUNT', async (_label, amount) => {
    await expectRefusedWithoutTrace(t().pool, 'INVALID_AMOUNT', post(request([debit('alice', amount as string), credit('bob', amount as string)])));
  });

  it('amount above the bigint range → AMOUNT_OUT_OF_RANGE', async () => {
    await expectRefusedWithoutTrace(t().pool, 'AMOUNT_OUT_OF_RANGE', post(request([debit('world', '9223372036854775808'), credit('bob', '9223372036854775808')])));
  });

  it('a balance pushed past the bigint range → AMOUNT_OUT_OF_RANGE, not a database error', async () => {
    await expectRefusedWithoutTrace(t().pool, 'AMOUNT_OUT_OF_RANGE', post(request([debit('world', MAX_AMOUNT), credit('alice', MAX_AMOUNT)])));
  });

  it('unknown account or asset → UNKNOWN_BALANCE naming them', async () => {
    const error = await expectRefusedWithoutTrace(t().pool, 'UNKNOWN_BALANCE', post(request([debit('alice', '1'), credit('nobody', '1')])));
    expect(error.message).toContain('"nobody"/"EUR"');
    const other = await expectRefusedWithoutTrace(t().pool, 'UNKNOWN_BALANCE', post(request([debit('alice', '1', 'GBP'), credit('bob', '1', 'GBP')])));
    expect(other.message).toContain('"alice"/"GBP"');
  });

  it('insufficient funds → INSUFFICIENT_FUNDS, also when a later credit would have covered it', async () => {
    await expectRefusedWithoutTrace(t().pool, 'INSUFFICIENT_FUNDS', post(request([debit('alice', '101'), credit('bob', '101')])));
    await expectRefusedWithoutTrace(t().pool, 'INSUFFICIENT_FUNDS', post(request([debit('bob', '1'), credit('alice', '1')])));
    // bob goes to -5 before being credited: every intermediate balance counts.
    await expectRefusedWithoutTrace(t().pool, 'INSUFFICIENT_FUNDS', post(request([debit('bob', '5'), credit('bob', '5'), debit('world', '1'), credit('alice', '1')])));
  });

  it.each([
    ['not an object', 'x'],
    ['an array', [1]],
    ['a Date', { d: new Date() }],
    ['a BigInt', { n: 1n }],
    ['a function', { f: () => 1 }],
    ['undefined', { u: undefined }],
    ['NaN', { n: Number.NaN }],
    ['Infinity', { n: Number.POSITIVE_INFINITY }],
    ['-0', { n: -0 }],
    ['a lone surrogate', { s: '\uD83D' }],
    ['a NUL', { s: '\u0000' }],
    ['an empty key', { '': 1 }],
    ['a $ key', { $where: 'x' }],
    ['a dotted key', { 'a.b': 1 }],
    ['a __proto__ key', JSON.parse('{"__proto__": {"polluted": true}}') as unknown],
    ['a constructor key', { constructor: 1 }],
    ['33 levels of nesting', deep(33)],
    ['1,000 levels of nesting', deep(1_000)],
    ['more than 256 KiB', { blob: 'x'.repeat(MAX_METADATA_BYTES) }],
    ['a circular reference', (() => { const o: Record<string, unknown> = {}; o.o = o; return o; })()],
  ])('metadata with %s → INVALID_METADATA (on the transaction and on an entry)', async (_label, metadata) => {
    await expectRefusedWithoutTrace(t().pool, 'INVALID_METADATA', post({ ...request([debit('alice', '1'), credit('bob', '1')]), metadata }));
    await expectRefusedWithoutTrace(t().pool, 'INVALID_METADATA', post(request([debit('alice', '1'), { ...credit('bob', '1'), metadata } as PostingEntry])));
  });

  it.each([
    ['an empty account', { account: '' }],
    ['an account with NUL', { account: 'bo\u0000b' }],
    ['a 513-char account', { account: 'b'.repeat(513) }],
    ['a 33-char asset', { asset: 'E'.repeat(33) }],
    ['a bad direction', { direction: 'up' }],
  ])('an entry with %s → INVALID_REQUEST', async (_label, patch) => {
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', post(request([debit('alice', '1'), { ...credit('bob', '1'), ...patch } as PostingEntry])));
  });

  it('a bad idempotency key or description → INVALID_REQUEST', async () => {
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', post(request([debit('alice', '1'), credit('bob', '1')], { idempotencyKey: '' })));
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', post(request([debit('alice', '1'), credit('bob', '1')], { idempotencyKey: 'k'.repeat(256) })));
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', post(request([debit('alice', '1'), credit('bob', '1')], { description: 'd'.repeat(10_001) })));
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', post(null));
  });

  it('createBalance refuses a duplicate with BALANCE_EXISTS and bad names with INVALID_REQUEST', async () => {
    await expectRefusedWithoutTrace(t().pool, 'BALANCE_EXISTS', () => createBalance(t().db, { account: 'alice', asset: 'EUR' }));
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', () => createBalance(t().db, { account: '', asset: 'EUR' }));
    await expectRefusedWithoutTrace(t().pool, 'INVALID_REQUEST', () => createBalance(t().db, { account: 'x', asset: 'A'.repeat(33) }));
  });

  it('the state after all of the above is exactly the seed posting', async () => {
    const { rows } = await t().pool.query(`SELECT account, available::text, version::int FROM balance ORDER BY account`);
    expect(rows).toEqual([
      { account: 'alice', available: '100', version: 1 },
      { account: 'bob', available: '0', version: 0 },
      { account: 'world', available: '-100', version: 1 },
    ]);
  });
});
