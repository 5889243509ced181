import { hostname } from 'node:os';
import type { Db as MongoDb } from 'mongodb';
import { warnIfAutovacuumOff } from '../db/checkAutovacuum.ts';
import type { SqlDb } from '../db/sqlDb.ts';
import { DatabaseError, pgErrorCode } from '../errors.ts';
import { readPauseState } from '../control/readPauseState.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import { pruneDelivered } from '../outbox/pruneDelivered.ts';
import { heartbeatRelay, markRelayStopped, registerRelay } from '../outbox/relayRegistry.ts';
import { releaseClaims } from '../outbox/releaseClaims.ts';
import type { MetadataSink } from '../sink/metadataSink.ts';
import type { RelayTracing } from '../tracing/relaySpans.ts';
import { Drainer, type DrainerSettings } from './drainer.ts';
import type { WakeReason, WakeSource } from './wakeSource.ts';

/** Entity types the ledger writes; their collections and indexes are prepared at start. */
export const KNOWN_AGGREGATE_TYPES = ['transaction', 'operation'] as const;

/** What one database's relay works on; built by the caller (src/runtime/), owned by the caller. */
export interface DatabaseRelayDeps {
  db: SqlDb;
  sink: MetadataSink;
  wake?: WakeSource;
  metrics: RelayMetrics;
  logger: Logger;
  tracing?: RelayTracing;
  /** A turn per batch, shared with the other tenants of a multi-tenant relay. */
  gate?: { acquire(): Promise<() => void> };
  /** The MongoDB database periodic reconcile reads (reconcile reads MongoDB directly). */
  reconcileMongoDb?: MongoDb;
  /**
   * Honour operator pauses (relay_pause) read at start and in each heartbeat,
   * and show them in the paused gauge. Both relays do (a multi-tenant relay
   * per tenant, from the tenant's own relay_pause).
   */
  honourPause?: boolean;
  /**
   * Start each timer at a random phase within its interval. A multi-tenant
   * relay starts many tenants at once: in step, their cold checks opened one
   * connection per tenant at the same instant (measured: 19 of 20 at once).
   */
  spreadTimers?: boolean;
  /**
   * Runs in each idle heartbeat, on the connection the heartbeat just used,
   * before the poll: a multi-tenant relay samples a cold tenant's lag here,
   * so a metrics scrape needs no connection of its own.
   */
  idleCheck?: (db: SqlDb) => Promise<void>;
}

export interface DatabaseRelaySettings extends DrainerSettings {
  heartbeatMs: number;
  retentionHours: number;
  pruneIntervalMs: number;
  reconcileEveryMs: number;
  shutdownTimeoutMs: number;
}

/**
 * The per-database parts of a relay: drainer (with its lease keeper), wake-up,
 * heartbeat, pruning and periodic reconcile, over connections it is given.
 * It opens and closes nothing but its timers: pool, MongoDB client and ops
 * server belong to whoever composed it (one database or many tenants).
 */
export interface DatabaseRelay {
  readonly drainer: Drainer;
  start(): Promise<void>;
  /** Stop claiming, finish or release what is held. Idempotent. */
  stop(): Promise<void>;
  wake(): void;
  /** false after a failed heartbeat, until the next one succeeds. */
  postgresHealthy(): boolean;
  /** Read relay_pause now and honour it (the control API calls this after a change). */
  refreshPause(): Promise<void>;
  /**
   * Idle mode (a cold tenant of a multi-tenant relay): the wake source is
   * stopped (no LISTEN connection) and the outbox is polled once per heartbeat,
   * right after it, instead of every poll interval, so the two share one
   * short-lived connection. Leaving it starts the wake source again (which
   * drains at once). May be set before start().
   */
  setIdle(idle: boolean): Promise<void>;
}

export function createDatabaseRelay(deps: DatabaseRelayDeps, settings: DatabaseRelaySettings): DatabaseRelay {
  const { db, sink, wake, metrics, logger } = deps;
  const abort = new AbortController();
  const drainer = new Drainer(
    { db, sink, metrics, logger, ...(deps.tracing ? { tracing: deps.tracing } : {}), ...(deps.gate ? { gate: deps.gate } : {}) },
    {
      relayId: settings.relayId,
      batchSize: settings.batchSize,
      ...(settings.batchMaxBytes === undefined ? {} : { batchMaxBytes: settings.batchMaxBytes }),
      concurrency: settings.concurrency,
      leaseMs: settings.leaseMs,
      pollIntervalMs: settings.pollIntervalMs,
      maxAttempts: settings.maxAttempts,
      backoffBaseMs: settings.backoffBaseMs,
      backoffMaxMs: settings.backoffMaxMs,
      expectNotifications: settings.expectNotifications,
    },
    abort.signal,
  );
  const timers: NodeJS.Timeout[] = [];
  let started = false;
  let stopping: Promise<void> | undefined;
  let pgHealthy = false;
  let idle = false;
  let listening = false;
  // The wake source's start/stop in progress, so idle switches never overlap.
  let switching: Promise<void> = Promise.resolve();

  const every = (intervalMs: number, task: () => Promise<void>) => {
    let running = false;
    const begin = () => {
      const timer = setInterval(() => {
        if (running || abort.signal.aborted) return; // never overlap a slow run
        running = true;
        task().finally(() => {
          running = false;
        });
      }, intervalMs);
      timers.push(timer);
    };
    if (!deps.spreadTimers) return begin();
    // A random phase: tenants started together must not all check at the same instant.
    timers.push(setTimeout(begin, Math.random() * intervalMs));
  };

  /** Read relay_pause and honour it: the drainer, the paused gauge, /readyz. */
  const refreshPause = async () => {
    if (!deps.honourPause) return;
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
      await heartbeatRelay(db, { id: settings.relayId, deliveredDelta: delta, ...(stats.lastDeliveredAt ? { lastDeliveredAt: stats.lastDeliveredAt } : {}) });
      unreported = 0;
      pgHealthy = true;
      // Within one heartbeat, every relay honours a pause or resume.
      await refreshPause();
      // Idle: this is the poll. 'manual', not 'poll': with no listener, work
      // older than a poll interval is expected, not a missed notification.
      if (idle) {
        await deps.idleCheck?.(db);
        drainer.wake('manual');
      }
    } catch (error) {
      pgHealthy = false;
      logger.warn({ err: error }, 'heartbeat failed');
    }
  };

  const prune = async () => {
    try {
      const result = await pruneDelivered(db, { retentionMs: settings.retentionHours * 3_600_000 });
      if (result.ran && result.deleted > 0) logger.info({ deleted: result.deleted }, 'pruned delivered events');
    } catch (error) {
      logger.warn({ err: error }, 'pruning delivered events failed');
    }
  };

  const reconcilePeriodically = async () => {
    try {
      if (!deps.reconcileMongoDb) throw new Error('no MongoDB database to reconcile against');
      // Loaded on first use: a relay without --reconcile-every never loads the checks.
      const [{ runReconcileExclusive }, { recordReconcileMetrics }] = await Promise.all([
        import('../reconcile/runReconcileExclusive.ts'),
        import('../reconcile/recordReconcileMetrics.ts'),
      ]);
      // Records the run in reconcile_run inside the transaction holding the lock.
      const outcome = await runReconcileExclusive(
        { db, mongoDb: deps.reconcileMongoDb, logger: logger.child({ component: 'reconcile' }) },
        { ranBy: settings.relayId },
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

  return {
    drainer,
    postgresHealthy: () => pgHealthy,
    refreshPause,
    async start() {
      if (started) throw new Error('relay already started');
      started = true;
      await registerRelay(db, { id: settings.relayId, host: hostname(), pid: process.pid }).catch((error: unknown) => {
        // The first statement a relay runs: the place to say what a missing table means.
        if (pgErrorCode(error) === '42P01') throw new DatabaseError('the database is not migrated (no outbox_relay table): run `outbox-relay migrate` first', { cause: error });
        throw error;
      });
      await refreshPause(); // a relay started while the fleet is paused claims nothing
      await warnIfAutovacuumOff(db, logger);
      pgHealthy = true;
      every(settings.pollIntervalMs, async () => {
        if (!idle) drainer.wake('poll');
      });
      every(settings.heartbeatMs, heartbeat);
      every(settings.pruneIntervalMs, prune);
      if (settings.reconcileEveryMs > 0) every(settings.reconcileEveryMs, reconcilePeriodically);
      if (wake && !idle && !listening) {
        listening = true;
        await wake.start(onWake);
      }
      drainer.wake('manual'); // catch up on whatever is already pending
    },
    stop() {
      stopping ??= (async () => {
        if (!started) return;
        for (const timer of timers) clearInterval(timer);
        drainer.dispose();
        await switching;
        await wake?.stop();
        // Stop claiming; let the batch in hand finish within the timeout.
        const inHand = drainer.current();
        let finished = true;
        if (inHand) {
          finished = await Promise.race([
            inHand.then(() => true),
            new Promise<boolean>((resolve) => setTimeout(() => resolve(false), settings.shutdownTimeoutMs).unref()),
          ]);
        }
        abort.abort();
        try {
          // Whatever is still claimed by us goes back now, not after the lease.
          const released = await releaseClaims(db, { relayId: settings.relayId });
          if (released > 0 || !finished) logger.warn({ released, finished }, 'released claimed events at shutdown');
          const stats = drainer.takeStats();
          await heartbeatRelay(db, { id: settings.relayId, deliveredDelta: stats.delivered + unreported, ...(stats.lastDeliveredAt ? { lastDeliveredAt: stats.lastDeliveredAt } : {}) });
          await markRelayStopped(db, { id: settings.relayId });
        } catch (error) {
          logger.warn({ err: error }, 'could not release claims at shutdown; their lease will run out');
        }
      })();
      return stopping;
    },
    wake() {
      drainer.wake('manual');
    },
    setIdle(next) {
      if (next === idle) return switching;
      idle = next;
      // Each step moves the wake source to the state `idle` has when it runs.
      switching = switching
        .then(async () => {
          if (!started || stopping || !wake) return;
          if (idle && listening) {
            listening = false;
            await wake.stop();
          } else if (!idle && !listening) {
            listening = true;
            await wake.start(onWake); // its 'connected' wake-up drains
          }
        })
        .catch((error: unknown) => logger.warn({ err: error }, 'could not switch the wake source'));
      return switching;
    },
  };
}
