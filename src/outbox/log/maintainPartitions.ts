import type { SqlDb } from '../../db/sqlDb.ts';

/**
 * Retention by partitions: the log is range-partitioned by id, and a
 * partition goes as a whole (DROP: no dead tuples, no vacuum) once every
 * slot's position has passed all its rows and the retention window has
 * passed since it filled. Never with an undelivered row in it: the check runs
 * after the partition's ACCESS EXCLUSIVE lock is held, so no writer is still
 * inserting into it, and it reads each slot's own position (an index probe
 * per slot on (slot, xid): rows not yet visible in the slot's lower snapshot
 * and not behind its open window's last delivered id).
 *
 * The same pass makes the next partitions ahead of the sequence. Rows past
 * every range partition go to the default partition, which is never dropped
 * (writers never fail for want of a partition); a range the default already
 * holds rows of is not made until those are gone.
 *
 * Runs under a transaction-scoped advisory lock (one relay at a time), each
 * drop in its own short transaction with a lock timeout, so a writer waits
 * on it for at most that long.
 */
const MAINTENANCE_LOCK = 7_406_114_223;
const PARTITION_NAME = /^outbox_log_p(\d+)$/;

export interface PartitionReport {
  created: string[];
  dropped: string[];
  /** Partitions past their retention that still hold undelivered rows (a stalled slot). */
  blocked: string[];
}

export async function maintainPartitions(db: SqlDb, options: { lockTimeoutMs?: number; now?: 'db' } = {}): Promise<PartitionReport> {
  const report: PartitionReport = { created: [], dropped: [], blocked: [] };
  const lockTimeoutMs = options.lockTimeoutMs ?? 200;
  const plan = await db.transaction(async (tx) => {
    const { rows: locked } = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS ok', [MAINTENANCE_LOCK]);
    if (!locked[0]?.ok) return undefined;
    const { rows: settings } = await tx.query<{ partition_ids: string; partitions_ahead: number; next_id: string }>(
      `SELECT partition_ids, partitions_ahead,
              (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM outbox_log_id_seq) AS next_id
         FROM outbox_log_settings`,
    );
    const setting = settings[0];
    if (!setting) return undefined;
    const size = Number(setting.partition_ids);
    const current = Math.floor(Number(setting.next_id) / size);
    const existing = await rangePartitions(tx);
    // Mark the partitions the sequence has passed as full (retention counts from then).
    await tx.query(
      `INSERT INTO outbox_log_partition (n, full_at)
       SELECT n, now() FROM unnest($1::bigint[]) AS n WHERE n < $2
       ON CONFLICT (n) DO NOTHING`,
      [existing, current],
    );
    for (let n = current; n <= current + setting.partitions_ahead; n++) {
      if (existing.includes(n)) continue;
      const { rows: inDefault } = await tx.query<{ any: boolean }>('SELECT EXISTS (SELECT 1 FROM outbox_log_default WHERE id >= $1 AND id < $2) AS any', [n * size, (n + 1) * size]);
      if (inDefault[0]?.any) continue;
      await tx.query(`CREATE TABLE outbox_log_p${n} PARTITION OF outbox_log FOR VALUES FROM (${n * size}) TO (${(n + 1) * size})`);
      report.created.push(`outbox_log_p${n}`);
    }
    const { rows: expired } = await tx.query<{ n: string }>(
      `SELECT p.n FROM outbox_log_partition p, outbox_log_settings s
        WHERE p.full_at <= now() - s.retention AND p.n = ANY($1::bigint[]) ORDER BY p.n`,
      [existing],
    );
    return expired.map((r) => Number(r.n));
  });
  for (const n of plan ?? []) {
    const name = `outbox_log_p${n}`;
    const outcome = await dropIfDelivered(db, name, n, lockTimeoutMs);
    if (outcome === 'dropped') report.dropped.push(name);
    else if (outcome === 'undelivered') report.blocked.push(name);
  }
  return report;
}

async function rangePartitions(db: SqlDb): Promise<number[]> {
  const { rows } = await db.query<{ relname: string }>(
    `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'outbox_log'::regclass`,
  );
  return rows.flatMap((r) => {
    const match = PARTITION_NAME.exec(r.relname);
    return match ? [Number(match[1])] : [];
  });
}

/** Is any row of this partition not yet behind its slot's position? One probe per slot. */
export const UNDELIVERED_IN_PARTITION_SQL = (partition: string) => `
SELECT EXISTS (
  SELECT 1
    FROM outbox_slot s
   CROSS JOIN LATERAL (
         SELECT 1 FROM ${partition} o
          WHERE o.slot = s.slot
            AND (s.lower IS NULL OR o.xid >= pg_snapshot_xmin(s.lower))
            AND (s.lower IS NULL OR NOT pg_visible_in_snapshot(o.xid, s.lower))
            AND NOT (s.upper IS NOT NULL AND pg_visible_in_snapshot(o.xid, s.upper) AND o.id <= s.after_id)
          LIMIT 1) x
) AS undelivered`;

async function dropIfDelivered(db: SqlDb, name: string, n: number, lockTimeoutMs: number): Promise<'dropped' | 'undelivered' | 'busy'> {
  try {
    return await db.transaction(async (tx) => {
      await tx.query(`SET LOCAL lock_timeout = '${Math.max(1, Math.floor(lockTimeoutMs))}ms'`);
      // Parent first, as DROP would take it: no writer is inserting into the partition once this is held.
      await tx.query('LOCK TABLE outbox_log IN ACCESS EXCLUSIVE MODE');
      const { rows } = await tx.query<{ undelivered: boolean }>(UNDELIVERED_IN_PARTITION_SQL(name));
      if (rows[0]?.undelivered) return 'undelivered';
      await tx.query(`DROP TABLE ${name}`);
      await tx.query('DELETE FROM outbox_log_partition WHERE n = $1', [n]);
      return 'dropped';
    });
  } catch (error) {
    // lock_not_available: writers are busy; the next pass tries again.
    if ((error as { code?: string }).code === '55P03') return 'busy';
    throw error;
  }
}
