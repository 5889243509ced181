import { reconcile } from './reconcile.ts';
import { tryWithAdvisoryLock } from '../db/tryWithAdvisoryLock.ts';
import type { ReconcileDeps, ReconcileOptions, ReconcileReport } from './reconcileTypes.ts';

/**
 * Advisory lock key for periodic reconciliation (one relay at a time). A
 * fixed constant next to the prune lock's, rather than hashtext(), whose
 * output is not promised across versions.
 */
export const RECONCILE_LOCK_KEY = 7_420_151_002n;

/**
 * Run `reconcile` unless another session already is (the relay's
 * `--reconcile-every`: every relay has the timer, one runs it). The lock is
 * session-level, so it is taken and released on one checked-out client that
 * stays out of the pool while the checks run on others; if unlocking fails
 * the connection is destroyed, which releases the lock.
 */
export async function runReconcileExclusive(
  deps: ReconcileDeps,
  options: ReconcileOptions = {},
): Promise<{ ran: true; report: ReconcileReport } | { ran: false; reason: 'locked' }> {
  const outcome = await tryWithAdvisoryLock(deps.db.$client, RECONCILE_LOCK_KEY, () => reconcile(deps, options));
  return outcome.ran ? { ran: true, report: outcome.value } : outcome;
}
