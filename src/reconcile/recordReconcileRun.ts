import type { SqlDb } from '../db/sqlDb.ts';
import type { ReconcileReport } from './reconcileTypes.ts';

/**
 * Keep the outcome in Postgres so `outbox-relay status` and the console (any
 * host) can show the last run, its report and, for a run started over HTTP,
 * the id the request was answered with. finished_at is when the checks ended
 * (start + duration), not when this row is written: a run may record itself
 * after releasing the reconcile lock, by which time another relay may already
 * be reconciling, and inside a transaction now() is when it began.
 */
export async function recordReconcileRun(db: SqlDb, report: ReconcileReport, ranBy: string, runId?: string): Promise<void> {
  const problems = Object.fromEntries(Object.entries(report.checks).map(([name, check]) => [name, check?.problems ?? 0]));
  await db.query(
    `INSERT INTO reconcile_run (started_at, finished_at, ok, problems, ran_by, run_id, report)
     VALUES ($1, $1::timestamptz + $7::float8 * interval '1 millisecond', $2, $3, $4, $5, $6)`,
    [report.startedAt, report.ok, JSON.stringify(problems), ranBy, runId ?? null, JSON.stringify(report), report.durationMs],
  );
}

/** A run that could not finish (a database unreachable): recorded as not ok, with why. */
export async function recordFailedReconcileRun(db: SqlDb, run: { startedAt: Date; ranBy: string; runId?: string; error: string }): Promise<void> {
  await db.query(`INSERT INTO reconcile_run (started_at, finished_at, ok, problems, ran_by, run_id, error) VALUES ($1, clock_timestamp(), false, '{}', $2, $3, $4)`, [
    run.startedAt,
    run.ranBy,
    run.runId ?? null,
    run.error.slice(0, 2000),
  ]);
}

export interface LastReconcileRun {
  startedAt: Date;
  finishedAt: Date;
  ok: boolean;
  problems: Record<string, number>;
  ranBy: string;
  runId: string | null;
  report: ReconcileReport | null;
  error: string | null;
}

export async function readLastReconcileRun(db: SqlDb): Promise<LastReconcileRun | undefined> {
  const { rows } = await db.query<{
    started_at: Date;
    finished_at: Date;
    ok: boolean;
    problems: Record<string, number>;
    ran_by: string;
    run_id: string | null;
    report: ReconcileReport | null;
    error: string | null;
  }>('SELECT started_at, finished_at, ok, problems, ran_by, run_id, report, error FROM reconcile_run ORDER BY finished_at DESC, id DESC LIMIT 1');
  const row = rows[0];
  return row
    ? { startedAt: row.started_at, finishedAt: row.finished_at, ok: row.ok, problems: row.problems, ranBy: row.ran_by, runId: row.run_id, report: row.report, error: row.error }
    : undefined;
}
