import type { SqlDb } from '../db/sqlDb.ts';

/**
 * outbox_relay rows feed `outbox_lag.relays_alive` and `relays`: a relay
 * counts as alive while not stopped and its heartbeat is under 30 s old (the
 * view decides; the heartbeat interval must stay well below that).
 */

/**
 * Insert or revive this relay's row. A restart under the same id keeps the
 * lifetime delivered_count and last_delivered_at.
 */
export async function registerRelay(db: SqlDb, relay: { id: string; host: string; pid: number }): Promise<void> {
  await db.query(
    `INSERT INTO outbox_relay (id, host, pid, started_at, heartbeat_at, stopped_at)
     VALUES ($1, $2, $3, now(), now(), NULL)
     ON CONFLICT (id) DO UPDATE
       SET host = EXCLUDED.host, pid = EXCLUDED.pid, started_at = now(), heartbeat_at = now(), stopped_at = NULL`,
    [relay.id, relay.host, relay.pid],
  );
}

/** I am alive, and delivered `deliveredDelta` more events since the last beat. */
export async function heartbeatRelay(db: SqlDb, beat: { id: string; deliveredDelta: number; lastDeliveredAt?: Date }): Promise<void> {
  await db.query(
    `UPDATE outbox_relay
        SET heartbeat_at = now(),
            delivered_count = delivered_count + $2::bigint,
            last_delivered_at = GREATEST(last_delivered_at, $3::timestamptz)
      WHERE id = $1`,
    [beat.id, Math.max(0, Math.trunc(beat.deliveredDelta)), beat.lastDeliveredAt ?? null],
  );
}

/** Clean stop: drop out of relays_alive at once instead of after 30 s. */
export async function markRelayStopped(db: SqlDb, relay: { id: string }): Promise<void> {
  await db.query(`UPDATE outbox_relay SET stopped_at = now(), heartbeat_at = now() WHERE id = $1`, [relay.id]);
}
