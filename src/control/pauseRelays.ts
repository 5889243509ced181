import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import { scopeOf } from './pauseScope.ts';
import { recordAudit } from './recordAudit.ts';

/**
 * Pause the fleet (no type) or one aggregate type, durably: a row in
 * relay_pause that every relay reads on its heartbeat, written in one
 * transaction with its audit row. Pausing what is already paused replaces
 * the reason and the actor (the newest word counts) and is audited too.
 */
export async function pauseRelays(database: DbLike, request: { type?: string; reason: string; actor: string; /** Added to the audit row (multi-tenant: the tenant). */ details?: Record<string, unknown> }): Promise<{ scope: string; wasPaused: boolean }> {
  const db = toSqlDb(database);
  const scope = scopeOf(request.type);
  return db.transaction(async (tx) => {
    const { rows } = await tx.query<{ inserted: boolean }>(
      `INSERT INTO relay_pause (scope, reason, paused_by) VALUES ($1, $2, $3)
       ON CONFLICT (scope) DO UPDATE SET reason = EXCLUDED.reason, paused_by = EXCLUDED.paused_by, paused_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [scope, request.reason, request.actor],
    );
    const wasPaused = rows[0]?.inserted === false;
    await recordAudit(tx, { actor: request.actor, action: 'pause', target: scope, reason: request.reason, details: { ...request.details, wasPaused } });
    return { scope, wasPaused };
  });
}
