import type { SqlDb } from '../db/pool.ts';
import { pauseStateOf, type PauseState } from './pauseScope.ts';

/** The pauses in force (every relay reads this on its heartbeat). */
export async function readPauseState(db: SqlDb): Promise<PauseState> {
  // Unnamed: a named prepared statement breaks behind a transaction-pooling PgBouncer.
  const { rows } = await db.$client.query<{ scope: string; reason: string; paused_by: string; paused_at: Date }>('SELECT scope, reason, paused_by, paused_at FROM relay_pause ORDER BY scope');
  return pauseStateOf(rows.map((r) => ({ scope: r.scope, reason: r.reason, pausedBy: r.paused_by, pausedAt: r.paused_at })));
}
