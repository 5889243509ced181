import type { SqlDb } from '../db/sqlDb.ts';

/** The operator actions the audit log records (the table's CHECK lists the same). */
export const AUDIT_ACTIONS = ['requeue', 'pause', 'resume', 'reconcile', 'repair'] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export interface AuditEntry {
  /** The ops token's name, or `cli:<user>`. */
  actor: string;
  action: AuditAction;
  target: string;
  reason: string | null;
  details?: Record<string, unknown>;
}

/**
 * One audit row, on the caller's handle: callers pass the transaction that
 * performs the action, so the action and its record commit
 * or roll back together (nothing is done unrecorded, nothing recorded undone).
 */
export async function recordAudit(db: SqlDb, entry: AuditEntry): Promise<void> {
  await db.query('INSERT INTO audit_log (actor, action, target, reason, details) VALUES ($1, $2, $3, $4, $5)', [
    entry.actor,
    entry.action,
    entry.target,
    entry.reason,
    entry.details === undefined ? null : JSON.stringify(entry.details),
  ]);
}
