import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import { pauseStateOf, type PauseState } from './pauseScope.ts';

/** The pauses in force (every relay reads this on its heartbeat). */
export async function readPauseState(database: DbLike): Promise<PauseState> {
  const db = toSqlDb(database);
  // Unnamed: a named prepared statement breaks behind a transaction-pooling PgBouncer.
  const { rows } = await db.query<{ scope: string; reason: string; paused_by: string; paused_at: Date }>('SELECT scope, reason, paused_by, paused_at FROM relay_pause ORDER BY scope');
  return pauseStateOf(rows.map((r) => ({ scope: r.scope, reason: r.reason, pausedBy: r.paused_by, pausedAt: r.paused_at })));
}
