import { classifyPgError } from '../db/classifyPgError.ts';
import { NOT_PAUSED, samePause, type PauseState } from '../control/pauseScope.ts';
import type { SqlDb } from '../db/sqlDb.ts';
import type { Logger } from '../logger.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import { claimBatch } from '../outbox/claimBatch.ts';
import { setRelayWaiting } from '../outbox/wakeupFlag.ts';
import type { MetadataSink } from '../sink/metadataSink.ts';
import { BatchTrace, type RelayTracing } from '../tracing/relaySpans.ts';
import { deliverBatch, type DeliverSettings } from './deliverBatch.ts';
import { keepLease } from './leaseKeeper.ts';
import type { WakeReason } from './wakeSource.ts';

export interface DrainerSettings extends DeliverSettings {
  batchSize: number;
  /** Bytes of content one batch may hold (claimBatch's and resolveThinEvents' bound); default: none. */
  batchMaxBytes?: number;
  concurrency: number;
  leaseMs: number;
  pollIntervalMs: number;
  /** Count "missed notifications" only when notifications are expected at all. */
  expectNotifications: boolean;
}

export interface DrainerDeps {
  db: SqlDb;
  sink: MetadataSink;
  metrics: RelayMetrics;
  logger: Logger;
  /** Present only when tracing is on: without it no span code runs. */
  tracing?: RelayTracing;
  /** Shared by the tenants of a multi-tenant relay: a turn per batch, resolved to a release function. */
  gate?: { acquire(): Promise<() => void> };
}

export interface DrainStats {
  delivered: number;
  lastDeliveredAt?: Date;
}

/**
 * Claims and delivers batches while there is work. One drain at a time per
 * relay, with `concurrency` workers inside it; a wake-up that arrives during a
 * drain makes it go round once more instead of starting a second one. After
 * any error the drainer pauses (exponential backoff) and waits for the next
 * wake-up: it never hot-loops.
 */
export class Drainer {
  private draining: Promise<void> | undefined;
  private again = false;
  private pausedUntil = 0;
  private errorStreak = 0;
  private disposed = false;
  /**
   * What we last told writers through outbox_wakeup. Starts unknown: a relay
   * that died busy may have left the flag at "busy", so the first drain to run
   * out of work writes "waiting" for sure.
   */
  private toldWriters: 'unknown' | 'busy' | 'waiting' = 'unknown';
  private resumeTimer: NodeJS.Timeout | undefined;
  /** The operator's pauses (relay_pause), as the last heartbeat read them. */
  private operatorPause: PauseState = NOT_PAUSED;
  private readonly stats: DrainStats = { delivered: 0 };
  private readonly deps: DrainerDeps;
  private readonly settings: DrainerSettings;
  private readonly signal: AbortSignal;

  constructor(deps: DrainerDeps, settings: DrainerSettings, signal: AbortSignal) {
    this.deps = deps;
    this.settings = settings;
    this.signal = signal;
  }

  /** Take (and reset) what was delivered since the last call: feeds the heartbeat. */
  takeStats(): DrainStats {
    const taken = { ...this.stats };
    this.stats.delivered = 0;
    delete this.stats.lastDeliveredAt;
    return taken;
  }

  /** true while the last interaction with the sink and Postgres went well. */
  healthy(): boolean {
    return this.errorStreak === 0;
  }

  /**
   * No new claims and no scheduled resumes (stop() calls it first). The batch
   * in hand still finishes: the abort signal, which cancels the sink's
   * retries, is given only when the shutdown timeout runs out.
   */
  dispose(): void {
    this.disposed = true;
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
  }

  private stopped(): boolean {
    return this.disposed || this.signal.aborted;
  }

  /**
   * Honour the operator's pauses from now on: a fleet pause stops claiming,
   * a paused aggregate type is left out of claims. The batch in hand
   * finishes. Lifting a pause drains at once.
   */
  setPaused(state: PauseState): void {
    const before = this.operatorPause;
    this.operatorPause = state;
    if (samePause(before, state)) return;
    const lifted = (before.all && !state.all) || before.types.some((t) => !state.types.includes(t));
    if (lifted) this.wake('manual');
  }

  paused(): PauseState {
    return this.operatorPause;
  }

  /** The drain in progress, if any (stop() waits on it). */
  current(): Promise<void> | undefined {
    return this.draining;
  }

  wake(reason: WakeReason): void {
    if (this.stopped()) return;
    if (this.draining) {
      this.again = true;
      return;
    }
    if (Date.now() < this.pausedUntil || this.operatorPause.all) return;
    this.draining = this.drain(reason).finally(() => {
      this.draining = undefined;
    });
  }

  private async drain(firstReason: WakeReason): Promise<void> {
    let reason: WakeReason = firstReason;
    for (;;) {
      this.again = false;
      await this.runWorkers(reason);
      reason = 'manual';
      if (this.stopped() || Date.now() < this.pausedUntil) return;
      if (this.again) continue;
      if (this.toldWriters === 'waiting' || !this.settings.expectNotifications) return;
      // Going idle: ask writers to notify again, then claim once more, for a
      // writer that read "busy" and committed after our last empty claim.
      await this.tellWriters(true);
      const caughtUp = await this.runWorkers('manual');
      if (caughtUp === 0 && !this.again) return;
    }
  }

  /**
   * Run `concurrency` workers until each finds no work; returns how many events
   * they claimed. One worker claims first and the others join once it claimed
   * a full batch: a wake-up that finds a partial batch or nothing (every poll of
   * an idle relay, a notification of a few events) is one claim on one
   * connection, not `concurrency` claims at once, which kept that many pool
   * connections open between polls (a hot idle tenant: 2.0 pool connections
   * with concurrency 2, now 1.0; test/int/runtime/hotIdleTenant.int.test.ts).
   * Starting them together bought nothing then: the others' claims came back
   * empty. With a backlog they join after one claim's round trip.
   */
  private async runWorkers(reason: WakeReason): Promise<number> {
    const { concurrency } = this.settings;
    let others: Promise<number[]> | undefined;
    const join = () => {
      others ??= Promise.all(Array.from({ length: concurrency - 1 }, () => this.work(reason)));
    };
    const first = await this.work(reason, join);
    return (await (others ?? Promise.resolve([]))).reduce((sum, n) => sum + n, first);
  }

  /**
   * Only a listening relay manages outbox_wakeup (a polling-only relay would
   * make writers notify nobody). "Busy" is written when a claim finds work,
   * not on every wake-up, so an idle relay's polls write nothing.
   */
  private async tellWriters(waiting: boolean): Promise<void> {
    if (!this.settings.expectNotifications) return;
    this.toldWriters = waiting ? 'waiting' : 'busy';
    try {
      await setRelayWaiting(this.deps.db, waiting);
    } catch (error) {
      // Advisory only: a wrong flag costs a needless NOTIFY or a poll interval of
      // latency. Unknown again, so the next drain to run out of work writes it.
      this.toldWriters = 'unknown';
      this.deps.logger.debug({ err: error, waiting }, 'could not update outbox_wakeup');
    }
  }

  /** `onFullBatch`: called when a claim comes back full (there is more work than one worker takes). */
  private async work(reason: WakeReason, onFullBatch?: () => void): Promise<number> {
    const { db, metrics } = this.deps;
    let first = true;
    let claimed = 0;
    while (!this.stopped() && Date.now() >= this.pausedUntil && !this.operatorPause.all) {
      // Across tenants, one batch at a time per turn (src/runtime/fairGate.ts); a single relay has no gate.
      const release = this.deps.gate ? await this.deps.gate.acquire() : undefined;
      if (this.stopped() || this.operatorPause.all) {
        release?.();
        return claimed;
      }
      try {
        let events;
        const claimStartedAt = Date.now();
        try {
          events = await claimBatch(db, { relayId: this.settings.relayId, batchSize: this.settings.batchSize, leaseMs: this.settings.leaseMs, skipTypes: this.operatorPause.types, ...(this.settings.batchMaxBytes === undefined ? {} : { maxBytes: this.settings.batchMaxBytes }) });
        } catch (error) {
          this.pause(error, 'claim failed');
          return claimed;
        }
        if (events.length === 0) return claimed;
        // More work than one worker takes: a claim that came back full. It may
        // hold more rows than batchSize (the entities' other versions ride
        // along), or fewer when the byte bound cut it.
        if (events.length >= this.settings.batchSize || events.cutByBytes) onFullBatch?.();
        claimed += events.length;
        metrics.claims.inc();
        if (this.toldWriters !== 'busy') await this.tellWriters(false);
        if (first && reason === 'poll' && this.settings.expectNotifications) {
          // An idle relay woken by the poll found work older than a poll
          // interval: a notification should have woken it and did not.
          const oldest = Math.min(...events.map((e) => e.createdAt.getTime()));
          if (Date.now() - oldest > this.settings.pollIntervalMs) metrics.missedNotifications.inc();
        }
        first = false;
        const lease = keepLease(this.deps, { relayId: this.settings.relayId, ids: events.map((e) => e.id), leaseMs: this.settings.leaseMs });
        const batchTrace = this.deps.tracing ? new BatchTrace(this.deps.tracing, events, { startedAt: claimStartedAt, endedAt: Date.now() }) : undefined;
        let deferred = 0;
        try {
          const outcome = await deliverBatch(this.deps, this.settings, events, this.signal, batchTrace);
          if (outcome.kind === 'sink_unavailable') {
            batchTrace?.end({ classification: 'transient', error: outcome.error });
            this.pause(outcome.error, 'MongoDB unavailable; batch released');
            return claimed;
          }
          batchTrace?.end();
          this.errorStreak = 0;
          this.stats.delivered += outcome.delivered;
          deferred = outcome.deferred;
          if (outcome.lastDeliveredAt) this.stats.lastDeliveredAt = outcome.lastDeliveredAt;
        } catch (error) {
          batchTrace?.end({ classification: 'unexpected', error });
          // Rows stay claimed; their lease runs out and they are applied again
          // (fenced, so harmlessly) by whoever claims them next.
          this.pause(error, 'delivering a batch failed');
          return claimed;
        } finally {
          lease.stop();
        }
        // A short batch means the outbox ran dry, unless the byte bound cut it (or gave events back).
        if (events.length < this.settings.batchSize && !events.cutByBytes && deferred === 0) return claimed;
      } finally {
        release?.();
      }
    }
    return claimed;
  }

  private pause(error: unknown, message: string): void {
    this.errorStreak++;
    const delay = Math.min(30_000, 200 * 2 ** Math.min(this.errorStreak - 1, 8)) * (0.5 + Math.random() / 2);
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + delay);
    // Resume on our own when the pause ends, not only at the next poll.
    if (!this.resumeTimer) {
      this.resumeTimer = setTimeout(() => {
        this.resumeTimer = undefined;
        this.wake('manual');
      }, this.pausedUntil - Date.now() + 5);
      this.resumeTimer.unref();
    }
    // A restarting, failing-over or read-only PostgreSQL (classifyPgError): the
    // claims stay as they are (their lease runs out), no attempt is counted, and
    // pool.query already dropped the connection, so the next try reconnects.
    const postgresDown = classifyPgError(error) === 'reconnect';
    this.deps.logger.warn(
      { err: error, retryInMs: Math.round(delay), streak: this.errorStreak, ...(postgresDown ? { postgres: 'unavailable or read-only' } : {}) },
      postgresDown ? `${message}: PostgreSQL unavailable or read-only; backing off, then reconnecting` : message,
    );
  }
}
