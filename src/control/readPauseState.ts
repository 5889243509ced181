import type { SqlDb } from '../db/pool.ts';
import { pauseStateOf, type PauseState } from './pauseScope.ts';

/** The pauses in force (every relay reads this on its heartbeat). */
export async function readPauseState(db: SqlDb): Promise<PauseState> {
  const { rows } = await db.$client.query<{ scope: string; reason: string; paused_by: string; paused_at: Date }>({
    name: 'outbox_read_pause_state',
    text: 'SELECT scope, reason, paused_by, paused_at FROM relay_pause ORDER BY scope',
  });
  return pauseStateOf(rows.map((r) => ({ scope: r.scope, reason: r.reason, pausedBy: r.paused_by, pausedAt: r.paused_at })));
}
