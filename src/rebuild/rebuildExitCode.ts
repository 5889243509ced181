import type { RebuildReport } from './rebuildTypes.ts';

/**
 * CLI exit status, as reconcile's: 0 every entity in scope was re-projected,
 * 1 it ran to the end but some could not be (a write failed and was left to
 * the relays' retries, or PostgreSQL holds no content for it), 2 it could not
 * run or was stopped (run it again: it resumes from the watermark).
 */
export function rebuildExitCode(outcome: { report: RebuildReport } | { error: unknown }): 0 | 1 | 2 {
  if ('error' in outcome) return 2;
  if (outcome.report.status === 'stopped') return 2;
  return outcome.report.failed > 0 || outcome.report.notRebuildable > 0 ? 1 : 0;
}
