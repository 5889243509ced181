import type { ReconcileReport } from './reconcileTypes.ts';

/** CLI exit status: 0 clean, 1 a check found problems, 2 reconcile could not run (pass the error). */
export function reconcileExitCode(outcome: { report: ReconcileReport } | { error: unknown }): 0 | 1 | 2 {
  if ('error' in outcome) return 2;
  return outcome.report.ok ? 0 : 1;
}
