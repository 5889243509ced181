import type { Tracer } from '@opentelemetry/api';
import type { MongoClient } from 'mongodb';
import { Gauge } from 'prom-client';
import type pg from 'pg';
import type { RelayConfig } from '../config.ts';
import { createPool } from '../db/pool.ts';
import { poolDb } from '../db/toSqlDb.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import { createDatabaseRelay, KNOWN_AGGREGATE_TYPES, type DatabaseRelay } from '../relay/databaseRelay.ts';
import { createPgListenWake } from '../relay/pgListenWake.ts';
import type { WakeSource } from '../relay/wakeSource.ts';
import { createMongoSink } from '../sink/mongoSink.ts';
import { resolveTenantUrls } from '../tenants/resolveTenantUrls.ts';
import type { TenantRecord } from '../tenants/tenantTypes.ts';
import { tenantLag, type TenantLag } from './tenantLag.ts';
import { keepTemperature, noticingWork, type TenantTemperature } from './tenantTemperature.ts';

/** One served tenant's own parts: nothing in here is shared with another tenant but the MongoDB client of an identical URL. */
export interface TenantParts {
  pool: pg.Pool;
  wake: WakeSource | undefined;
  relay: DatabaseRelay;
  /** Hot (LISTEN, warm pool) or cold (no held connection, polled per heartbeat): tenantTemperature.ts. */
  temperature: TenantTemperature;
  /** Its pending count for /metrics: live while hot, sampled by its heartbeat check while cold. */
  lag: TenantLag;
  mongoDb: string;
}

export type TenantStart = { ok: true; parts: TenantParts } | { ok: false; reason: string };

export interface TenantSlotDeps {
  config: RelayConfig;
  env: NodeJS.ProcessEnv;
  metrics: RelayMetrics;
  logger: Logger;
  gate: { acquire(): Promise<() => void> };
  /** Trace each tenant's batches (spans carry the tenant's MongoDB database). */
  tracer?: Tracer;
  /** The process-wide MongoDB client for a URL, connected. */
  mongoClient(url: string): Promise<MongoClient>;
}

/** Driver messages can quote the connection string; a reason is stored and printed, so strip URLs. */
export function scrub(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/(postgres(ql)?|mongodb(\+srv)?):\/\/\S+/g, '<url>').slice(0, 300);
}

/**
 * Open one tenant's parts and start serving it, or say why not (the caller
 * marks it unhealthy and retries with backoff). On failure everything opened
 * here is closed again: a tenant that cannot be served holds no connection.
 */
export async function startTenant(deps: TenantSlotDeps, tenant: TenantRecord): Promise<TenantStart> {
  const urls = resolveTenantUrls(tenant, deps.env, deps.config.mongoUrl);
  if (!urls.ok) return { ok: false, reason: urls.reason };
  const { config } = deps;
  const logger = deps.logger.child({ tenant: tenant.id });
  const pool = createPool(urls.databaseUrl, { max: config.tenantPoolSize, applicationName: `outbox-relay:${tenant.id}:${config.relayId}`.slice(0, 63) });
  const db = poolDb(pool, config.poolMode);
  try {
    let schemaReady: boolean;
    try {
      const { rows } = await pool.query<{ ready: boolean }>(`SELECT to_regclass('outbox') IS NOT NULL AND to_regclass('outbox_relay') IS NOT NULL AS ready`);
      schemaReady = rows[0]?.ready === true;
    } catch (error) {
      return await failed(pool, `PostgreSQL unreachable: ${scrub(error)}`);
    }
    if (!schemaReady) return await failed(pool, 'schema missing: run `outbox-relay migrate --all-tenants`');
    let mongo: MongoClient;
    try {
      mongo = await deps.mongoClient(urls.mongoUrl);
    } catch (error) {
      return await failed(pool, `MongoDB unreachable: ${scrub(error)}`);
    }
    const mongoSink = createMongoSink(mongo.db(tenant.mongoDb), { retries: config.sinkRetries, logger: logger.child({ component: 'sink' }) });
    try {
      await mongoSink.prepare(KNOWN_AGGREGATE_TYPES);
    } catch (error) {
      return await failed(pool, `MongoDB unreachable: ${scrub(error)}`);
    }
    const wake = config.listen
      ? createPgListenWake({
          // LISTEN needs a session: a direct URL when the database URL goes through a transaction pooler.
          connectionString: urls.listenDatabaseUrl,
          db,
          relayId: config.relayId,
          checkIntervalMs: config.heartbeatMs,
          logger: logger.child({ component: 'listener' }),
          onReconnect: () => deps.metrics.listenerReconnects.inc(),
        })
      : undefined;
    // A claimed batch reaching the sink is what makes a tenant hot.
    let temperature: TenantTemperature | undefined;
    const lag = tenantLag(db, () => temperature?.current() === 'hot', logger);
    const sink = noticingWork(mongoSink, () => temperature?.noteWork());
    const relay = createDatabaseRelay(
      {
        db,
        sink,
        // The paused gauge is unlabelled and process-wide: one tenant's pause must
        // not reset another's, so a tenant records it nowhere (its pauses show in
        // GET /api/tenants and its own outbox_lag instead).
        metrics: { ...deps.metrics, paused: new Gauge({ name: 'outbox_relay_tenant_paused_view', help: 'not exported', labelNames: ['scope'], registers: [] }) },
        logger,
        gate: deps.gate,
        // Pauses live in the tenant's own relay_pause: whichever replica holds the tenant honours them within one heartbeat.
        honourPause: true,
        spreadTimers: true,
        idleCheck: (checkDb) => lag.sample(checkDb),
        reconcileMongoDb: mongo.db(tenant.mongoDb),
        ...(wake ? { wake } : {}),
        ...(deps.tracer ? { tracing: { tracer: deps.tracer, mode: config.traceMode, mongoDb: tenant.mongoDb } } : {}),
      },
      { ...config, expectNotifications: config.listen },
    );
    temperature = keepTemperature({ relay, pool }, { heartbeatMs: config.heartbeatMs, hotHeartbeats: config.tenantHotHeartbeats, poolSize: config.tenantPoolSize }, logger);
    // On the schema check's connection, before the relay's own statements: a
    // scrape before the first check has a figure, and no second connection opens for it.
    await lag.sample(db);
    try {
      await relay.start();
    } catch (error) {
      temperature.stop();
      await relay.stop().catch(() => {});
      return await failed(pool, `could not start: ${scrub(error)}`);
    }
    return { ok: true, parts: { pool, wake, relay, temperature, lag, mongoDb: tenant.mongoDb } };
  } catch (error) {
    return await failed(pool, scrub(error));
  }
}

async function failed(pool: pg.Pool, reason: string): Promise<TenantStart> {
  await pool.end().catch(() => {});
  return { ok: false, reason };
}

/** Stop serving: release claims, stop the listener, close the tenant's pool. */
export async function stopTenant(parts: TenantParts): Promise<void> {
  parts.temperature.stop();
  await parts.relay.stop().catch(() => {});
  await parts.pool.end().catch(() => {});
}
