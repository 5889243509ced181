import { describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { MAX_ENTRIES, validatePostingRequest } from '../../../src/ledger/validatePostingRequest.ts';
import type { PostingRequest } from '../../../src/types.ts';

const valid = (): PostingRequest => ({
  idempotencyKey: 'k1',
  description: 'rent',
  metadata: { a: 1, b: 2 },
  entries: [
    { account: 'alice', asset: 'EUR', direction: 'debit', amount: '100' },
    { account: 'bob', asset: 'EUR', direction: 'credit', amount: 100n, metadata: { note: 'x' } },
  ],
});

function refusal(request: unknown): OutboxRelayError {
  try {
    validatePostingRequest(request);
  } catch (error) {
    expect(error).toBeInstanceOf(OutboxRelayError);
    return error as OutboxRelayError;
  }
  throw new Error('expected the request to be refused');
}

describe('validatePostingRequest', () => {
  it('normalises amounts to bigint and absent fields to null', () => {
    const out = validatePostingRequest({ idempotencyKey: 'k', entries: valid().entries });
    expect(out.description).toBeNull();
    expect(out.metadata).toBeNull();
    expect(out.entries.map((e) => e.amount)).toEqual([100n, 100n]);
    expect(out.entries[0]?.metadata).toBeNull();
  });

  it('gives equal requests the same hash whatever the metadata key order or amount type, and different requests different hashes', () => {
    const a = validatePostingRequest(valid());
    const b = validatePostingRequest({ ...valid(), metadata: { b: 2, a: 1 }, entries: valid().entries.map((e) => ({ ...e, amount: BigInt(e.amount) })) });
    expect(b.requestHash).toBe(a.requestHash);
    expect(validatePostingRequest({ ...valid(), description: 'other' }).requestHash).not.toBe(a.requestHash);
    expect(validatePostingRequest({ ...valid(), metadata: { a: 1, b: 3 } }).requestHash).not.toBe(a.requestHash);
  });

  it('refuses fewer than 2 entries and more than MAX_ENTRIES', () => {
    expect(refusal({ ...valid(), entries: [] }).code).toBe('INVALID_REQUEST');
    expect(refusal({ ...valid(), entries: valid().entries.slice(0, 1) }).message).toMatch(/at least 2/);
    const many = Array.from({ length: MAX_ENTRIES + 2 }, (_, i) => ({ account: `a${i}`, asset: 'EUR', direction: i % 2 ? 'credit' : 'debit', amount: '1' }));
    expect(refusal({ ...valid(), entries: many }).message).toMatch(/at most/);
  });

  it('refuses unbalanced entries naming the asset and both sums', () => {
    const error = refusal({
      ...valid(),
      entries: [
        { account: 'a', asset: 'EUR', direction: 'debit', amount: '100' },
        { account: 'b', asset: 'EUR', direction: 'credit', amount: '100' },
        { account: 'a', asset: 'USD', direction: 'debit', amount: '7' },
        { account: 'b', asset: 'USD', direction: 'credit', amount: '5' },
      ],
    });
    expect(error.code).toBe('UNBALANCED_ENTRIES');
    expect(error.message).toContain('"USD"');
    expect(error.message).toContain('7');
    expect(error.message).toContain('5');
  });

  it.each([
    ['missing key', { idempotencyKey: undefined }, 'INVALID_REQUEST'],
    ['empty key', { idempotencyKey: '' }, 'INVALID_REQUEST'],
    ['key of 256 chars', { idempotencyKey: 'k'.repeat(256) }, 'INVALID_REQUEST'],
    ['description of 10,001 chars', { description: 'd'.repeat(10_001) }, 'INVALID_REQUEST'],
    ['description with NUL', { description: 'a\u0000' }, 'INVALID_REQUEST'],
    ['bad metadata', { metadata: { $where: 1 } }, 'INVALID_METADATA'],
    ['unknown field', { metdata: {} }, 'INVALID_REQUEST'],
    ['entries not an array', { entries: 'x' }, 'INVALID_REQUEST'],
  ])('refuses a %s', (_label, patch, code) => {
    expect(refusal({ ...valid(), ...patch }).code).toBe(code);
  });

  it.each([
    ['empty account', { account: '' }, 'INVALID_REQUEST'],
    ['account of 513 chars', { account: 'a'.repeat(513) }, 'INVALID_REQUEST'],
    ['account with NUL', { account: 'a\u0000b' }, 'INVALID_REQUEST'],
    ['asset of 33 chars', { asset: 'A'.repeat(33) }, 'INVALID_REQUEST'],
    ['empty asset', { asset: '' }, 'INVALID_REQUEST'],
    ['bad direction', { direction: 'sideways' }, 'INVALID_REQUEST'],
    ['number amount', { amount: 100 }, 'INVALID_AMOUNT'],
    ['bad entry metadata', { metadata: { 'a.b': 1 } }, 'INVALID_METADATA'],
    ['unknown entry field', { ammount: '1' }, 'INVALID_REQUEST'],
  ])('refuses an entry with %s, naming the entry', (_label, patch, code) => {
    const entries = valid().entries;
    const error = refusal({ ...valid(), entries: [entries[0], { ...entries[1], ...patch }] });
    expect(error.code).toBe(code);
    expect(error.message).toContain('entries[1]');
  });

  it('counts characters, not UTF-16 units: 512 emoji make a valid account', () => {
    const account = '🏦'.repeat(512);
    const out = validatePostingRequest({ ...valid(), entries: [{ ...valid().entries[0]!, account }, { ...valid().entries[1]!, account }] });
    expect(out.entries[0]?.account).toBe(account);
  });
});
