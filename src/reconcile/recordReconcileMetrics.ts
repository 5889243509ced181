import type { RelayMetrics } from '../ops/metrics.ts';
import { CHECK_NAMES, type ReconcileReport } from './reconcileTypes.ts';

/**
 * Publish a reconcile report on the relay's gauges: when it ran, whether it
 * was clean, and problems per check (a check that did not run is left as it
 * was, so a partial run does not hide an earlier finding).
 */
export function recordReconcileMetrics(metrics: Pick<RelayMetrics, 'reconcileLastRun' | 'reconcileProblems' | 'reconcileLastOk'>, report: ReconcileReport): void {
  metrics.reconcileLastRun.set(Date.parse(report.startedAt) / 1000 + report.durationMs / 1000);
  metrics.reconcileLastOk.set(report.ok ? 1 : 0);
  for (const check of CHECK_NAMES) {
    const result = report.checks[check];
    if (result) metrics.reconcileProblems.set({ check }, result.problems);
  }
}
