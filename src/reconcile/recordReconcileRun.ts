import type pg from 'pg';
import type { SqlDb } from '../db/pool.ts';
import type { ReconcileReport } from './reconcileTypes.ts';

/**
 * Keep the outcome in Postgres so `outbox-relay status` (any host) can show
 * the last run. On a pool, or on a client inside a transaction (the periodic
 * run records itself in the transaction that holds its lock): finished_at is
 * clock_timestamp(), since now() there is when that transaction began.
 */
export async function recordReconcileRun(db: SqlDb | pg.ClientBase, report: ReconcileReport, ranBy: string): Promise<void> {
  const problems = Object.fromEntries(Object.entries(report.checks).map(([name, check]) => [name, check?.problems ?? 0]));
  const client = '$client' in db ? db.$client : db;
  await client.query('INSERT INTO reconcile_run (started_at, finished_at, ok, problems, ran_by) VALUES ($1, clock_timestamp(), $2, $3, $4)', [
    report.startedAt,
    report.ok,
    JSON.stringify(problems),
    ranBy,
  ]);
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
