import { beforeAll, describe, expect, it } from 'vitest';
import { OutboxRelayError } from '../../../src/errors.ts';
import { createBalance } from '../../../src/ledger/createBalance.ts';
import { postTransaction, type PostingStep } from '../../../src/ledger/postTransaction.ts';
import type { PostingRequest } from '../../../src/types.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';
import { snapshot } from './ledgerFixtures.ts';

const t = useTestDatabases();
const steps: PostingStep[] = ['idempotency_checked', 'balances_locked', 'balances_updated', 'posting_inserted'];

/**
 * What each step has done inside the open transaction, seen from another
 * connection through the table locks the posting's backend holds: so each
 * failure point below is proven to sit after real, uncommitted work (and the
 * steps are proven distinct), not merely after a name.
 */
const locksAt: Record<PostingStep, string[]> = {
  idempotency_checked: [],
  balances_locked: ['balance:RowShareLock'],
  balances_updated: ['balance:RowExclusiveLock', 'balance:RowShareLock'],
  // (the operations' foreign key check takes the RowShareLock on transaction)
  posting_inserted: ['balance:RowExclusiveLock', 'balance:RowShareLock', 'operation:RowExclusiveLock', 'outbox:RowExclusiveLock', 'transaction:RowExclusiveLock', 'transaction:RowShareLock'],
};

async function locksHeldByOthers(): Promise<string[]> {
  const { rows } = await t().pool.query<{ lock: string }>(`
    SELECT DISTINCT c.relname || ':' || l.mode AS lock
    FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.pid <> pg_backend_pid() AND a.datname = current_database() AND c.relname IN ('balance', 'transaction', 'operation', 'outbox')
    ORDER BY 1`);
  return rows.map((r) => r.lock);
}

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
    let locks: string[] | undefined;
    const boom = new Error(`injected after ${failAt}`);
    await expect(
      postTransaction(t().db, request(`fail-${failAt}`), {
        hooks: {
          async afterStep(step) {
            seen.push(step);
            if (step !== failAt) return;
            locks = await locksHeldByOthers();
            throw boom;
          },
        },
      }),
    ).rejects.toBe(boom);
    expect(seen).toEqual(steps.slice(0, steps.indexOf(failAt) + 1));
    expect(locks, `what the transaction had done when it failed after ${failAt}`).toEqual(locksAt[failAt]);
    expect(await snapshot(t().pool)).toEqual(before);
    const trace = await t().pool.query(`SELECT count(*)::int AS n FROM "transaction" WHERE idempotency_key = $1`, [`fail-${failAt}`]);
    expect(trace.rows[0].n).toBe(0);
    // The key was not burnt: the same request posts fine afterwards.
    const retried = await postTransaction(t().db, request(`fail-${failAt}`));
    expect(retried.created).toBe(true);
  });

  it('a COMMIT that fails (a deferred constraint trigger) leaves no trace, after every statement succeeded', async () => {
    // A check PostgreSQL runs only at COMMIT: the last point a posting can fail.
    await t().pool.query(`
      CREATE FUNCTION test_refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW.idempotency_key LIKE 'refused-at-commit%' THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$;
      CREATE CONSTRAINT TRIGGER test_refuse_at_commit AFTER INSERT ON "transaction" DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION test_refuse_at_commit();`);
    try {
      const before = await snapshot(t().pool);
      const seen: PostingStep[] = [];
      const error = await postTransaction(t().db, request('refused-at-commit'), { hooks: { afterStep: (step) => { seen.push(step); } } }).catch((e: unknown) => e);
      expect(seen).toEqual(steps); // every statement ran; only COMMIT failed
      expect(error).toBeInstanceOf(OutboxRelayError);
      expect((error as OutboxRelayError).code).toBe('DATABASE_ERROR');
      expect((error as Error).message).toMatch(/refused at commit/);
      expect(await snapshot(t().pool)).toEqual(before);
    } finally {
      await t().pool.query(`DROP TRIGGER test_refuse_at_commit ON "transaction"; DROP FUNCTION test_refuse_at_commit()`);
    }
  });

  it('an async hook that rejects rolls back too', async () => {
    const before = await snapshot(t().pool);
    await expect(
      postTransaction(t().db, request('async-fail'), {
        hooks: { afterStep: async (step) => { if (step === 'posting_inserted') throw new Error('late'); } },
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
          if (step === 'posting_inserted' && failures < 2) {
            failures++;
            throw Object.assign(new Error('could not serialize access'), { code: '40001', severity: 'ERROR' });
          }
        },
      },
    });
    expect(result.created).toBe(true);
    // Rerun from the start of the transaction (the lookup, outside it, ran once).
    expect(seen).toEqual(['idempotency_checked', ...Array.from({ length: 3 }, () => steps.slice(1)).flat()]);
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
      hooks: { afterStep: (step) => { if (step === 'posting_inserted') { attempts++; throw deadlock; } } },
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
      t().drizzle.transaction(async (tx) => {
        const result = await postTransaction(tx, request('nested'));
        expect(result.created).toBe(true);
        throw rollback;
      }),
    ).rejects.toBe(rollback);
    expect(await snapshot(t().pool)).toEqual(before);
  });
});
