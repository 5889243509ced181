import { reconcile } from './reconcile.ts';
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
  const client = await deps.db.$client.connect();
  let broken: Error | undefined;
  try {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS locked', [RECONCILE_LOCK_KEY.toString()]);
    if (!rows[0]?.locked) return { ran: false, reason: 'locked' };
    try {
      return { ran: true, report: await reconcile(deps, options) };
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [RECONCILE_LOCK_KEY.toString()]).catch((error: unknown) => {
        broken = error instanceof Error ? error : new Error(String(error));
      });
    }
  } catch (error) {
    broken ??= error instanceof Error ? error : new Error(String(error));
    throw error;
  } finally {
    client.release(broken);
  }
}
