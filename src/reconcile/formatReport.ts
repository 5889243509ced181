import { CHECK_NAMES, type ReconcileReport } from './reconcileTypes.ts';

/**
 * The report for a terminal: one line per check (problems, checked, and the
 * extra counts where they apply), then each check's first offending ids.
 * `--json` prints the report object itself.
 */
export function formatReport(report: ReconcileReport): string {
  const lines: string[] = [];
  lines.push(`reconcile ${report.ok ? 'OK' : 'FOUND PROBLEMS'}  (started ${report.startedAt}, ${report.durationMs} ms)`);
  lines.push('');
  const ran = CHECK_NAMES.filter((name) => report.checks[name] !== undefined);
  const width = Math.max(...ran.map((name) => name.length), 5);
  for (const name of ran) {
    const c = report.checks[name]!;
    const extra: string[] = [];
    if (c.skippedInFlight !== undefined && c.skippedInFlight > 0) extra.push(`${c.skippedInFlight} in flight, skipped`);
    if (c.repaired !== undefined) extra.push(`${c.repaired} repair events enqueued`);
    if (c.unrepairable !== undefined && c.unrepairable.length > 0) extra.push(`${c.unrepairable.length} unrepairable`);
    if (c.needsRepairAhead !== undefined && c.needsRepairAhead.length > 0) extra.push(`${c.needsRepairAhead.length} ahead, need --repair-ahead`);
    const mark = c.problems === 0 ? 'ok  ' : 'FAIL';
    lines.push(`${mark}  ${name.padEnd(width)}  ${String(c.problems).padStart(7)} problems  ${String(c.checked).padStart(9)} checked${extra.length ? `  (${extra.join(', ')})` : ''}`);
  }
  for (const name of ran) {
    const c = report.checks[name]!;
    if (c.samples.length === 0 && !(c.unrepairable?.length) && !(c.needsRepairAhead?.length)) continue;
    lines.push('');
    const more = c.problems > c.samples.length ? ` (first ${c.samples.length} of ${c.problems})` : '';
    lines.push(`${name}${more}:`);
    for (const sample of c.samples) lines.push(`  ${sample}`);
    if (c.unrepairable?.length) {
      lines.push(`  unrepairable:`);
      for (const item of c.unrepairable) lines.push(`    ${item}`);
    }
    if (c.needsRepairAhead?.length) {
      lines.push(`  ahead of PostgreSQL, left as they are:`);
      for (const item of c.needsRepairAhead) lines.push(`    ${item}`);
    }
  }
  return lines.join('\n');
}
