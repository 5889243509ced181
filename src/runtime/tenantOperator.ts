/**
 * The operator API's view of a multi-tenant fleet, on whichever replica a
 * request reaches. What answers what (docs/multi-tenant-operator.md):
 * - GET /api/tenants and a tenant's lag: the control database, where each
 *   holder writes its tenants' outbox_lag samples every heartbeat (one UPDATE
 *   for all its tenants). A sample older than two sampling intervals (the
 *   holder died, nobody holds the tenant) or one taken before a change made
 *   here is not served: the tenant's own database is read instead.
 * - Everything else (dead events, requeue, pause, resume, audit, reconcile):
 *   the tenant's own database, through a small pool this module opens on the
 *   first request and whose connections close when idle, so an idle replica
 *   holds none. A pause is a row in the tenant's relay_pause: the holder,
 *   wherever it runs, reads it on its next heartbeat.
 * Nothing is guessed from this replica's memory but the chart's history,
 * which only the holder has (its own samples).
 */
import type { MongoClient } from 'mongodb';
import type pg from 'pg';
import type { RelayConfig } from '../config.ts';
import { ApiError } from '../control/apiError.ts';
import type { ControlDeps } from '../control/controlApi.ts';
import type { TenantControl, TenantOverview, FleetControlDeps } from '../control/fleetApi.ts';
import type { LagHistory, LagPoint, LagSample } from '../control/lagHistory.ts';
import { createReconcileRunner, type ReconcileRunner } from '../control/reconcileRunner.ts';
import { createPool } from '../db/pool.ts';
import type { SqlDb } from '../db/sqlDb.ts';
import { poolDb } from '../db/toSqlDb.ts';
import type { Logger } from '../logger.ts';
import { readLag, type OutboxLag } from '../outbox/readLag.ts';
import { resolveTenantUrls } from '../tenants/resolveTenantUrls.ts';
import { rowToTenant, TENANT_COLUMNS } from '../tenants/tenantTypes.ts';
import { scrub, type TenantParts } from './tenantSlot.ts';

export interface TenantOperatorDeps {
  control: SqlDb;
  config: RelayConfig;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  mongoClient(url: string): Promise<MongoClient>;
  /** The tenant's parts while this replica serves it. */
  served(id: string): TenantParts | undefined;
  /** The chart points this replica sampled for a tenant it holds. */
  history(id: string): LagPoint[];
}

export interface TenantOperator extends FleetControlDeps {
  close(): Promise<void>;
}

interface Handle {
  key: string;
  pool: pg.Pool;
  db: SqlDb;
  reconcile: ReconcileRunner;
}

interface OverviewRow {
  id: string;
  paused: boolean;
  owner: string | null;
  lease_live: boolean;
  health: string | null;
  health_reason: string | null;
  lag_sample: OutboxLag | null;
  lag_sampled_at: Date | null;
  lag_sampled_by: string | null;
}

/** The state an operator reads first: registry pause, nobody holding it, unhealthy, paused within, active. */
export function overviewOf(row: OverviewRow): TenantOverview {
  const sample = row.lag_sample;
  const fleetPause = sample?.paused?.find((p) => p.scope === '*');
  const base = {
    id: row.id,
    pausedTypes: (sample?.paused ?? []).filter((p) => p.scope !== '*').map((p) => p.scope),
    pendingCount: sample?.pendingCount ?? null,
    oldestPendingSeconds: sample?.oldestPendingSeconds ?? null,
    deadCount: sample?.deadCount ?? null,
    deliveredLastMinute: sample?.deliveredLastMinute ?? null,
    heldBy: row.lease_live ? row.owner : null,
    sampledAt: row.lag_sampled_at?.toISOString() ?? null,
    sampledBy: row.lag_sampled_by,
  };
  if (row.paused) return { ...base, state: 'paused', reason: 'paused in the registry (`outbox-relay tenant pause`): no replica serves it' };
  if (!row.lease_live) return { ...base, state: 'unassigned', reason: 'no replica holds its lease (just registered, or its holder stopped within the last lease)' };
  if (row.health === 'unhealthy') return { ...base, state: 'unhealthy', reason: row.health_reason ?? 'unhealthy' };
  if (fleetPause) return { ...base, state: 'paused', reason: `paused by ${fleetPause.paused_by}: ${fleetPause.reason}` };
  return { ...base, state: 'active', reason: null };
}

const OVERVIEW_COLUMNS = `id, paused, owner, COALESCE(lease_expires_at > now(), false) AS lease_live, health, health_reason, lag_sample, lag_sampled_at, lag_sampled_by`;

export function createTenantOperator(deps: TenantOperatorDeps): TenantOperator {
  const { config, logger } = deps;
  const handles = new Map<string, Handle>();
  /** Per tenant: changes made through this replica (epoch ms); a sample older than the newest is stale. */
  const changedAt = new Map<string, number>();
  // A sample serves while younger than two of whichever interval takes it (cold: heartbeat; hot: lag sample interval).
  const freshMs = 2 * Math.max(config.heartbeatMs, config.opsLagSampleMs);

  const handleOf = (record: ReturnType<typeof rowToTenant>): Handle => {
    const urls = resolveTenantUrls(record, deps.env, config.mongoUrl);
    if (!urls.ok) throw new ApiError(503, 'TENANT_UNREACHABLE', `tenant ${record.id}: ${urls.reason}`);
    const key = JSON.stringify([urls.databaseUrl, urls.mongoUrl, record.mongoDb]);
    const existing = handles.get(record.id);
    if (existing?.key === key) return existing;
    if (existing) void existing.pool.end().catch(() => {});
    // Two connections at most, closed after 30 s idle: operator requests are rare, and an idle replica holds none.
    const pool = createPool(urls.databaseUrl, { max: 2, applicationName: `outbox-relay-ops:${record.id}`.slice(0, 63), connectionTimeoutMs: 5000 });
    const db = poolDb(pool, config.poolMode);
    const reconcile = createReconcileRunner({
      db,
      mongoDb: async () => (await deps.mongoClient(urls.mongoUrl)).db(record.mongoDb),
      logger: logger.child({ tenant: record.id, component: 'reconcile' }),
      relayId: config.relayId,
      auditDetails: { tenant: record.id },
    });
    const handle = { key, pool, db, reconcile };
    handles.set(record.id, handle);
    return handle;
  };

  const historyOf = (id: string, db: SqlDb, row: OverviewRow): LagHistory => {
    const live = async (): Promise<LagSample> => {
      try {
        return { lag: await readLag(db), at: Date.now() };
      } catch (error) {
        throw new ApiError(503, 'TENANT_UNREACHABLE', `tenant ${id}: its PostgreSQL could not be read (${scrub(error)})`);
      }
    };
    return {
      points: () => deps.history(id),
      async latest() {
        const at = row.lag_sampled_at?.getTime();
        const fresh = row.lag_sample && at !== undefined && Date.now() - at <= freshMs && at > (changedAt.get(id) ?? 0);
        return fresh ? { lag: row.lag_sample as OutboxLag, at: at as number } : live();
      },
      expire: () => changedAt.set(id, Date.now()),
      start() {},
      stop() {},
    };
  };

  return {
    relayId: config.relayId,
    async overview() {
      const { rows } = await deps.control.query<OverviewRow>(`SELECT ${OVERVIEW_COLUMNS} FROM outbox_tenant ORDER BY id`);
      return rows.map(overviewOf);
    },
    async forTenant(id): Promise<TenantControl | undefined> {
      const { rows } = await deps.control.query<Record<string, unknown>>(`SELECT ${TENANT_COLUMNS}, ${OVERVIEW_COLUMNS.replace(/^id, paused, owner, /, '')} FROM outbox_tenant WHERE id = $1`, [id]);
      const row = rows[0];
      if (!row) return undefined;
      const record = rowToTenant(row);
      const handle = handleOf(record);
      const overviewRow = row as unknown as OverviewRow;
      const control: ControlDeps = {
        db: handle.db,
        relayId: config.relayId,
        history: historyOf(id, handle.db, overviewRow),
        reconcile: handle.reconcile,
        auditDetails: { tenant: id },
        // The holder reads relay_pause every heartbeat anyway; when it is this replica, at once.
        onPauseChange: async () => {
          await deps.served(id)?.relay.refreshPause();
        },
        logger,
      };
      return { deps: control, heldBy: overviewRow.lease_live ? record.owner : null };
    },
    async close() {
      await Promise.all([...handles.values()].map(async (h) => {
        await h.reconcile.settled();
        await h.pool.end().catch(() => {});
      }));
      handles.clear();
    },
  };
}
