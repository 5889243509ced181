import type { SqlDb } from '../db/pool.ts';
import { withPgTransaction } from '../db/withPgTransaction.ts';
import { scopeOf } from './pauseScope.ts';
import { recordAudit } from './recordAudit.ts';

/**
 * Pause the fleet (no type) or one aggregate type, durably: a row in
 * relay_pause that every relay reads on its heartbeat, written in one
 * transaction with its audit row. Pausing what is already paused replaces
 * the reason and the actor (the newest word counts) and is audited too.
 */
export async function pauseRelays(db: SqlDb, request: { type?: string; reason: string; actor: string }): Promise<{ scope: string; wasPaused: boolean }> {
  const scope = scopeOf(request.type);
  return withPgTransaction(db.$client, async (client) => {
    const { rows } = await client.query<{ inserted: boolean }>(
      `INSERT INTO relay_pause (scope, reason, paused_by) VALUES ($1, $2, $3)
       ON CONFLICT (scope) DO UPDATE SET reason = EXCLUDED.reason, paused_by = EXCLUDED.paused_by, paused_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [scope, request.reason, request.actor],
    );
    const wasPaused = rows[0]?.inserted === false;
    await recordAudit(client, { actor: request.actor, action: 'pause', target: scope, reason: request.reason, details: { wasPaused } });
    return { scope, wasPaused };
  });
}
