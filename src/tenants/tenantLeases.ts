import type { SqlDb } from '../db/sqlDb.ts';

/**
 * Spreading tenants over multi-tenant relay replicas. Each replica, every
 * heartbeat: records itself alive, renews the leases it holds, and takes or
 * gives back tenants so it holds its share, ceil(unpaused tenants / replicas
 * alive). A replica that dies stops renewing; after one lease its tenants are
 * free and the others take them at their next heartbeat. A tenant is served
 * only by the lease holder, so one replica at a time (a frozen replica whose
 * lease ran out stops at its next renewal; until then claims' own leases and
 * the version fence keep a double delivery harmless).
 */
export interface LeasePlan {
  /** Tenants this replica holds a fresh lease on. */
  held: string[];
  /** Held beyond our share: stop serving them, then release(). */
  surplus: string[];
}

export async function beatReplica(control: SqlDb, replicaId: string, leaseMs: number): Promise<number> {
  const { rows } = await control.query<{ alive: number }>(
    `WITH beat AS (
       INSERT INTO outbox_relay_replica (id, heartbeat_at) VALUES ($1, now())
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
     )
     SELECT 1 + count(*)::int AS alive FROM outbox_relay_replica
      WHERE id <> $1 AND heartbeat_at > now() - make_interval(secs => $2::double precision / 1000)`,
    [replicaId, leaseMs],
  );
  return rows[0]?.alive ?? 1;
}

export async function leaveReplicas(control: SqlDb, replicaId: string): Promise<void> {
  await control.query('DELETE FROM outbox_relay_replica WHERE id = $1', [replicaId]);
  await control.query('UPDATE outbox_tenant SET owner = NULL, lease_expires_at = NULL WHERE owner = $1', [replicaId]);
}

/** Renew what we hold, give up paused tenants, take free ones up to our share. */
export async function planLeases(control: SqlDb, replicaId: string, options: { leaseMs: number; replicasAlive: number }): Promise<LeasePlan> {
  const lease = `now() + make_interval(secs => $2::double precision / 1000)`;
  // Paused tenants are not ours to hold.
  await control.query('UPDATE outbox_tenant SET owner = NULL, lease_expires_at = NULL WHERE owner = $1 AND paused', [replicaId]);
  const renewed = await control.query<{ id: string }>(`UPDATE outbox_tenant SET lease_expires_at = ${lease} WHERE owner = $1 RETURNING id`, [replicaId, options.leaseMs]);
  const { rows: counted } = await control.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox_tenant WHERE NOT paused');
  const share = Math.ceil((counted[0]?.n ?? 0) / Math.max(1, options.replicasAlive));
  const held = renewed.rows.map((r) => r.id).sort();
  if (held.length > share) return { held: held.slice(0, share), surplus: held.slice(share) };
  if (held.length < share) {
    const taken = await control.query<{ id: string }>(
      `UPDATE outbox_tenant SET owner = $1, lease_expires_at = ${lease}
        WHERE id IN (SELECT id FROM outbox_tenant
                      WHERE NOT paused AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < now())
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
        RETURNING id`,
      [replicaId, options.leaseMs, share - held.length],
    );
    held.push(...taken.rows.map((r) => r.id));
  }
  return { held: held.sort(), surplus: [] };
}

/** Give back tenants we stopped serving. */
export async function releaseLeases(control: SqlDb, replicaId: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await control.query('UPDATE outbox_tenant SET owner = NULL, lease_expires_at = NULL WHERE owner = $1 AND id = ANY($2::text[])', [replicaId, ids]);
}
