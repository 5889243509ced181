import { reconcile } from './reconcile.ts';
import { toSqlDb } from '../db/toSqlDb.ts';
import { tryInLockedTransaction } from '../db/tryInLockedTransaction.ts';
import { recordReconcileRun } from './recordReconcileRun.ts';
import type { ReconcileDeps, ReconcileOptions, ReconcileReport } from './reconcileTypes.ts';

/**
 * Advisory lock key for periodic reconciliation (one relay at a time). A
 * fixed constant next to the prune lock's, rather than hashtext(), whose
 * output is not promised across versions.
 */
export const RECONCILE_LOCK_KEY = 7_420_151_002n;

/**
 * Run `reconcile` unless another session already is (the relay's
 * `--reconcile-every`: every relay has the timer, one runs it), and record
 * the run in reconcile_run as `ranBy`.
 *
 * The lock is transaction-scoped (pooler-safe, see db/tryInLockedTransaction):
 * one transaction takes it, stays open while the checks run on other pool
 * connections, then records the run and commits, which releases the lock. The
 * run is recorded inside the locked transaction, so two recorded periodic runs
 * never overlap. That transaction only reads until its one INSERT, so it holds
 * no transaction id and no snapshot while the checks run (READ COMMITTED
 * drops the snapshot after each statement): it does not hold back vacuum.
 * A PgBouncer in transaction mode keeps one server connection for it.
 */
export async function runReconcileExclusive(
  deps: ReconcileDeps,
  options: ReconcileOptions & { ranBy: string },
): Promise<{ ran: true; report: ReconcileReport } | { ran: false; reason: 'locked' }> {
  const { ranBy, ...reconcileOptions } = options;
  const db = toSqlDb(deps.db, options.poolMode);
  const outcome = await tryInLockedTransaction(db, RECONCILE_LOCK_KEY, async (tx) => {
    const report = await reconcile({ ...deps, db }, reconcileOptions);
    await recordReconcileRun(tx, report, ranBy);
    return report;
  });
  return outcome.ran ? { ran: true, report: outcome.value } : outcome;
}
