import { beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction, type PostingStep } from '../../../src/ledger/postTransaction.ts';
import type { PostingRequest } from '../../../src/types.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { snapshot } from './ledgerFixtures.ts';

const t = useTestDatabases();
const steps: PostingStep[] = ['balances_updated', 'transaction_inserted', 'operations_inserted', 'outbox_inserted', 'before_commit'];

const request = (key: string): PostingRequest => ({
  idempotencyKey: key,
  metadata: { order: key },
  entries: [
    { account: 'source', asset: 'USD', direction: 'debit', amount: '50', metadata: { side: 'out' } },
    { account: 'target', asset: 'USD', direction: 'credit', amount: '50', metadata: { side: 'in' } },
  ],
});

beforeAll(async () => {
  await createBalance(t().db, { account: 'source', asset: 'USD', allowNegative: true });
  await createBalance(t().db, { account: 'target', asset: 'USD' });
  // One committed posting first, so "unchanged" is checked against non-trivial state.
  await postTransaction(t().db, request('seed'));
});

describe('postTransaction atomicity', () => {
  it.each(steps)('a failure after %s leaves no trace of the posting', async (failAt) => {
    const before = await snapshot(t().pool);
    const seen: PostingStep[] = [];
    const boom = new Error(`injected after ${failAt}`);
    await expect(
      postTransaction(t().db, request(`fail-${failAt}`), {
        hooks: {
          afterStep(step) {
            seen.push(step);
            if (step === failAt) throw boom;
          },
        },
      }),
    ).rejects.toBe(boom);
    expect(seen).toEqual(steps.slice(0, steps.indexOf(failAt) + 1));
    expect(await snapshot(t().pool)).toEqual(before);
    const trace = await t().pool.query(`SELECT count(*)::int AS n FROM "transaction" WHERE idempotency_key = $1`, [`fail-${failAt}`]);
    expect(trace.rows[0].n).toBe(0);
    // The key was not burnt: the same request posts fine afterwards.
    const retried = await postTransaction(t().db, request(`fail-${failAt}`));
    expect(retried.created).toBe(true);
  });

  it('an async hook that rejects rolls back too', async () => {
    const before = await snapshot(t().pool);
    await expect(
      postTransaction(t().db, request('async-fail'), {
        hooks: { afterStep: async (step) => { if (step === 'before_commit') throw new Error('late'); } },
      }),
    ).rejects.toThrow('late');
    expect(await snapshot(t().pool)).toEqual(before);
  });

  it('a posting whose hook passes commits all of it (the hook itself changes nothing)', async () => {
    const seen: PostingStep[] = [];
    const result = await postTransaction(t().db, request('hook-ok'), { hooks: { afterStep: (step) => { seen.push(step); } } });
    expect(seen).toEqual(steps);
    const outbox = await t().pool.query('SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = ANY($1)', [[result.transactionId, ...result.operationIds]]);
    expect(outbox.rows[0].n).toBe(3);
  });

  it('a serialization failure reruns the whole transaction from the start, then commits once', async () => {
    const seen: PostingStep[] = [];
    let failures = 0;
    const result = await postTransaction(t().db, request('retried'), {
      hooks: {
        afterStep(step) {
          seen.push(step);
          if (step === 'outbox_inserted' && failures < 2) {
            failures++;
            throw Object.assign(new Error('could not serialize access'), { code: '40001', severity: 'ERROR' });
          }
        },
      },
    });
    expect(result.created).toBe(true);
    expect(seen.filter((s) => s === 'balances_updated')).toHaveLength(3);
    const { rows } = await t().pool.query(`SELECT count(*)::int AS n FROM operation WHERE transaction_id = $1`, [result.transactionId]);
    expect(rows[0].n).toBe(2);
    expect((await t().pool.query(`SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = ANY($1)`, [[result.transactionId, ...result.operationIds]])).rows[0].n).toBe(3);
  });

  it('after maxRetries a retryable failure surfaces as DATABASE_ERROR with its cause, leaving no trace', async () => {
    const before = await snapshot(t().pool);
    let attempts = 0;
    const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01', severity: 'ERROR' });
    const error = await postTransaction(t().db, request('gave-up'), {
      maxRetries: 2,
      hooks: { afterStep: (step) => { if (step === 'before_commit') { attempts++; throw deadlock; } } },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboxRelayError);
    expect((error as OutboxRelayError).code).toBe('DATABASE_ERROR');
    expect((error as OutboxRelayError).cause).toBe(deadlock);
    expect(attempts).toBe(3);
    expect(await snapshot(t().pool)).toEqual(before);
  });

  it("inside a caller's drizzle transaction the posting rolls back with it", async () => {
    const before = await snapshot(t().pool);
    const rollback = new Error('caller rolls back');
    await expect(
      t().db.transaction(async (tx) => {
        const result = await postTransaction(tx, request('nested'));
        expect(result.created).toBe(true);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await snapshot(t().pool)).toEqual(before);
  });
});
