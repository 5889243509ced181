import type { SqlDb } from '../db/pool.ts';
import type { ReconcileReport } from './reconcileTypes.ts';

/**
 * Keep the outcome in Postgres so `outbox-relay status` (any host) can show the last run.
 * finished_at is when the checks ended (start + duration), not when this row
 * is written: a periodic run records itself after releasing the reconcile
 * lock, by which time another relay may already be reconciling.
 */
export async function recordReconcileRun(db: SqlDb, report: ReconcileReport, ranBy: string): Promise<void> {
  const problems = Object.fromEntries(Object.entries(report.checks).map(([name, check]) => [name, check?.problems ?? 0]));
  await db.$client.query(
    `INSERT INTO reconcile_run (started_at, finished_at, ok, problems, ran_by) VALUES ($1, $1::timestamptz + $5::float8 * interval '1 millisecond', $2, $3, $4)`,
    [report.startedAt, report.ok, JSON.stringify(problems), ranBy, report.durationMs],
  );
}

export interface LastReconcileRun {
  finishedAt: Date;
  ok: boolean;
  problems: Record<string, number>;
  ranBy: string;
}

export async function readLastReconcileRun(db: SqlDb): Promise<LastReconcileRun | undefined> {
  const { rows } = await db.$client.query<{ finished_at: Date; ok: boolean; problems: Record<string, number>; ran_by: string }>(
    'SELECT finished_at, ok, problems, ran_by FROM reconcile_run ORDER BY finished_at DESC LIMIT 1',
  );
  const row = rows[0];
  return row ? { finishedAt: row.finished_at, ok: row.ok, problems: row.problems, ranBy: row.ran_by } : undefined;
}
