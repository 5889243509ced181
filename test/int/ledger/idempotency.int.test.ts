import { beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction } from '../../../src/ledger/postTransaction.ts';
import type { PostingRequest, PostingResult } from '../../../src/types.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { expectRefusedWithoutTrace, snapshot } from './ledgerFixtures.ts';

const t = useTestDatabases();

const request = (key: string, amount = '10', metadata: Record<string, string> = { ref: key }): PostingRequest => ({
  idempotencyKey: key,
  description: 'transfer',
  metadata,
  entries: [
    { account: 'bank', asset: 'EUR', direction: 'debit', amount },
    { account: 'client', asset: 'EUR', direction: 'credit', amount, metadata: { leg: 'in' } },
  ],
});

async function postingsWithKey(key: string): Promise<number> {
  const { rows } = await t().pool.query('SELECT count(*)::int AS n FROM "transaction" WHERE idempotency_key = $1', [key]);
  return rows[0].n;
}

beforeAll(async () => {
  await createBalance(t().db, { account: 'bank', asset: 'EUR', allowNegative: true });
  await createBalance(t().db, { account: 'client', asset: 'EUR' });
});

describe('idempotency', () => {
  it('the same request twice returns the same ids with created:false and posts once', async () => {
    const first = await postTransaction(t().db, request('same'));
    const before = await snapshot(t().pool);
    // Same content, other spelling: bigint amount, other key order in metadata.
    const again = await postTransaction(t().db, { ...request('same'), metadata: { ref: 'same' }, entries: request('same').entries.map((e) => ({ ...e, amount: 10n })) });
    expect(first.created).toBe(true);
    expect(again).toEqual({ ...first, created: false });
    expect(await snapshot(t().pool)).toEqual(before);
    expect(await postingsWithKey('same')).toBe(1);
  });

  it('the same key with a different request → IDEMPOTENCY_CONFLICT, nothing written', async () => {
    await postTransaction(t().db, request('conflict'));
    await expectRefusedWithoutTrace(t().pool, 'IDEMPOTENCY_CONFLICT', () => postTransaction(t().db, request('conflict', '11')));
    await expectRefusedWithoutTrace(t().pool, 'IDEMPOTENCY_CONFLICT', () => postTransaction(t().db, request('conflict', '10', { ref: 'other' })));
    await expectRefusedWithoutTrace(t().pool, 'IDEMPOTENCY_CONFLICT', () => postTransaction(t().db, { ...request('conflict'), description: undefined }));
  });

  // The race, made deterministic with the hooks: the second call's lookup
  // runs while the first is uncommitted (finds nothing), then the first
  // commits, then the second goes on to insert. Its steps prove the path: it
  // entered the transaction and updated the balances, its insert failed on the
  // unique key (no 'posting_inserted'), and it still answers created:false.
  it('a second call whose lookup ran before the first committed hits the unique key, rolls back, and answers created:false (unique-violation path)', async () => {
    const balanceBefore = (await t().pool.query(`SELECT available::bigint AS a FROM balance WHERE account = 'client'`)).rows[0].a;
    const secondSteps: string[] = [];
    let secondLookedUp!: () => void;
    const secondLookupDone = new Promise<void>((resolve) => (secondLookedUp = resolve));
    let firstCommitted!: () => void;
    const firstDone = new Promise<void>((resolve) => (firstCommitted = resolve));
    let second: Promise<PostingResult> | undefined;
    const first = await postTransaction(t().db, request('raced'), {
      hooks: {
        async afterStep(step) {
          if (step !== 'posting_inserted') return;
          // Our row is written but not committed: the second call's lookup finds nothing.
          second = postTransaction(t().db, request('raced'), {
            hooks: {
              async afterStep(s) {
                secondSteps.push(s);
                if (s !== 'idempotency_checked') return;
                secondLookedUp();
                await firstDone; // insert only once the first has committed
              },
            },
          });
          await secondLookupDone;
        },
      },
    });
    firstCommitted();
    const secondResult = await second!;
    expect(first.created).toBe(true);
    expect(secondResult).toEqual({ ...first, created: false });
    expect(secondSteps).toEqual(['idempotency_checked', 'balances_locked', 'balances_updated']);
    expect(await postingsWithKey('raced')).toBe(1);
    const balanceAfter = (await t().pool.query(`SELECT available::bigint AS a FROM balance WHERE account = 'client'`)).rows[0].a;
    expect(BigInt(balanceAfter) - BigInt(balanceBefore)).toBe(10n); // the second call's balance update rolled back
  });

  it('the same race with a different request under the key: the loser gets IDEMPOTENCY_CONFLICT from the unique-violation path, nothing of it written', async () => {
    const loserSteps: string[] = [];
    let loserLookedUp!: () => void;
    const lookedUp = new Promise<void>((resolve) => (loserLookedUp = resolve));
    let winnerCommitted!: () => void;
    const committed = new Promise<void>((resolve) => (winnerCommitted = resolve));
    const loser = postTransaction(t().db, request('raced-conflict', '99'), {
      hooks: {
        async afterStep(s) {
          loserSteps.push(s);
          if (s !== 'idempotency_checked') return;
          loserLookedUp();
          await committed;
        },
      },
    }).catch((e: unknown) => e);
    await lookedUp;
    await postTransaction(t().db, request('raced-conflict'));
    winnerCommitted();
    const error = await loser;
    expect(error).toBeInstanceOf(OutboxRelayError);
    expect((error as OutboxRelayError).code).toBe('IDEMPOTENCY_CONFLICT');
    expect(loserSteps).toEqual(['idempotency_checked', 'balances_locked', 'balances_updated']);
    expect(await postingsWithKey('raced-conflict')).toBe(1);
  });

  it('two concurrent posts with the same key make one posting, again and again', async () => {
    const balanceBefore = (await t().pool.query(`SELECT available::bigint AS a FROM balance WHERE account = 'client'`)).rows[0].a;
    for (let i = 0; i < 25; i++) {
      const key = `concurrent-${i}`;
      const results = await Promise.all([postTransaction(t().db, request(key)), postTransaction(t().db, request(key)), postTransaction(t().db, request(key))]);
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.transactionId)).size).toBe(1);
      expect(new Set(results.map((r) => r.operationIds.join()))).toHaveLength(1);
      expect(await postingsWithKey(key)).toBe(1);
    }
    const balanceAfter = (await t().pool.query(`SELECT available::bigint AS a FROM balance WHERE account = 'client'`)).rows[0].a;
    expect(BigInt(balanceAfter) - BigInt(balanceBefore)).toBe(250n);
  });

  it('two concurrent posts with the same key but different requests: one posts, the other gets IDEMPOTENCY_CONFLICT', async () => {
    for (let i = 0; i < 10; i++) {
      const key = `concurrent-conflict-${i}`;
      const outcomes = await Promise.allSettled([postTransaction(t().db, request(key, '1')), postTransaction(t().db, request(key, '2'))]);
      const fulfilled = outcomes.filter((o) => o.status === 'fulfilled');
      const rejected = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(fulfilled).toHaveLength(1);
      expect(rejected).toHaveLength(1);
      expect(rejected[0]?.reason).toBeInstanceOf(OutboxRelayError);
      expect((rejected[0]?.reason as OutboxRelayError).code).toBe('IDEMPOTENCY_CONFLICT');
      expect(await postingsWithKey(key)).toBe(1);
    }
  });
});
