import type { Tracer } from '@opentelemetry/api';
import type { MongoClient } from 'mongodb';
import type pg from 'pg';
import { resolveConfig, type ConfigOverrides, type RelayConfig } from '../config.ts';
import type { SqlDb } from '../db/sqlDb.ts';
import { poolDb } from '../db/toSqlDb.ts';
import { silentLogger, type Logger } from '../logger.ts';
import { createLagHistory } from '../control/lagHistory.ts';
import type { PauseState } from '../control/pauseScope.ts';
import { createReconcileRunner } from '../control/reconcileRunner.ts';
import { createRelayMetrics, type RelayMetrics } from '../ops/metrics.ts';
import { startOpsServer } from '../ops/opsServer.ts';
import { readLag } from '../outbox/readLag.ts';
import { openDatabaseParts } from '../runtime/databaseParts.ts';
import { createMongoClient } from '../runtime/openMongo.ts';
import type { MetadataSink } from '../sink/metadataSink.ts';
import { createMongoSink } from '../sink/mongoSink.ts';
import { createDatabaseRelay, KNOWN_AGGREGATE_TYPES } from './databaseRelay.ts';
import type { WakeSource } from './wakeSource.ts';

export { KNOWN_AGGREGATE_TYPES };

/** How long stop() waits for the PostgreSQL pool and the MongoDB client to close. */
const CLOSE_GRACE_MS = 2000;

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
   * Deliver into this sink instead of a MongoDB sink built from config.mongoUrl
   * (tests pass a fake). The caller owns it. Reconcile, which reads MongoDB
   * itself, still uses config.mongoUrl: periodic reconcile connects at start,
   * the control API's on its first POST /api/reconcile.
   */
  sink?: MetadataSink;
  /** Work on this pool instead of one built from config.databaseUrl. The caller owns (and ends) it. */
  pool?: pg.Pool;
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
 *
 * This is the single-database composition: it opens what `options` does not
 * give (pool, wake source, MongoDB client and sink), hands them to the
 * per-database parts (databaseRelay.ts) and runs the process-wide ops server.
 */
export function createRelay(config: RelayConfig | ConfigOverrides, options: CreateRelayOptions = {}): Relay {
  const resolved: RelayConfig = 'relayId' in config && typeof config.relayId === 'string' && 'listenDatabaseUrl' in config ? (config as RelayConfig) : resolveConfig(process.env, config as ConfigOverrides);
  const logger = (options.logger ?? silentLogger).child({ component: 'relay', relayId: resolved.relayId });
  let db: SqlDb | undefined;
  const metrics = createRelayMetrics({ sampleLag: () => readLag(db as SqlDb) });
  const parts = options.pool
    ? { pool: options.pool, db: poolDb(options.pool, resolved.poolMode), wake: undefined }
    : openDatabaseParts(options.wakeSource ? { ...resolved, listen: false } : resolved, { logger, metrics });
  db = parts.db;
  const wake = options.wakeSource ?? parts.wake;
  // The MongoDB sink and periodic reconcile need MongoDB from the start. The
  // control API's reconcile reads it too, but only when an operator asks:
  // with an injected sink it opens the client on that first request
  // (reconcileMongoDb below), so a relay that never reconciles holds no
  // MongoDB connection at all.
  const needsMongoAtStart = !options.sink || resolved.reconcileEveryMs > 0;
  let mongo: MongoClient | undefined = needsMongoAtStart ? createMongoClient(resolved.mongoUrl) : undefined;
  let closedOwned = false;
  const reconcileMongoDb = async () => {
    // A run that outlived stop()'s wait must not open a client nobody closes.
    if (closedOwned) throw new Error('the relay has stopped: its MongoDB client is closed');
    mongo ??= createMongoClient(resolved.mongoUrl);
    // Connected already when opened at start; concurrent first calls share one connect.
    await mongo.connect();
    return mongo.db(resolved.mongoDb);
  };
  const sink = options.sink ?? createMongoSink((mongo as MongoClient).db(resolved.mongoDb), { retries: resolved.sinkRetries, logger: logger.child({ component: 'sink' }) });
  // Reads `mongo` when called: a client the control API opened lazily is closed too.
  const closeOwned = () => {
    closedOwned = true;
    return Promise.allSettled([options.pool ? undefined : parts.pool.end(), mongo?.close()]);
  };
  const databaseRelay = createDatabaseRelay(
    {
      db: parts.db,
      sink,
      metrics,
      logger,
      ...(wake ? { wake } : {}),
      ...(options.tracer ? { tracing: { tracer: options.tracer, mode: resolved.traceMode, mongoDb: resolved.mongoDb } } : {}),
      ...(mongo ? { reconcileMongoDb: mongo.db(resolved.mongoDb) } : {}),
      honourPause: true,
    },
    { ...resolved, expectNotifications: resolved.listen },
  );

  const history = createLagHistory(() => readLag(parts.db), { intervalMs: resolved.opsLagSampleMs, onError: (error) => logger.debug({ err: error }, 'lag sample failed') });
  const reconcileRunner = createReconcileRunner({
    db: parts.db,
    mongoDb: reconcileMongoDb,
    logger: logger.child({ component: 'reconcile' }),
    relayId: resolved.relayId,
  });

  let ops: { url: string; close(): Promise<void> } | undefined;
  let started = false;
  let stopped = false;
  let stopping: Promise<void> | undefined;

  return {
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
      try {
        if (mongo) await mongo.connect();
        await sink.prepare(KNOWN_AGGREGATE_TYPES);
      } catch (error) {
        // MongoDB may come up later: the drainer backs off and retries; /readyz says so.
        logger.warn({ err: error }, 'MongoDB not reachable at start; will keep trying');
      }
      // Registers in outbox_relay first: an unreachable PostgreSQL fails the start here.
      await databaseRelay.start();
      if (resolved.opsPort !== 'off') {
        const server = await startOpsServer({
          host: resolved.opsHost,
          port: resolved.opsPort,
          ...(resolved.opsToken ? { token: resolved.opsToken } : {}),
          ...(resolved.opsTokens ? { tokens: resolved.opsTokens } : {}),
          rateLimitPerMinute: resolved.opsRateLimit,
          control: { db: parts.db, relayId: resolved.relayId, history, reconcile: reconcileRunner, onPauseChange: databaseRelay.refreshPause, logger: logger.child({ component: 'control' }) },
          registry: metrics.registry,
          logger: logger.child({ component: 'ops' }),
          readiness: async () => {
            const mongoOk = await sink.ping();
            const checks: Record<string, boolean> = { postgres: databaseRelay.postgresHealthy(), mongodb: mongoOk };
            if (wake) checks.listener = wake.connected();
            const { all, types } = databaseRelay.drainer.paused();
            // A paused relay is ready (it is doing what it was told) and says so.
            return { ready: Object.values(checks).every(Boolean) && !stopped, checks, ...(all || types.length > 0 ? { paused: { all, types } } : {}) };
          },
        });
        ops = server;
        history.start();
        logger.info({ url: server.url }, 'ops endpoint listening');
      }
      logger.info('relay started');
    },
    stop() {
      stopping ??= (async () => {
        stopped = true;
        if (!started) {
          await closeOwned();
          return;
        }
        logger.info('relay stopping: no new claims');
        history.stop();
        await databaseRelay.stop();
        await ops?.close();
        // An HTTP-started reconcile records its outcome before the pool closes.
        await Promise.race([reconcileRunner.settled(), new Promise((resolve) => setTimeout(resolve, resolved.shutdownTimeoutMs).unref())]);
        // MongoClient.close() waits on a server that does not answer (measured:
        // 15 s with the batch in hand stuck on a hung MongoDB), which would hold
        // the exit well past the shutdown timeout. Everything that matters is
        // done by now (claims released, relay row stopped): give closing a bound.
        const closed = await Promise.race([
          closeOwned().then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), CLOSE_GRACE_MS).unref()),
        ]);
        if (!closed) logger.warn({ graceMs: CLOSE_GRACE_MS }, 'connections did not close in time; stopping anyway');
        logger.info('relay stopped');
      })();
      return stopping;
    },
    wake() {
      databaseRelay.wake();
    },
    paused: () => databaseRelay.drainer.paused(),
  };
}
