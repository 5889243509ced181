import type { Tracer } from '@opentelemetry/api';
import type { MongoClient } from 'mongodb';
import type { RelayConfig } from '../config.ts';
import { createPool } from '../db/pool.ts';
import { poolDb } from '../db/toSqlDb.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { createRelayMetrics, type RelayMetrics } from '../ops/metrics.ts';
import { tenantDeliveryMetrics } from '../ops/tenantDeliveryMetrics.ts';
import { startOpsServer } from '../ops/opsServer.ts';
import { listTenants } from '../tenants/listTenants.ts';
import { beatReplica, leaveReplicas, planLeases, releaseLeases, type LeasePlan } from '../tenants/tenantLeases.ts';
import type { TenantRecord } from '../tenants/tenantTypes.ts';
import { createFairGate } from './fairGate.ts';
import { createMongoClient } from './openMongo.ts';
import { createTenantLabels } from './tenantLabels.ts';
import type { LagPoint } from '../control/lagHistory.ts';
import { registerTenantMetrics } from './tenantMetrics.ts';
import { createTenantOperator, type TenantOperator } from './tenantOperator.ts';
import { scrub, startTenant, stopTenant, type TenantParts } from './tenantSlot.ts';
import type { Temperature } from './tenantTemperature.ts';

export type TenantState =
  | { status: 'starting' }
  | { status: 'serving'; parts: TenantParts }
  | { status: 'unhealthy'; reason: string; failures: number; retryAt: number };

export interface TenantView {
  id: string;
  status: TenantState['status'];
  healthy: boolean;
  reason?: string;
  /** While serving: hot (LISTEN, warm pool) or cold (polled once per heartbeat, no held connection). */
  temperature?: Temperature;
  /** Present while serving: the tenant's own pool, wake source and relay (tests assert they exist). */
  parts?: TenantParts;
}

export interface MultiTenantRelay {
  readonly id: string;
  readonly metrics: RelayMetrics;
  readonly opsUrl: string | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Read the registry and converge now (tests); normally every heartbeat. */
  sync(): Promise<void>;
  tenants(): TenantView[];
}

interface Slot {
  record: TenantRecord;
  state: TenantState;
  /** The start or stop in progress, so a sync never overlaps them. */
  busy?: Promise<void>;
}

/** Restart delay of a tenant that could not be served: 1 s doubling to 60 s, with jitter. */
function retryDelayMs(failures: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.min(failures - 1, 6)) * (0.75 + Math.random() / 4);
}

/** The registry fields whose change means "reopen the tenant's connections". */
function connectionKey(t: TenantRecord): string {
  return JSON.stringify([t.databaseUrl, t.databaseUrlEnv, t.mongoUrl, t.mongoUrlEnv, t.mongoDb, t.weight, t.listenDatabaseUrl, t.listenDatabaseUrlEnv]);
}

/**
 * `run --multi-tenant`: serves every registered, unpaused tenant of the
 * control database. Process-wide: the control pool, MongoDB clients (one per
 * server URL), metrics, the ops server and the fair gate. Per tenant
 * (tenantSlot.ts): its pool, wake source, drainer, heartbeat and pruning.
 * Every heartbeat it re-reads the registry and converges: new tenants start,
 * removed or paused ones stop (claims released, pool closed), unhealthy ones
 * are retried once their backoff ran out. A tenant that fails never touches
 * another's parts, and nothing falls back to DATABASE_URL or MONGO_DB.
 */
export function createMultiTenantRelay(config: RelayConfig, options: { logger?: Logger; tracer?: Tracer; env?: NodeJS.ProcessEnv } = {}): MultiTenantRelay {
  if (!config.controlDatabaseUrl) throw new Error('multi-tenant relay needs a control database');
  const logger = (options.logger ?? silentLogger).child({ component: 'relay', relayId: config.relayId, mode: 'multi-tenant' });
  const env = options.env ?? process.env;
  const controlPool = createPool(config.controlDatabaseUrl, { max: 2, applicationName: `outbox-relay-control:${config.relayId}`.slice(0, 63) });
  const control = poolDb(controlPool);
  const metrics = createRelayMetrics({ perTenant: true });
  const labels = createTenantLabels(config.tenantMetricsCap);
  registerTenantMetrics(metrics.registry, () => [...slots].map(([id, slot]) => view(id, slot)), labels);
  const gate = createFairGate(Math.max(2, config.concurrency * 2));
  const mongoClients = new Map<string, Promise<MongoClient>>();
  const slots = new Map<string, Slot>();
  let timer: NodeJS.Timeout | undefined;
  let syncing: Promise<void> | undefined;
  let controlHealthy = false;
  let stopped = false;
  let ops: { url: string; close(): Promise<void> } | undefined;
  let operator: TenantOperator | undefined;

  const mongoClient = (url: string): Promise<MongoClient> => {
    let client = mongoClients.get(url);
    if (!client) {
      const created = createMongoClient(url);
      client = created.connect().catch(async (error: unknown) => {
        // Not cached when it failed: the next attempt dials again.
        mongoClients.delete(url);
        await created.close().catch(() => {});
        throw error;
      });
      mongoClients.set(url, client);
    }
    return client;
  };

  // One view per tenant, made once: its label is fixed at its first start (tenantLabels.ts).
  const tenantViews = new Map<string, RelayMetrics>();
  const tenantMetricsOf = (id: string): RelayMetrics => {
    let scoped = tenantViews.get(id);
    if (!scoped) {
      scoped = tenantDeliveryMetrics(metrics, labels.of(id));
      tenantViews.set(id, scoped);
    }
    return scoped;
  };

  const slotDeps = { config, env, logger, mongoClient, ...(options.tracer ? { tracer: options.tracer } : {}) };

  const launch = (slot: Slot) => {
    const failures = slot.state.status === 'unhealthy' ? slot.state.failures : 0;
    slot.state = { status: 'starting' };
    slot.busy = (async () => {
      const outcome = await startTenant({ ...slotDeps, metrics: tenantMetricsOf(slot.record.id), gate: gate.forTenant(slot.record.id, slot.record.weight) }, slot.record);
      if (outcome.ok) {
        if (stopped || slots.get(slot.record.id) !== slot) {
          await stopTenant(outcome.parts);
          return;
        }
        slot.state = { status: 'serving', parts: outcome.parts };
        logger.info({ tenant: slot.record.id, mongoDb: slot.record.mongoDb }, 'tenant serving');
      } else {
        slot.state = { status: 'unhealthy', reason: outcome.reason, failures: failures + 1, retryAt: Date.now() + retryDelayMs(failures + 1) };
        logger.warn({ tenant: slot.record.id, reason: outcome.reason, failures: failures + 1 }, 'tenant unhealthy; will retry');
      }
    })().finally(() => {
      slot.busy = undefined;
    });
  };

  const retire = async (slot: Slot, why: string) => {
    slots.delete(slot.record.id);
    histories.delete(slot.record.id);
    published.delete(slot.record.id);
    await slot.busy;
    if (slot.state.status === 'serving') await stopTenant(slot.state.parts);
    logger.info({ tenant: slot.record.id, why }, 'tenant stopped');
  };

  const view = (id: string, slot: Slot): TenantView => {
    const { state } = slot;
    if (state.status === 'serving') {
      const { relay } = state.parts;
      const healthy = relay.postgresHealthy() && relay.drainer.healthy();
      return { id, status: 'serving', healthy, temperature: state.parts.temperature.current(), parts: state.parts, ...(healthy ? {} : { reason: relay.postgresHealthy() ? 'delivering is failing (backing off)' : 'PostgreSQL heartbeat failing' }) };
    }
    if (state.status === 'unhealthy') return { id, status: 'unhealthy', healthy: false, reason: state.reason };
    return { id, status: 'starting', healthy: false, reason: 'starting' };
  };

  // The console's chart per tenant held here: one point per sample published, an hour at most.
  const histories = new Map<string, LagPoint[]>();
  const historyCapacity = Math.ceil(3_600_000 / Math.max(config.heartbeatMs, 1000)) + 1;
  const published = new Map<string, number>();

  /**
   * Each heartbeat, one UPDATE for every tenant held here: its health and, when
   * newer than the last one written, its lag sample (GET /api/tenants reads
   * these; no request counts a tenant's backlog). A cold tenant's sample is its
   * heartbeat check's; a hot tenant is read once per OUTBOX_RELAY_OPS_LAG_SAMPLE_MS
   * on its warm pool.
   */
  const reportHealth = async () => {
    const views = [...slots].map(([id, slot]) => view(id, slot)).filter((v) => v.status !== 'starting');
    if (views.length === 0) return;
    await Promise.all(
      views.map(async (v) => {
        const last = v.parts?.lag.latest();
        if (v.parts && v.temperature === 'hot' && (!last || Date.now() - last.at >= config.opsLagSampleMs)) await v.parts.lag.read().catch(() => undefined);
      }),
    );
    const samples = views.map((v) => {
      const sample = v.parts?.lag.latest();
      if (!sample || published.get(v.id) === sample.at) return undefined;
      return sample;
    });
    await control.query(
      `UPDATE outbox_tenant t SET health = v.health, health_reason = v.reason, health_at = now(),
              lag_sample = COALESCE(v.sample::jsonb, t.lag_sample),
              lag_sampled_at = CASE WHEN v.sample IS NULL THEN t.lag_sampled_at ELSE to_timestamp(v.at / 1000.0) END,
              lag_sampled_by = CASE WHEN v.sample IS NULL THEN t.lag_sampled_by ELSE $6 END
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[]) AS v(id, health, reason, sample, at)
        WHERE t.id = v.id AND t.owner = $6`,
      [
        views.map((v) => v.id),
        views.map((v) => (v.healthy ? 'healthy' : 'unhealthy')),
        views.map((v) => v.reason ?? null),
        samples.map((x) => (x ? JSON.stringify(x.lag) : null)),
        samples.map((x) => x?.at ?? null),
        config.relayId,
      ],
    );
    views.forEach((v, i) => {
      const sample = samples[i];
      if (!sample) return;
      published.set(v.id, sample.at);
      const ring = histories.get(v.id) ?? [];
      const { lag } = sample;
      ring.push({ t: Math.round(sample.at / 1000), pending: lag.pendingCount, oldestSeconds: lag.oldestPendingSeconds, dead: lag.deadCount, deliveredLastMinute: lag.deliveredLastMinute });
      if (ring.length > historyCapacity) ring.shift();
      histories.set(v.id, ring);
    });
  };

  const syncOnce = async () => {
    let records: TenantRecord[];
    let plan: LeasePlan;
    try {
      const replicasAlive = await beatReplica(control, config.relayId, config.leaseMs);
      plan = await planLeases(control, config.relayId, { leaseMs: config.leaseMs, replicasAlive });
      records = await listTenants(control);
      controlHealthy = true;
    } catch (error) {
      // The registry is unreadable: keep serving what we serve; never stop tenants for it.
      controlHealthy = false;
      logger.warn({ err: scrub(error) }, 'could not read the tenant registry');
      return;
    }
    // Served here: unpaused tenants whose lease this replica holds (leases spread tenants over replicas).
    const held = new Set(plan.held);
    const wanted = new Map(records.filter((r) => !r.paused && held.has(r.id)).map((r) => [r.id, r]));
    const retiring: Promise<void>[] = [];
    for (const [id, slot] of slots) {
      const record = wanted.get(id);
      const why = plan.surplus.includes(id) ? 'handed over to another replica' : !records.some((r) => r.id === id) ? 'removed' : records.find((r) => r.id === id)?.paused ? 'paused' : 'lease held elsewhere';
      if (!record) retiring.push(retire(slot, why));
      else if (connectionKey(record) !== connectionKey(slot.record)) retiring.push(retire(slot, 'registration changed'));
    }
    await Promise.all(retiring);
    // Only once they are stopped: another replica may take them at its next heartbeat.
    await releaseLeases(control, config.relayId, plan.surplus).catch((error: unknown) => logger.warn({ err: scrub(error) }, 'could not release tenant leases'));
    for (const [id, record] of wanted) {
      const slot = slots.get(id);
      if (!slot) {
        const created: Slot = { record, state: { status: 'starting' } };
        slots.set(id, created);
        launch(created);
      } else if (slot.state.status === 'unhealthy' && !slot.busy && Date.now() >= slot.state.retryAt) {
        launch(slot);
      }
    }
    await reportHealth().catch((error: unknown) => logger.warn({ err: scrub(error) }, 'could not record tenant health'));
  };

  const sync = () => {
    syncing ??= syncOnce().finally(() => {
      syncing = undefined;
    });
    return syncing;
  };

  return {
    id: config.relayId,
    metrics,
    get opsUrl() {
      return ops?.url;
    },
    sync,
    tenants: () => [...slots].map(([id, slot]) => view(id, slot)),
    async start() {
      logger.info({ tenantPoolSize: config.tenantPoolSize, gate: Math.max(2, config.concurrency * 2) }, 'relay starting');
      await control.query('SELECT 1 FROM outbox_tenant, outbox_relay_replica LIMIT 0');
      controlHealthy = true;
      await sync();
      // Wait for the first starts, so "relay started" means "every reachable tenant is served".
      await Promise.all([...slots.values()].map((s) => s.busy));
      await reportHealth().catch(() => {});
      timer = setInterval(() => {
        if (!stopped) void sync();
      }, config.heartbeatMs);
      if (config.opsPort !== 'off') {
        ops = await startOpsServer({
          host: config.opsHost,
          port: config.opsPort,
          ...(config.opsToken ? { token: config.opsToken } : {}),
          ...(config.opsTokens ? { tokens: config.opsTokens } : {}),
          rateLimitPerMinute: config.opsRateLimit,
          registry: metrics.registry,
          logger: logger.child({ component: 'ops' }),
          fleet: (operator = createTenantOperator({
            control,
            config,
            env,
            logger: logger.child({ component: 'control' }),
            mongoClient,
            served: (id) => {
              const state = slots.get(id)?.state;
              return state?.status === 'serving' ? state.parts : undefined;
            },
            history: (id) => [...(histories.get(id) ?? [])],
          })),
          // Ready while the registry is readable: one unhealthy tenant must not take the whole relay out of rotation.
          readiness: async () => ({ ready: controlHealthy && !stopped, checks: { control: controlHealthy } }),
        });
        logger.info({ url: ops.url }, 'ops endpoint listening');
      }
      logger.info({ tenants: slots.size }, 'relay started');
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      await syncing;
      await Promise.all([...slots.values()].map((slot) => retire(slot, 'shutdown')));
      // Hand the tenants over now rather than after a lease.
      await leaveReplicas(control, config.relayId).catch((error: unknown) => logger.warn({ err: scrub(error) }, 'could not release tenant leases at shutdown'));
      await ops?.close();
      await operator?.close();
      await Promise.allSettled([controlPool.end(), ...[...mongoClients.values()].map((c) => c.then((m) => m.close()))]);
      logger.info('relay stopped');
    },
  };
}
