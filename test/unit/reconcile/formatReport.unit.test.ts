import { describe, expect, it } from 'vitest';
import { formatReport } from '../../../src/reconcile/formatReport.ts';
import { reconcileExitCode } from '../../../src/reconcile/reconcileExitCode.ts';
import type { ReconcileReport } from '../../../src/reconcile/reconcileTypes.ts';

const clean = (problems = 0) => ({ problems, samples: [] as string[], checked: 10 });

const report: ReconcileReport = {
  ok: false,
  startedAt: '2025-01-01T00:00:00.000Z',
  durationMs: 1234,
  checks: {
    'metadata-sync': { problems: 3, samples: ['transaction/a: missing (expected v1)', 'operation/b: stale (v1, expected v2)'], checked: 100, skippedInFlight: 4, repaired: 2, unrepairable: ['operation/c: mismatched; no retained payload at v1'] },
    'orphan-documents': clean(),
    'orphan-transactions': clean(),
    'double-entry': clean(),
    balances: { problems: 1, samples: ['asset/EUR: sum of balances 7 ≠ 0'], checked: 3 },
    'outbox-health': clean(),
  },
};

describe('formatReport', () => {
  it('shows counts per check first, then the first offending ids with how many were left out', () => {
    const text = formatReport(report);
    const lines = text.split('\n');
    expect(lines[0]).toBe('reconcile FOUND PROBLEMS  (started 2025-01-01T00:00:00.000Z, 1234 ms)');
    expect(lines[2]).toMatch(/^FAIL {2}metadata-sync +3 problems +100 checked {2}\(4 in flight, skipped, 2 repair events enqueued, 1 unrepairable\)$/);
    expect(lines[3]).toMatch(/^ok {4}orphan-documents +0 problems/);
    expect(text.indexOf('balances  ')).toBeLessThan(text.indexOf('metadata-sync (first 2 of 3):'));
    expect(text).toContain('metadata-sync (first 2 of 3):\n  transaction/a: missing (expected v1)\n  operation/b: stale (v1, expected v2)\n  unrepairable:\n    operation/c: mismatched; no retained payload at v1');
    expect(text).toContain('balances:\n  asset/EUR: sum of balances 7 ≠ 0');
    expect(text).not.toContain('orphan-documents:');
  });

  it('a clean report says OK and lists no samples', () => {
    const text = formatReport({ ...report, ok: true, checks: { 'double-entry': clean() } });
    expect(text.split('\n')).toEqual(['reconcile OK  (started 2025-01-01T00:00:00.000Z, 1234 ms)', '', 'ok    double-entry        0 problems         10 checked']);
  });
});

describe('reconcileExitCode', () => {
  it('0 clean, 1 problems, 2 could not run', () => {
    expect(reconcileExitCode({ report: { ...report, ok: true } })).toBe(0);
    expect(reconcileExitCode({ report })).toBe(1);
    expect(reconcileExitCode({ error: new Error('connection refused') })).toBe(2);
  });
});
