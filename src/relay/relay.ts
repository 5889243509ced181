import { hostname } from 'node:os';
import type { Tracer } from '@opentelemetry/api';
import { MongoClient } from 'mongodb';
import { resolveConfig, type ConfigOverrides, type RelayConfig } from '../config.ts';
import { createPool, type SqlDb } from '../db/pool.ts';
import { DatabaseError, pgErrorCode } from '../errors.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { createLagHistory } from '../control/lagHistory.ts';
import type { PauseState } from '../control/pauseScope.ts';
import { readPauseState } from '../control/readPauseState.ts';
import { createReconcileRunner } from '../control/reconcileRunner.ts';
import { createRelayMetrics, type RelayMetrics } from '../ops/metrics.ts';
import { startOpsServer } from '../ops/opsServer.ts';
import { pruneDelivered } from '../outbox/pruneDelivered.ts';
import { readLag } from '../outbox/readLag.ts';
import { heartbeatRelay, markRelayStopped, registerRelay } from '../outbox/relayRegistry.ts';
import { releaseClaims } from '../outbox/releaseClaims.ts';
import { createMongoSink } from '../sink/mongoSink.ts';
import { Drainer } from './drainer.ts';
import { createPgListenWake } from './pgListenWake.ts';
import type { WakeReason, WakeSource } from './wakeSource.ts';

/** How long stop() waits for the PostgreSQL pool and the MongoDB client to close. */
const CLOSE_GRACE_MS = 2000;

/** Entity types the ledger writes; their collections and indexes are prepared at start. */
export const KNOWN_AGGREGATE_TYPES = ['transaction', 'operation'] as const;

export interface Relay {
  readonly id: string;
  readonly config: RelayConfig;
  readonly metrics: RelayMetrics;
  /** The ops endpoint's URL once started (undefined when disabled). */
  readonly opsUrl: string | undefined;
  start(): Promise<void>;
  /** Stop claiming, finish or release what is held, close connections. Idempotent. */
  stop(): Promise<void>;
  /** Drain now (tests, demo). */
  wake(): void;
  /** The operator pauses this relay honours (as its last heartbeat read them). */
  paused(): PauseState;
}

export interface CreateRelayOptions {
  logger?: Logger;
  /** Replace the wake-up source (tests); default: pg-listen when config.listen. */
  wakeSource?: WakeSource;
  /**
   * Trace batches and events with this tracer (from @opentelemetry/api; the
   * CLI passes the one loadTracing built from OTEL_*). Without it the relay
   * makes no spans and runs no span code.
   */
  tracer?: Tracer;
}

/**
 * The sidecar, as a library: `const relay = createRelay({ databaseUrl, mongoUrl }); await relay.start();`.
 * `config` is either a resolved RelayConfig or overrides applied over the environment.
 */
export function createRelay(config: RelayConfig | ConfigOverrides, options: CreateRelayOptions = {}): Relay {
  const resolved: RelayConfig = 'relayId' in config && typeof config.relayId === 'string' && 'listenDatabaseUrl' in config ? (config as RelayConfig) : resolveConfig(process.env, config as ConfigOverrides);
  const logger = (options.logger ?? silentLogger).child({ component: 'relay', relayId: resolved.relayId });
  const abort = new AbortController();
  const pool = createPool(resolved.databaseUrl, { max: resolved.poolSize, applicationName: `outbox-relay:${resolved.relayId}`.slice(0, 63) });
  // Plain SQL over the pool: the relay never loads drizzle-orm (see db/pool.ts).
  const db: SqlDb = { $client: pool, poolMode: resolved.poolMode };
  const metrics = createRelayMetrics({ sampleLag: () => readLag(db) });
  const mongo = new MongoClient(resolved.mongoUrl, { serverSelectionTimeoutMS: 5000, connectTimeoutMS: 5000, appName: 'outbox-relay' });
  const sink = createMongoSink(mongo.db(resolved.mongoDb), { retries: resolved.sinkRetries, logger: logger.child({ component: 'sink' }) });
  const tracing = options.tracer ? { tracer: options.tracer, mode: resolved.traceMode, mongoDb: resolved.mongoDb } : undefined;
  const drainer = new Drainer(
    { db, sink, metrics, logger, ...(tracing ? { tracing } : {}) },
    {
      relayId: resolved.relayId,
      batchSize: resolved.batchSize,
      concurrency: resolved.concurrency,
      leaseMs: resolved.leaseMs,
      pollIntervalMs: resolved.pollIntervalMs,
      maxAttempts: resolved.maxAttempts,
      backoffBaseMs: resolved.backoffBaseMs,
      backoffMaxMs: resolved.backoffMaxMs,
      expectNotifications: resolved.listen,
    },
    abort.signal,
  );
  const wake: WakeSource | undefined =
    options.wakeSource ??
    (resolved.listen
      ? createPgListenWake({
          connectionString: resolved.listenDatabaseUrl,
          pool,
          relayId: resolved.relayId,
          checkIntervalMs: resolved.heartbeatMs,
          logger: logger.child({ component: 'listener' }),
          onReconnect: () => metrics.listenerReconnects.inc(),
          onConnectionChange: (connected) => metrics.listenerConnected.set(connected ? 1 : 0),
        })
      : undefined);

  const timers: NodeJS.Timeout[] = [];
  let ops: { url: string; close(): Promise<void> } | undefined;
  let started = false;
  let stopping: Promise<void> | undefined;
  let pgHealthy = false;

  const every = (intervalMs: number, task: () => Promise<void>) => {
    let running = false;
    const timer = setInterval(() => {
      if (running || abort.signal.aborted) return; // never overlap a slow run
      running = true;
      task().finally(() => {
        running = false;
      });
    }, intervalMs);
    timers.push(timer);
  };

  const history = createLagHistory(() => readLag(db), { intervalMs: resolved.opsLagSampleMs, onError: (error) => logger.debug({ err: error }, 'lag sample failed') });
  const reconcileRunner = createReconcileRunner({ db, mongoDb: () => mongo.db(resolved.mongoDb), logger: logger.child({ component: 'reconcile' }), relayId: resolved.relayId });

  /** Read relay_pause and honour it: the drainer, the paused gauge, /readyz. */
  const refreshPause = async () => {
    const state = await readPauseState(db);
    drainer.setPaused(state);
    metrics.paused.reset();
    metrics.paused.set({ scope: '*' }, state.all ? 1 : 0);
    for (const type of state.types) metrics.paused.set({ scope: type }, 1);
  };

  // Delivered counts not yet written to outbox_relay (kept across a failed heartbeat).
  let unreported = 0;
  const heartbeat = async () => {
    const stats = drainer.takeStats();
    const delta = stats.delivered + unreported;
    unreported = delta;
    try {
      await heartbeatRelay(db, { id: resolved.relayId, deliveredDelta: delta, ...(stats.lastDeliveredAt ? { lastDeliveredAt: stats.lastDeliveredAt } : {}) });
      unreported = 0;
      pgHealthy = true;
      // Within one heartbeat, every relay honours a pause or resume.
      await refreshPause();
    } catch (error) {
      pgHealthy = false;
      logger.warn({ err: error }, 'heartbeat failed');
    }
  };

  const prune = async () => {
    try {
      const result = await pruneDelivered(db, { retentionMs: resolved.retentionHours * 3_600_000 });
      if (result.ran && result.deleted > 0) logger.info({ deleted: result.deleted }, 'pruned delivered events');
    } catch (error) {
      logger.warn({ err: error }, 'pruning delivered events failed');
    }
  };

  const reconcilePeriodically = async () => {
    try {
      // Loaded on first use: reconcile's repair path brings drizzle-orm (see db/pool.ts).
      const [{ createDb }, { runReconcileExclusive }, { recordReconcileMetrics }] = await Promise.all([
        import('../db/client.ts'),
        import('../reconcile/runReconcileExclusive.ts'),
        import('../reconcile/recordReconcileMetrics.ts'),
      ]);
      // Records the run in reconcile_run inside the transaction holding the lock.
      const outcome = await runReconcileExclusive(
        { db: createDb(pool), mongoDb: mongo.db(resolved.mongoDb), logger: logger.child({ component: 'reconcile' }) },
        { ranBy: resolved.relayId, poolMode: resolved.poolMode },
      );
      if (!outcome.ran) return; // another relay is reconciling
      recordReconcileMetrics(metrics, outcome.report);
      const problems = Object.entries(outcome.report.checks).filter(([, c]) => c && c.problems > 0).map(([name, c]) => `${name}: ${c?.problems}`);
      if (outcome.report.ok) logger.info({ durationMs: outcome.report.durationMs }, 'reconcile clean');
      else logger.error({ problems, durationMs: outcome.report.durationMs }, 'reconcile found problems (run `outbox-relay reconcile` for details)');
    } catch (error) {
      metrics.reconcileLastOk.set(0);
      logger.warn({ err: error }, 'periodic reconcile could not run');
    }
  };

  const onWake = (reason: WakeReason) => drainer.wake(reason);

  const relay: Relay = {
    id: resolved.relayId,
    config: resolved,
    metrics,
    get opsUrl() {
      return ops?.url;
    },
    async start() {
      if (started) throw new Error('relay already started');
      started = true;
      logger.info({ batchSize: resolved.batchSize, concurrency: resolved.concurrency, pollIntervalMs: resolved.pollIntervalMs, leaseMs: resolved.leaseMs, listen: resolved.listen }, 'relay starting');
      await registerRelay(db, { id: resolved.relayId, host: hostname(), pid: process.pid }).catch((error: unknown) => {
        // The first statement a relay runs: the place to say what a missing table means.
        if (pgErrorCode(error) === '42P01') throw new DatabaseError('the database is not migrated (no outbox_relay table): run `outbox-relay migrate` first', { cause: error });
        throw error;
      });
      await refreshPause(); // a relay started while the fleet is paused claims nothing
      pgHealthy = true;
      try {
        await mongo.connect();
        await sink.prepare(KNOWN_AGGREGATE_TYPES);
      } catch (error) {
        // MongoDB may come up later: the drainer backs off and retries; /readyz says so.
        logger.warn({ err: error }, 'MongoDB not reachable at start; will keep trying');
      }
      if (resolved.opsPort !== 'off') {
        const server = await startOpsServer({
          host: resolved.opsHost,
          port: resolved.opsPort,
          ...(resolved.opsToken ? { token: resolved.opsToken } : {}),
          ...(resolved.opsTokens ? { tokens: resolved.opsTokens } : {}),
          rateLimitPerMinute: resolved.opsRateLimit,
          control: { db, relayId: resolved.relayId, history, reconcile: reconcileRunner, onPauseChange: refreshPause, logger: logger.child({ component: 'control' }) },
          registry: metrics.registry,
          logger: logger.child({ component: 'ops' }),
          readiness: async () => {
            const mongoOk = await sink.ping();
            const checks: Record<string, boolean> = { postgres: pgHealthy, mongodb: mongoOk };
            if (wake) checks.listener = wake.connected();
            const { all, types } = drainer.paused();
            // A paused relay is ready (it is doing what it was told) and says so.
            return { ready: Object.values(checks).every(Boolean) && !abort.signal.aborted, checks, ...(all || types.length > 0 ? { paused: { all, types } } : {}) };
          },
        });
        ops = server;
        history.start();
        logger.info({ url: server.url }, 'ops endpoint listening');
      }
      every(resolved.pollIntervalMs, async () => drainer.wake('poll'));
      every(resolved.heartbeatMs, heartbeat);
      every(resolved.pruneIntervalMs, prune);
      if (resolved.reconcileEveryMs > 0) every(resolved.reconcileEveryMs, reconcilePeriodically);
      if (wake) await wake.start(onWake);
      drainer.wake('manual'); // catch up on whatever is already pending
      logger.info('relay started');
    },
    stop() {
      stopping ??= (async () => {
        if (!started) {
          await Promise.allSettled([pool.end(), mongo.close()]);
          return;
        }
        logger.info('relay stopping: no new claims');
        for (const timer of timers) clearInterval(timer);
        history.stop();
        drainer.dispose();
        await wake?.stop();
        // Stop claiming; let the batch in hand finish within the timeout.
        const inHand = drainer.current();
        let finished = true;
        if (inHand) {
          finished = await Promise.race([
            inHand.then(() => true),
            new Promise<boolean>((resolve) => setTimeout(() => resolve(false), resolved.shutdownTimeoutMs).unref()),
          ]);
        }
        abort.abort();
        try {
          // Whatever is still claimed by us goes back now, not after the lease.
          const released = await releaseClaims(db, { relayId: resolved.relayId });
          if (released > 0 || !finished) logger.warn({ released, finished }, 'released claimed events at shutdown');
          const stats = drainer.takeStats();
          await heartbeatRelay(db, { id: resolved.relayId, deliveredDelta: stats.delivered + unreported, ...(stats.lastDeliveredAt ? { lastDeliveredAt: stats.lastDeliveredAt } : {}) });
          await markRelayStopped(db, { id: resolved.relayId });
        } catch (error) {
          logger.warn({ err: error }, 'could not release claims at shutdown; their lease will run out');
        }
        await ops?.close();
        // An HTTP-started reconcile records its outcome before the pool closes.
        await Promise.race([reconcileRunner.settled(), new Promise((resolve) => setTimeout(resolve, resolved.shutdownTimeoutMs).unref())]);
        // MongoClient.close() waits on a server that does not answer (measured:
        // 15 s with the batch in hand stuck on a hung MongoDB), which would hold
        // the exit well past the shutdown timeout. Everything that matters is
        // done by now (claims released, relay row stopped): give closing a bound.
        const closed = await Promise.race([
          Promise.allSettled([pool.end(), mongo.close()]).then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CLOSE_GRACE_MS).unref()),
        ]);
        if (!closed) logger.warn({ graceMs: CLOSE_GRACE_MS }, 'connections did not close in time; stopping anyway');
        logger.info('relay stopped');
      })();
      return stopping;
    },
    wake() {
      drainer.wake('manual');
    },
    paused: () => drainer.paused(),
  };
  return relay;
}
