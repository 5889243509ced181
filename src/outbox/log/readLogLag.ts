import { toSqlDb, type DbLike } from '../../db/toSqlDb.ts';

/** One slot's lag: what is committed and not yet behind its position. */
export interface SlotLag {
  slot: number;
  owner: string | null;
  leaseLive: boolean;
  pending: number;
  oldestPendingSeconds: number | null;
  /** Seconds since the slot's position last moved. */
  stalledSeconds: number;
  delivered: number;
}

export interface LogLag {
  pending: number;
  oldestPendingSeconds: number | null;
  parkedEntities: number;
  setAsideEvents: number;
  slots: SlotLag[];
}

/**
 * Lag computed from the windows: a row is pending while it is committed and
 * not behind its slot's position (not visible in the lower snapshot, and not
 * at or before the open window's last delivered id). One index probe per slot
 * on (slot, xid) from the lower snapshot's xmin, so the cost follows what is
 * pending, not what the log retains.
 */
export const READ_LOG_LAG_SQL = `
SELECT s.slot, s.owner, coalesce(s.lease_until > now(), false) AS lease_live, s.delivered,
       extract(epoch FROM now() - s.advanced_at)::float8 AS stalled_seconds,
       p.pending, extract(epoch FROM now() - p.oldest)::float8 AS oldest_pending_seconds
  FROM outbox_slot s
 CROSS JOIN LATERAL (
       SELECT count(*) AS pending, min(o.created_at) AS oldest
         FROM outbox_log o
        WHERE o.slot = s.slot
          AND (s.lower IS NULL OR o.xid >= pg_snapshot_xmin(s.lower))
          AND (s.lower IS NULL OR NOT pg_visible_in_snapshot(o.xid, s.lower))
          AND NOT (s.upper IS NOT NULL AND pg_visible_in_snapshot(o.xid, s.upper) AND o.id <= s.after_id)) p
 ORDER BY s.slot`;

export async function readLogLag(db: DbLike): Promise<LogLag> {
  const sqlDb = toSqlDb(db);
  const { rows } = await sqlDb.query<{
    slot: number;
    owner: string | null;
    lease_live: boolean;
    delivered: string;
    stalled_seconds: number;
    pending: string;
    oldest_pending_seconds: number | null;
  }>(READ_LOG_LAG_SQL);
  const { rows: parked } = await sqlDb.query<{ entities: string; events: string }>(
    'SELECT (SELECT count(*) FROM outbox_parked) AS entities, (SELECT count(*) FROM outbox_set_aside) AS events',
  );
  const slots = rows.map((r) => ({
    slot: r.slot,
    owner: r.owner,
    leaseLive: r.lease_live,
    pending: Number(r.pending),
    oldestPendingSeconds: r.oldest_pending_seconds,
    stalledSeconds: r.stalled_seconds,
    delivered: Number(r.delivered),
  }));
  const ages = slots.flatMap((s) => (s.oldestPendingSeconds === null ? [] : [s.oldestPendingSeconds]));
  return {
    pending: slots.reduce((sum, s) => sum + s.pending, 0),
    oldestPendingSeconds: ages.length > 0 ? Math.max(...ages) : null,
    parkedEntities: Number(parked[0]?.entities ?? 0),
    setAsideEvents: Number(parked[0]?.events ?? 0),
    slots,
  };
}
