import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';
import type { AuditAction } from './recordAudit.ts';

export interface AuditRecord {
  id: number;
  at: Date;
  actor: string;
  action: AuditAction;
  target: string;
  reason: string | null;
  details: Record<string, unknown> | null;
  /** The tenant the action was on, when the multi-tenant API or CLI recorded it (details.tenant). */
  tenant: string | null;
}

/** The newest audit rows first. */
export async function listAudit(database: DbLike, options: { limit: number }): Promise<AuditRecord[]> {
  const db = toSqlDb(database);
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError(`listAudit: limit must be a positive integer (got ${options.limit})`);
  const { rows } = await db.query<{ id: string; at: Date; actor: string; action: AuditAction; target: string; reason: string | null; details: Record<string, unknown> | null }>(
    'SELECT id, at, actor, action, target, reason, details FROM audit_log ORDER BY at DESC, id DESC LIMIT $1',
    [options.limit],
  );
  return rows.map((r) => ({ ...r, id: Number(r.id), tenant: typeof r.details?.tenant === 'string' ? r.details.tenant : null }));
}
