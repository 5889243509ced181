import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import { scopeOf } from './pauseScope.ts';
import { recordAudit } from './recordAudit.ts';

/**
 * Lift the fleet pause (no type) or one aggregate type's, with its audit row
 * in the same transaction. Relays drain again as soon as their heartbeat
 * sees it (no NOTIFY: it would wake them before they know). Resuming what is
 * not paused is recorded (someone acted) and reported as `wasPaused: false`.
 */
export async function resumeRelays(database: DbLike, request: { type?: string; reason: string; actor: string; /** Added to the audit row (multi-tenant: the tenant). */ details?: Record<string, unknown> }): Promise<{ scope: string; wasPaused: boolean }> {
  const db = toSqlDb(database);
  const scope = scopeOf(request.type);
  return db.transaction(async (tx) => {
    const { rowCount } = await tx.query('DELETE FROM relay_pause WHERE scope = $1', [scope]);
    const wasPaused = (rowCount ?? 0) > 0;
    await recordAudit(tx, { actor: request.actor, action: 'resume', target: scope, reason: request.reason, details: { ...request.details, wasPaused } });
    return { scope, wasPaused };
  });
}
