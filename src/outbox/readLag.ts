import { toSqlDb, type DbLike } from '../db/toSqlDb.ts';

/** A live relay as `outbox_lag.relays` lists it (the view's JSON keys). */
export interface RelayLiveness {
  id: string;
  host: string;
  pid: number;
  /** ISO timestamp (JSON has no dates). */
  heartbeat_at: string;
  last_delivered_at: string | null;
  delivered_count: number;
}

/** An operator pause as `outbox_lag.paused` lists it (scope '*' is the whole fleet). */
export interface PauseListing {
  scope: string;
  reason: string;
  paused_by: string;
  paused_at: string;
}

/** One row of `SELECT * FROM outbox_lag`, counts as numbers. */
export interface OutboxLag {
  pendingCount: number;
  /** Age of the oldest pending event; null when nothing is pending. */
  oldestPendingSeconds: number | null;
  /** Pending rows under a live lease. */
  inFlightCount: number;
  deadCount: number;
  deliveredLastMinute: number;
  /** Relays not stopped with a heartbeat under 30 s old. */
  relaysAlive: number;
  lastDeliveredAt: Date | null;
  relays: RelayLiveness[];
  /** Operator pauses in force (relay_pause). */
  paused: PauseListing[];
}

interface LagRow {
  pending_count: string;
  oldest_pending_seconds: number | null;
  in_flight_count: string;
  dead_count: string;
  delivered_last_minute: string;
  relays_alive: number;
  last_delivered_at: Date | null;
  relays: RelayLiveness[];
  paused: PauseListing[] | undefined;
}

/** Lag at a glance (the view is defined in drizzle/0001_outbox_lag_and_notify.sql). */
export async function readLag(database: DbLike): Promise<OutboxLag> {
  const db = toSqlDb(database);
  const { rows } = await db.query<LagRow>('SELECT * FROM outbox_lag');
  const row = rows[0];
  if (!row) throw new Error('outbox_lag returned no row');
  return {
    pendingCount: Number(row.pending_count),
    oldestPendingSeconds: row.oldest_pending_seconds === null ? null : Number(row.oldest_pending_seconds),
    inFlightCount: Number(row.in_flight_count),
    deadCount: Number(row.dead_count),
    deliveredLastMinute: Number(row.delivered_last_minute),
    relaysAlive: Number(row.relays_alive),
    lastDeliveredAt: row.last_delivered_at,
    relays: (row.relays ?? []).map((r) => ({ ...r, pid: Number(r.pid), delivered_count: Number(r.delivered_count) })),
    paused: row.paused ?? [],
  };
}
