import { describe, expect, it } from 'vitest';
import { RECONCILE_LOCK_KEY, runReconcileExclusive } from '../../../src/reconcile/runReconcileExclusive.ts';
import { useTestDatabases } from '../../helpers/testDatabases.ts';

const t = useTestDatabases();

describe('runReconcileExclusive', () => {
  it('runs when nobody holds the reconcile lock, answers locked while another session does, and releases the lock afterwards', async () => {
    const deps = { db: t().db, mongoDb: t().mongoDb };
    const first = await runReconcileExclusive(deps, { ranBy: 'test' });
    expect(first).toMatchObject({ ran: true, report: { ok: true } });

    const other = await t().pool.connect();
    try {
      expect((await other.query('SELECT pg_try_advisory_lock($1::bigint) AS ok', [RECONCILE_LOCK_KEY.toString()])).rows[0].ok).toBe(true);
      expect(await runReconcileExclusive(deps, { ranBy: 'test' })).toEqual({ ran: false, reason: 'locked' });
      await other.query('SELECT pg_advisory_unlock($1::bigint)', [RECONCILE_LOCK_KEY.toString()]);
    } finally {
      other.release();
    }
    expect((await runReconcileExclusive(deps, { ranBy: 'test' })).ran).toBe(true);
    // Each run that ran recorded itself.
    expect((await t().pool.query(`SELECT count(*)::int AS n FROM reconcile_run WHERE ran_by = 'test'`)).rows[0].n).toBe(2);
    // Nothing left holding it.
    const { rows } = await t().pool.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`);
    expect(rows[0].n).toBe(0);
  });
});
